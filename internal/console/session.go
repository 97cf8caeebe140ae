package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Both are HttpOnly, SameSite=Strict, scoped to /console/ and
// Secure when the request came over TLS.
const (
	sessionCookie = "apphost_console"
	csrfCookie    = "apphost_console_csrf"
)

// session is what a signed session cookie says.
type session struct {
	ID            string // random, 128 bits: what a sign-out ends
	AccountID     string
	SecretVersion int64
	Issued        time.Time
	Expires       time.Time
	token         string // the cookie value, for the sign-out token
}

// b64 is the cookie encoding: no padding, no characters a cookie value must not hold.
var b64 = base64.RawURLEncoding

// mac is HMAC-SHA-256 of msg under key, for purpose (so that a value signed
// for one use is never accepted for another).
func mac(key []byte, purpose, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// newSessionToken signs a new session: base64(payload).base64(mac).
func newSessionToken(key []byte, accountID string, secretVersion int64, issued, expires time.Time) string {
	payload := b64.EncodeToString([]byte(strings.Join([]string{
		"v2", accountID, strconv.FormatInt(secretVersion, 10), strconv.FormatInt(issued.Unix(), 10),
		strconv.FormatInt(expires.Unix(), 10), randomString(),
	}, "|")))
	return payload + "." + b64.EncodeToString(mac(key, "session", payload))
}

var errBadSession = errors.New("no valid session")

// parseSessionToken checks the signature and the expiry of a session token.
func parseSessionToken(key []byte, token string, now time.Time) (session, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 1024 {
		return session{}, errBadSession
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(key, "session", payload)) {
		return session{}, errBadSession
	}
	raw, err := b64.DecodeString(payload)
	if err != nil {
		return session{}, errBadSession
	}
	// v1 sessions (no issue time, no sign-out) are over: sign in again.
	f := strings.Split(string(raw), "|")
	if len(f) != 6 || f[0] != "v2" {
		return session{}, errBadSession
	}
	ver, err1 := strconv.ParseInt(f[2], 10, 64)
	iat, err2 := strconv.ParseInt(f[3], 10, 64)
	exp, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return session{}, errBadSession
	}
	s := session{ID: f[5], AccountID: f[1], SecretVersion: ver, Issued: time.Unix(iat, 0), Expires: time.Unix(exp, 0), token: token}
	if !now.Before(s.Expires) {
		return session{}, errBadSession
	}
	return s, nil
}

// randomString is 128 random bits, base64url.
func randomString() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return b64.EncodeToString(b[:])
}

// signInToken is the CSRF token of the sign-in form: the MAC of the nonce
// in the CSRF cookie (a signed double-submit token).
func signInToken(key []byte, nonce string) string {
	return b64.EncodeToString(mac(key, "signin", nonce))
}

// signOutToken is the CSRF token of the sign-out form: the MAC of the session.
func signOutToken(key []byte, sessionToken string) string {
	return b64.EncodeToString(mac(key, "signout", sessionToken))
}

// tokenEqual compares a submitted token with the expected one in constant time.
func tokenEqual(got, want string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// cookie is a console cookie with the flags every one carries.
func cookie(r *http.Request, name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/console/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// sameOrigin refuses a state-changing request that a browser says comes
// from another site (Sec-Fetch-Site), or whose Origin is not this server.
// Browsers send at least one of them with every form POST; a request with
// neither comes from no browser, so no other site can have made it.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+r.Host
}
