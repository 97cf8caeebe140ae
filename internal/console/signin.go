package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// csrfTTL is how long a sign-in form may wait before it is submitted.
const csrfTTL = time.Hour

type signInData struct {
	CSRF  string
	KeyID string
	Error string
}

// signInForm shows the form with a fresh CSRF nonce in a cookie and its MAC
// in the form; a signed-in browser goes to the keys.
func (c *console) signInForm(w http.ResponseWriter, r *http.Request) {
	if v, _, err := c.session(r); err == nil && v != nil {
		http.Redirect(w, r, "/console/keys", http.StatusSeeOther)
		return
	}
	c.showSignIn(w, r, http.StatusOK, "", "")
}

func (c *console) showSignIn(w http.ResponseWriter, r *http.Request, status int, keyID, msg string) {
	key, err := c.sessionKey(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	nonce := randomString()
	http.SetCookie(w, cookie(r, csrfCookie, nonce, c.cfg.Now().Add(csrfTTL)))
	c.render(w, r, status, "signin", &view{Title: "Sign in", Data: signInData{CSRF: signInToken(key, nonce), KeyID: keyID, Error: msg}})
}

// signIn checks the CSRF token and origin, then the credentials through the
// API's throttled login, and sets the session cookie.
func (c *console) signIn(w http.ResponseWriter, r *http.Request) {
	key, err := c.sessionKey(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	nonce, err := r.Cookie(csrfCookie)
	if !sameOrigin(r) || err != nil || !tokenEqual(r.PostFormValue("csrf"), signInToken(key, nonce.Value)) {
		c.plainError(w, r, http.StatusForbidden, "The sign-in form expired or did not come from this console: reload the sign-in page and try again.")
		return
	}
	id := strings.TrimSpace(r.PostFormValue("key_id"))
	secret := r.PostFormValue("secret")
	if id == "" || secret == "" {
		c.showSignIn(w, r, http.StatusBadRequest, id, "Enter the key ID and the secret of an admin API key account.")
		return
	}
	acct, err := c.cfg.SignIn(w, r, id, secret)
	if err != nil {
		switch backend.CodeOf(err) {
		case backend.CodeRateLimited:
			c.showSignIn(w, r, http.StatusTooManyRequests, id,
				"Too many failed sign-ins from this address at this key: wait "+w.Header().Get("Retry-After")+" seconds, then check the key ID and secret.")
		case backend.CodeForbidden:
			c.showSignIn(w, r, http.StatusForbidden, id, "This API key account is not an admin account: the console is for admin accounts.")
		case backend.CodeUnavailable, backend.CodeInternal:
			c.fail(w, r, err)
		default:
			c.showSignIn(w, r, http.StatusUnauthorized, id, "Sign-in failed: the key ID or secret is wrong, or the account is locked.")
		}
		return
	}
	now := c.cfg.Now()
	expires := now.Add(c.cfg.SessionTTL)
	http.SetCookie(w, cookie(r, sessionCookie, newSessionToken(key, acct.ID, acct.SecretVersion, now, expires), expires))
	http.SetCookie(w, cookie(r, csrfCookie, "", time.Time{}))
	http.Redirect(w, r, "/console/keys", http.StatusSeeOther)
}

// signOut ends the session in the store, for every replica (a copy of the
// cookie is refused from now on), and clears the cookie; it needs the
// session's own token.
func (c *console) signOut(w http.ResponseWriter, r *http.Request) {
	v, s, err := c.session(r)
	if err != nil {
		c.plainError(w, r, http.StatusUnauthorized, "Sign in first.")
		return
	}
	if !sameOrigin(r) || !tokenEqual(r.PostFormValue("csrf"), v.SignOutToken) {
		c.plainError(w, r, http.StatusForbidden, "The sign-out form did not come from this console.")
		return
	}
	if err := c.cfg.Source.SignOutConsoleSession(r.Context(), s.AccountID, s.ID, s.Expires); err != nil {
		c.fail(w, r, err)
		return
	}
	http.SetCookie(w, cookie(r, sessionCookie, "", time.Time{}))
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}
