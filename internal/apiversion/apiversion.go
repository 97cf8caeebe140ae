// Package apiversion is the version of the admin backend's HTTP API, in one
// place for the server that says it (GET /v1/version) and the provider that
// checks it.
package apiversion

// Current is the API version this program serves. Raise it when a client
// must be able to tell the new behaviour from the old.
//
//   - 1: the first API (no GET /v1/version: a 404 there means version 1).
//   - 2: a regenerate is one operation that undeploys, regenerates, reseals
//     and redeploys the bound apps; network logins are throttled and never
//     lock an account.
//   - 3: rotations are objects (GET /v1/rotations), started asynchronously
//     (Prefer: respond-async, 202) and driven under a lease; apps have
//     secret_names and the pending status.
const Current = 3

// MinForRotationObjects is the oldest API version that keeps rotations as
// objects: what a refresh needs to adopt a rotation an interrupted apply
// committed, and what secret_names needs.
const MinForRotationObjects = 3

// MinForRotation is the oldest API version the provider accepts: an older
// server regenerates without redeploying, so every running app bound to the
// key would keep its stale secret and lock the account.
const MinForRotation = 2

// Info is the body of GET /v1/version.
type Info struct {
	// Version is the server binary's version (such as v1.4.0, or dev).
	Version string `json:"version"`
	// APIVersion is Current of the server.
	APIVersion int `json:"api_version"`
	// APIKeyAccount is the name of the admin account whose Basic
	// credentials came with the request, checked like any admin call; empty
	// when none came.
	APIKeyAccount string `json:"api_key_account,omitempty"`
}
