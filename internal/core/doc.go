// Package core is the admin domain of apphost: API key accounts and their
// secrets, logins and lockout, apps on an App Host, app secrets, the App Host
// runtime and the audit log, over a store (package store). Service
// implements backend.Backend; a rotation is one store transaction.
package core
