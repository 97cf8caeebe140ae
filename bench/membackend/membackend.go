// Package membackend is a backend.Backend that keeps everything in maps
// under one mutex: no disk, no network, no SQL, no encryption. It is the
// "no-I/O" floor of the benchmark (see bench/nullprovider): the real
// provider code served over it costs what the framework and the provider's
// own logic cost, and nothing more.
//
// It follows the domain's semantics (package backend) call for call, and runs
// the same contract suite (internal/backendtest): unique names, a rotation as
// one operation (undeploy the bound apps meant to be deployed, regenerate,
// fill every bound app secret, deploy them again, each logging in),
// ExpectedSecretVersion, expose_secret, bound app secrets filled from their
// account, stale values refused, a put of what is stored a no-op, a deleted
// app secret's app redeployed, DeleteAccount refused while secrets are
// bound, App Host logins with lockout, and an audit log. Secrets and values
// are kept in plain text (this is a benchmark floor): the account's current
// secret stands in for the real backend's sealed copy.
//
// Terraform starts a provider process per command, so the floor's objects must
// outlive the process: Load reads a JSON snapshot once, at the first call, and
// Save writes it once, after the provider server stops, only when something
// changed. No call does I/O of its own. The audit log and the idempotency
// results are the process's own: they are not saved.
package membackend

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/core"
)

var _ backend.Backend = (*Backend)(nil)

// account is an API key account with its secret's hash and, standing in for
// the real backend's sealed copy, the secret itself.
type account struct {
	backend.Account
	Hash   []byte `json:"hash"`
	Secret string `json:"secret"`
}

// secret is an app secret; its value is kept as given (this is a benchmark floor).
type secret struct {
	backend.AppSecret
	Value string `json:"value"`
}

// snapshot is what Save writes and Load reads.
type snapshot struct {
	Accounts map[string]*account     `json:"accounts"`
	Apps     map[string]*backend.App `json:"apps"`
	// Secrets by app ID, then secret name.
	Secrets map[string]map[string]*secret `json:"secrets"`
}

// idemResult is what a regenerate with an idempotency key returns again.
type idemResult struct {
	version int64
	secret  string // "" when the account does not expose its secret
}

// Backend is the in-memory backend. The zero value is not usable: use New.
type Backend struct {
	path string

	loadOnce sync.Once
	loadErr  error

	mu    sync.Mutex
	s     snapshot
	dirty bool
	// idem holds regenerate results by account ID and idempotency key.
	idem map[string]idemResult
	// bound counts, by account ID then app ID, the app secrets bound to the
	// account: derived from s.Secrets, never saved.
	bound map[string]map[string]int
	// audit is this process's audit log.
	audit []backend.AuditEvent
	seq   int64
}

// New returns an empty backend whose snapshot file is path; "" keeps
// everything in memory only.
func New(path string) *Backend {
	return &Backend{
		path: path,
		s: snapshot{
			Accounts: map[string]*account{},
			Apps:     map[string]*backend.App{},
			Secrets:  map[string]map[string]*secret{},
		},
		idem:  map[string]idemResult{},
		bound: map[string]map[string]int{},
	}
}

// bind moves one app secret of appID from account from to account to
// ("" for none) in the bound index.
func (b *Backend) bind(appID, from, to string) {
	if from != "" {
		if m := b.bound[from]; m != nil {
			if m[appID]--; m[appID] <= 0 {
				delete(m, appID)
			}
		}
	}
	if to != "" {
		m := b.bound[to]
		if m == nil {
			m = map[string]int{}
			b.bound[to] = m
		}
		m[appID]++
	}
}

// load reads the snapshot file once; a missing file is an empty backend.
func (b *Backend) load() error {
	b.loadOnce.Do(func() {
		if b.path == "" {
			return
		}
		data, err := os.ReadFile(b.path)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			b.loadErr = err
			return
		}
		var s snapshot
		if err := json.Unmarshal(data, &s); err != nil {
			b.loadErr = err
			return
		}
		if s.Accounts != nil {
			b.s.Accounts = s.Accounts
		}
		if s.Apps != nil {
			b.s.Apps = s.Apps
		}
		if s.Secrets != nil {
			b.s.Secrets = s.Secrets
		}
		for appID, secrets := range b.s.Secrets {
			for _, sec := range secrets {
				b.bind(appID, "", sec.AccountID)
			}
		}
	})
	if b.loadErr != nil {
		return &backend.Error{Code: backend.CodeUnavailable, Message: "cannot read the in-memory backend's snapshot", Err: b.loadErr}
	}
	return nil
}

// Save writes the snapshot file when something changed since it was loaded.
func (b *Backend) Save() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.path == "" || !b.dirty {
		return nil
	}
	data, err := json.Marshal(&b.s)
	if err != nil {
		return err
	}
	tmp := b.path + ".tmp"
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return err
	}
	b.dirty = false
	return nil
}

// Close implements backend.Backend; it does not save.
func (b *Backend) Close() error { return nil }

// lock loads the snapshot if needed and takes the mutex.
func (b *Backend) lock() error {
	if err := b.load(); err != nil {
		return err
	}
	b.mu.Lock()
	return nil
}

func newSecret() (string, []byte) {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	s := "ahk_" + base64.RawURLEncoding.EncodeToString(buf)
	return s, hash(s)
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// now is the clock, read per event as the real backend reads it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// nameTaken is the conflict of a taken name, on the name attribute.
func nameTaken(format, name string) error {
	return &backend.Error{Code: backend.CodeConflict, Field: "name", Message: fmt.Sprintf(format, name)}
}

func notFound(what, id string) error {
	return backend.Errorf(backend.CodeNotFound, "%s %q not found", what, id)
}

// The input checks of the domain that package backend does not share; names
// are checked with backend.ValidateName, as the domain does.

func validateText(field, v string, limit int) error {
	if len(v) > limit || !utf8.ValidString(v) {
		return backend.InvalidField(field, "%s is longer than %d characters or not UTF-8", field, limit)
	}
	return nil
}

// event appends one audit event, read from the clock now.
func (b *Backend) event(actor, action, targetType, id, name, detail string) {
	b.seq++
	b.audit = append(b.audit, backend.AuditEvent{
		Seq: b.seq, Time: now(), Actor: actor, Action: action,
		TargetType: targetType, TargetID: id, TargetName: name, Detail: detail,
	})
}

func secretTarget(appID, appName, name string) (string, string) {
	return appID + "/" + name, appName + "/" + name
}

// boundApps returns the sorted names of the apps with a secret bound to id.
func (b *Backend) boundApps(id string) []string {
	names := []string{}
	for appID := range b.bound[id] {
		if a, ok := b.s.Apps[appID]; ok {
			names = append(names, a.Name)
		}
	}
	sort.Strings(names)
	return names
}

func (b *Backend) accountOut(a *account) *backend.Account {
	out := a.Account
	out.Apps = b.boundApps(a.ID)
	return &out
}

// withSecret is what create and regenerate return: the secret only where the
// account's expose_secret allows.
func withSecret(a *backend.Account, sec string) *backend.AccountWithSecret {
	if !a.ExposeSecret {
		sec = ""
	}
	return &backend.AccountWithSecret{Account: *a, Secret: sec}
}

func (b *Backend) appOut(a *backend.App) *backend.App {
	out := *a
	out.Config = maps.Clone(a.Config)
	if out.Config == nil {
		out.Config = map[string]string{}
	}
	out.Secrets = []backend.AppSecret{}
	for _, s := range b.s.Secrets[a.ID] {
		sec := s.AppSecret
		sec.AppName = a.Name
		out.Secrets = append(out.Secrets, sec)
	}
	sort.Slice(out.Secrets, func(i, j int) bool { return out.Secrets[i].Name < out.Secrets[j].Name })
	return &out
}

func (b *Backend) accountNameTaken(name, except string) bool {
	for _, a := range b.s.Accounts {
		if a.Name == name && a.ID != except {
			return true
		}
	}
	return false
}

func (b *Backend) appNameTaken(name, except string) bool {
	for _, a := range b.s.Apps {
		if a.Name == name && a.ID != except {
			return true
		}
	}
	return false
}

// --- The App Host runtime: logins, deploys, stops. ---

type loginResult int

const (
	loginOK loginResult = iota
	loginUnknown
	loginWrongSecret
	loginLocked
)

// attemptLogin checks one login as actor and records it: the audit event,
// the failure count, the lock at the threshold.
func (b *Backend) attemptLogin(actor, id, sec string) (loginResult, string) {
	h := hash(sec)
	a, ok := b.s.Accounts[id]
	if !ok {
		target := id
		if _, err := uuid.Parse(id); err != nil {
			target = "(not an API key ID)"
		}
		b.event(actor, backend.ActionLoginFailure, backend.TargetAccount, target, "", "unknown API key ID")
		return loginUnknown, ""
	}
	if subtle.ConstantTimeCompare(h, a.Hash) == 1 && !a.Locked {
		if a.FailedLoginAttempts != 0 {
			a.FailedLoginAttempts = 0
			b.dirty = true
		}
		b.event(actor, backend.ActionLoginSuccess, backend.TargetAccount, a.ID, a.Name, "")
		return loginOK, a.Name
	}
	wasLocked := a.Locked
	a.FailedLoginAttempts++
	if !a.Locked && a.FailedLoginAttempts >= backend.DefaultLockoutThreshold {
		a.Locked, a.UpdatedAt = true, now()
	}
	b.dirty = true
	detail := "wrong secret"
	if wasLocked {
		detail = "account locked"
	}
	b.event(actor, backend.ActionLoginFailure, backend.TargetAccount, a.ID, a.Name,
		fmt.Sprintf("%s, failed_login_attempts=%d", detail, a.FailedLoginAttempts))
	if !a.Locked {
		return loginWrongSecret, a.Name
	}
	if !wasLocked {
		b.event(actor, backend.ActionAccountLock, backend.TargetAccount, a.ID, a.Name,
			fmt.Sprintf("locked after %d failed logins", a.FailedLoginAttempts))
	}
	return loginLocked, a.Name
}

// appLogin logs in as an app does: it retries a failed login until it
// succeeds or the account is locked.
func (b *Backend) appLogin(appName, accountID, sec string) bool {
	for range backend.DefaultLockoutThreshold + 1 {
		switch res, _ := b.attemptLogin(appName, accountID, sec); res {
		case loginOK:
			return true
		case loginUnknown, loginLocked:
			return false
		}
	}
	return false
}

// deploy deploys app, which this call stopped at stoppedAt (zero: it was
// not running): every bound secret with a value logs in, as the app.
func (b *Backend) deploy(actor string, a *backend.App, stoppedAt time.Time) {
	detail := fmt.Sprintf("app_host=%s, version=%s", a.AppHost, a.Version)
	if !stoppedAt.IsZero() {
		detail += fmt.Sprintf(", downtime_ms=%.3f", float64(now().Sub(stoppedAt))/float64(time.Millisecond))
	}
	b.event(actor, backend.ActionAppDeploy, backend.TargetApp, a.ID, a.Name, detail)
	status := backend.StatusRunning
	secrets := b.s.Secrets[a.ID]
	for _, name := range slices.Sorted(maps.Keys(secrets)) {
		s := secrets[name]
		if s.AccountID == "" || !s.HasValue {
			continue
		}
		if !b.appLogin(a.Name, s.AccountID, s.Value) {
			status = backend.StatusFailed
		}
	}
	a.Deployed, a.Status, a.UpdatedAt = true, status, now()
	b.dirty = true
}

// stop stops app; keepDeployed leaves it meant to be deployed.
func (b *Backend) stop(actor string, a *backend.App, keepDeployed bool, detail string) {
	b.event(actor, backend.ActionAppUndeploy, backend.TargetApp, a.ID, a.Name, detail)
	a.Deployed, a.Status, a.UpdatedAt = keepDeployed, backend.StatusStopped, now()
	b.dirty = true
}

// pause stops app, if it runs, keeping it meant to be deployed; it returns
// when it stopped it (zero if it did not).
func (b *Backend) pause(actor string, a *backend.App, detail string) time.Time {
	if !a.Running() {
		return time.Time{}
	}
	b.stop(actor, a, true, detail)
	return now()
}

// --- API key accounts. ---

// CreateAccount implements backend.Backend.
func (b *Backend) CreateAccount(ctx context.Context, req backend.CreateAccountRequest) (*backend.AccountWithSecret, error) {
	if err := backend.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	if err := validateText("description", req.Description, backend.MaxDescriptionLength); err != nil {
		return nil, err
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	if b.accountNameTaken(req.Name, "") {
		return nil, nameTaken("an API key account named %q already exists", req.Name)
	}
	expose := req.ExposeSecret == nil || *req.ExposeSecret
	sec, h := newSecret()
	t := now()
	a := &account{
		Account: backend.Account{
			ID: uuid.NewString(), Name: req.Name, Description: req.Description,
			SecretVersion: 1, SecretCreatedAt: t, CreatedAt: t, UpdatedAt: t,
			ExposeSecret: expose, HasSealedSecret: true,
		},
		Hash: h, Secret: sec,
	}
	b.s.Accounts[a.ID] = a
	b.dirty = true
	detail := "secret_version=1"
	if !expose {
		detail += ", expose_secret=false"
	}
	b.event(core.ActorFrom(ctx), backend.ActionAccountCreate, backend.TargetAccount, a.ID, a.Name, detail)
	return withSecret(b.accountOut(a), sec), nil
}

// GetAccount implements backend.Backend.
func (b *Backend) GetAccount(_ context.Context, id string) (*backend.Account, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Accounts[id]
	if !ok {
		return nil, notFound("API key account", id)
	}
	return b.accountOut(a), nil
}

// GetAccountByName implements backend.Backend.
func (b *Backend) GetAccountByName(_ context.Context, name string) (*backend.Account, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	for _, a := range b.s.Accounts {
		if a.Name == name {
			return b.accountOut(a), nil
		}
	}
	return nil, backend.Errorf(backend.CodeNotFound, "no API key account named %q", name)
}

// ListAccounts implements backend.Backend.
func (b *Backend) ListAccounts(_ context.Context, req backend.ListAccountsRequest) ([]backend.Account, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	out := []backend.Account{}
	for _, a := range b.s.Accounts {
		if req.Locked != nil && a.Locked != *req.Locked {
			continue
		}
		out = append(out, *b.accountOut(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateAccount implements backend.Backend.
func (b *Backend) UpdateAccount(ctx context.Context, req backend.UpdateAccountRequest) (*backend.Account, error) {
	if err := backend.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	if err := validateText("description", req.Description, backend.MaxDescriptionLength); err != nil {
		return nil, err
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Accounts[req.ID]
	if !ok {
		return nil, notFound("API key account", req.ID)
	}
	var changes []string
	if req.Name != a.Name {
		if b.accountNameTaken(req.Name, a.ID) {
			return nil, nameTaken("an API key account named %q already exists", req.Name)
		}
		changes = append(changes, fmt.Sprintf("name: %s -> %s", a.Name, req.Name))
	}
	if req.Description != a.Description {
		changes = append(changes, "description")
	}
	if len(changes) > 0 {
		a.Name, a.Description, a.UpdatedAt = req.Name, req.Description, now()
		b.dirty = true
		b.event(core.ActorFrom(ctx), backend.ActionAccountUpdate, backend.TargetAccount, a.ID, a.Name, "changed "+strings.Join(changes, ", "))
	}
	return b.accountOut(a), nil
}

// RegenerateSecret implements backend.Backend: the rotation in one call, in
// the hand procedure's order (see backend.RegenerateRequest).
func (b *Backend) RegenerateSecret(ctx context.Context, req backend.RegenerateRequest) (*backend.AccountWithSecret, error) {
	if req.ExpectedSecretVersion < 0 {
		return nil, backend.InvalidField("expected_secret_version", "expected_secret_version must not be negative")
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Accounts[req.ID]
	if !ok {
		return nil, notFound("API key account", req.ID)
	}
	idemKey := req.ID + "/" + req.IdempotencyKey
	if req.IdempotencyKey != "" {
		if prev, ok := b.idem[idemKey]; ok {
			out := b.accountOut(a)
			out.SecretVersion = prev.version
			return withSecret(out, prev.secret), nil
		}
	}
	if req.ExpectedSecretVersion != 0 && req.ExpectedSecretVersion != a.SecretVersion {
		return nil, backend.Errorf(backend.CodeVersionMismatch,
			"the secret of API key account %q is at secret_version %d, not %d as this request expected: it was "+
				"regenerated since the plan was made. Nothing was changed; plan again",
			a.Name, a.SecretVersion, req.ExpectedSecretVersion)
	}
	if req.ExposeSecret != nil {
		a.ExposeSecret = *req.ExposeSecret
	}
	sec := b.rotate(core.ActorFrom(ctx), a)
	if req.IdempotencyKey != "" {
		kept := ""
		if a.ExposeSecret {
			kept = sec
		}
		b.idem[idemKey] = idemResult{version: a.SecretVersion, secret: kept}
	}
	return withSecret(b.accountOut(a), sec), nil
}

// rotate carries out the four steps of a rotation of a and returns the new secret.
func (b *Backend) rotate(actor string, a *account) string {
	var apps []*backend.App
	for appID := range b.bound[a.ID] {
		if app, ok := b.s.Apps[appID]; ok && app.Deployed {
			apps = append(apps, app)
		}
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })

	// 1. Undeploy: no app logs in while the secret changes.
	stopped := make([]time.Time, len(apps))
	for i, app := range apps {
		stopped[i] = b.pause(actor, app, "to rotate API key account "+a.Name)
	}

	// 2. Regenerate.
	sec, h := newSecret()
	t := now()
	a.Hash, a.Secret, a.SecretVersion, a.SecretCreatedAt, a.UpdatedAt = h, sec, a.SecretVersion+1, t, t
	a.Locked, a.FailedLoginAttempts, a.HasSealedSecret = false, 0, true
	b.dirty = true
	detail := fmt.Sprintf("secret_version=%d, apps=%d", a.SecretVersion, len(apps))
	if !a.ExposeSecret {
		detail += ", expose_secret=false"
	}
	b.event(actor, backend.ActionAccountRegenerate, backend.TargetAccount, a.ID, a.Name, detail)

	// 3. Fill every app secret bound to the account with the new secret.
	for _, appID := range slices.Sorted(maps.Keys(b.bound[a.ID])) {
		app := b.s.Apps[appID]
		for _, s := range b.s.Secrets[appID] {
			if s.AccountID != a.ID {
				continue
			}
			s.Value, s.HasValue, s.UpdatedAt = sec, true, t
			id, name := secretTarget(appID, app.Name, s.Name)
			b.event(actor, backend.ActionAppSecretPut, backend.TargetAppSecret, id, name,
				fmt.Sprintf("api_key_account=%s, sealed by rotation to secret_version=%d", a.Name, a.SecretVersion))
		}
	}

	// 4. Deploy the apps again; each logs in with its secrets.
	for i, app := range apps {
		b.deploy(actor, app, stopped[i])
	}
	return sec
}

// DeleteAccount implements backend.Backend: refused while app secrets are bound.
func (b *Backend) DeleteAccount(ctx context.Context, req backend.DeleteAccountRequest) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Accounts[req.ID]
	if !ok {
		return notFound("API key account", req.ID)
	}
	if len(b.bound[a.ID]) > 0 {
		return backend.InUseError(a.Name, b.boundApps(a.ID))
	}
	delete(b.bound, a.ID)
	delete(b.s.Accounts, a.ID)
	b.dirty = true
	b.event(core.ActorFrom(ctx), backend.ActionAccountDelete, backend.TargetAccount, a.ID, a.Name, "")
	return nil
}

// Login implements backend.Backend, with the lockout.
func (b *Backend) Login(ctx context.Context, req backend.LoginRequest) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	switch res, name := b.attemptLogin(core.ActorFrom(ctx), req.AccountID, req.Secret); res {
	case loginUnknown, loginWrongSecret:
		return backend.Errorf(backend.CodeLoginFailed, "wrong API key ID or secret")
	case loginLocked:
		return backend.Errorf(backend.CodeLocked, "API key account %q is locked after too many failed logins; regenerate its secret to unlock it", name)
	}
	return nil
}

// --- Apps. ---

func validateApp(name, host, version string, config map[string]string) (string, error) {
	if host == "" {
		host = backend.DefaultAppHost
	}
	if err := backend.ValidateName("name", name); err != nil {
		return "", err
	}
	if err := backend.ValidateName("app_host", host); err != nil {
		return "", err
	}
	if err := validateText("version", version, backend.MaxNameLength); err != nil {
		return "", err
	}
	if len(config) > backend.MaxConfigEntries {
		return "", backend.InvalidField("config", "config has %d entries; the limit is %d", len(config), backend.MaxConfigEntries)
	}
	return host, nil
}

// CreateApp implements backend.Backend.
func (b *Backend) CreateApp(ctx context.Context, req backend.CreateAppRequest) (*backend.App, error) {
	host, err := validateApp(req.Name, req.AppHost, req.Version, req.Config)
	if err != nil {
		return nil, err
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	if b.appNameTaken(req.Name, "") {
		return nil, nameTaken("an app named %q already exists", req.Name)
	}
	t := now()
	a := &backend.App{
		ID: uuid.NewString(), Name: req.Name, AppHost: host, Version: req.Version,
		Config: maps.Clone(req.Config), Status: backend.StatusStopped,
		CreatedAt: t, UpdatedAt: t,
	}
	b.s.Apps[a.ID] = a
	b.dirty = true
	actor := core.ActorFrom(ctx)
	b.event(actor, backend.ActionAppCreate, backend.TargetApp, a.ID, a.Name, "app_host="+a.AppHost)
	if req.Deployed {
		b.deploy(actor, a, time.Time{})
	}
	return b.appOut(a), nil
}

// GetApp implements backend.Backend.
func (b *Backend) GetApp(_ context.Context, id string) (*backend.App, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[id]
	if !ok {
		return nil, notFound("app", id)
	}
	return b.appOut(a), nil
}

// GetAppByName implements backend.Backend.
func (b *Backend) GetAppByName(_ context.Context, name string) (*backend.App, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	for _, a := range b.s.Apps {
		if a.Name == name {
			return b.appOut(a), nil
		}
	}
	return nil, backend.Errorf(backend.CodeNotFound, "no app named %q", name)
}

// ListApps implements backend.Backend.
func (b *Backend) ListApps(_ context.Context, req backend.ListAppsRequest) ([]backend.App, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	out := []backend.App{}
	candidates := b.s.Apps
	if req.BoundToAccountID != "" {
		candidates = make(map[string]*backend.App, len(b.bound[req.BoundToAccountID]))
		for appID := range b.bound[req.BoundToAccountID] {
			if a, ok := b.s.Apps[appID]; ok {
				candidates[appID] = a
			}
		}
	}
	for _, a := range candidates {
		if req.Running != nil && a.Running() != *req.Running ||
			req.Deployed != nil && a.Deployed != *req.Deployed ||
			req.AppHost != "" && a.AppHost != req.AppHost {
			continue
		}
		out = append(out, *b.appOut(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateApp implements backend.Backend: a change while the app runs is
// applied as undeploy, change, deploy.
func (b *Backend) UpdateApp(ctx context.Context, req backend.UpdateAppRequest) (*backend.App, error) {
	host, err := validateApp(req.Name, req.AppHost, req.Version, req.Config)
	if err != nil {
		return nil, err
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[req.ID]
	if !ok {
		return nil, notFound("app", req.ID)
	}
	var changed []string
	if req.Name != a.Name {
		if b.appNameTaken(req.Name, a.ID) {
			return nil, nameTaken("an app named %q already exists", req.Name)
		}
		changed = append(changed, "name")
	}
	if host != a.AppHost {
		changed = append(changed, "app_host")
	}
	if req.Version != a.Version {
		changed = append(changed, "version")
	}
	if !maps.Equal(req.Config, a.Config) {
		changed = append(changed, "config")
	}
	actor := core.ActorFrom(ctx)
	wasRunning := a.Running()
	if len(changed) > 0 {
		if wasRunning {
			b.stop(actor, a, a.Deployed && req.Deployed, "to apply a change")
		}
		oldName := a.Name
		a.Name, a.AppHost, a.Version, a.Config, a.UpdatedAt = req.Name, host, req.Version, maps.Clone(req.Config), now()
		b.dirty = true
		detail := "changed " + strings.Join(changed, ", ")
		if oldName != a.Name {
			detail += " (was " + oldName + ")"
		}
		b.event(actor, backend.ActionAppUpdate, backend.TargetApp, a.ID, a.Name, detail)
	}
	switch {
	case req.Deployed && (!a.Deployed || (wasRunning && len(changed) > 0)):
		b.deploy(actor, a, time.Time{})
	case !req.Deployed && a.Deployed:
		b.stop(actor, a, false, "")
	}
	return b.appOut(a), nil
}

// DeleteApp implements backend.Backend.
func (b *Backend) DeleteApp(ctx context.Context, id string) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[id]
	if !ok {
		return notFound("app", id)
	}
	actor := core.ActorFrom(ctx)
	if a.Running() {
		b.stop(actor, a, false, "app deleted")
	}
	for _, name := range slices.Sorted(maps.Keys(b.s.Secrets[id])) {
		s := b.s.Secrets[id][name]
		b.bind(id, s.AccountID, "")
		sid, sname := secretTarget(id, a.Name, name)
		b.event(actor, backend.ActionAppSecretDelete, backend.TargetAppSecret, sid, sname, "app deleted")
	}
	delete(b.s.Apps, id)
	delete(b.s.Secrets, id)
	b.dirty = true
	b.event(actor, backend.ActionAppDelete, backend.TargetApp, a.ID, a.Name, "")
	return nil
}

// DeployApp implements backend.Backend: a running app is left as it is.
func (b *Backend) DeployApp(ctx context.Context, id string) (*backend.App, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[id]
	if !ok {
		return nil, notFound("app", id)
	}
	if !a.Deployed || a.Status != backend.StatusRunning {
		b.deploy(core.ActorFrom(ctx), a, time.Time{})
	}
	return b.appOut(a), nil
}

// UndeployApp implements backend.Backend.
func (b *Backend) UndeployApp(ctx context.Context, id string) (*backend.App, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[id]
	if !ok {
		return nil, notFound("app", id)
	}
	if a.Deployed || a.Status != backend.StatusStopped {
		b.stop(core.ActorFrom(ctx), a, false, "")
	}
	return b.appOut(a), nil
}

// --- App secrets. ---

// PutAppSecret implements backend.Backend (see backend.PutAppSecretRequest):
// bound with no value, filled from the account; bound with a value, it must
// be the account's current secret; unbound, a value is needed. Storing what
// is stored changes nothing; a change redeploys the app if it is meant to be
// deployed.
func (b *Backend) PutAppSecret(ctx context.Context, req backend.PutAppSecretRequest) (*backend.AppSecret, error) {
	if err := backend.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	if req.Value != nil && (*req.Value == "" || len(*req.Value) > backend.MaxSecretValueLength) {
		return nil, backend.InvalidField("value", "value must not be empty nor longer than %d bytes", backend.MaxSecretValueLength)
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[req.AppID]
	if !ok {
		return nil, notFound("app", req.AppID)
	}
	prev, existed := b.s.Secrets[a.ID][req.Name]

	// The value to store (keep: the stored one) and where it came from.
	var value, detail string
	keep := false
	if req.AccountID == "" {
		switch {
		case req.Value != nil:
			value, detail = *req.Value, "unbound, value set"
		case existed && prev.HasValue:
			keep, detail = true, "unbound, value kept"
		default:
			return nil, backend.InvalidField("value", "app secret %q of app %q is not bound to an API key account, so it needs "+
				"a value: set value (or value_wo), or bind it with api_key_account_id", req.Name, a.Name)
		}
	} else {
		acc, ok := b.s.Accounts[req.AccountID]
		if !ok {
			return nil, notFound("API key account", req.AccountID)
		}
		detail = "api_key_account=" + acc.Name
		if req.Value != nil {
			if subtle.ConstantTimeCompare(hash(*req.Value), acc.Hash) != 1 {
				return nil, &backend.Error{Code: backend.CodeStaleValue, Field: "value", Message: fmt.Sprintf(
					"the value of app secret %q of app %q is not the current secret of API key account %q "+
						"(secret_version %d). A bound secret needs no value: remove `value` (or `value_wo`), and "+
						"the backend fills it with the account's current secret and rotates it with the account",
					req.Name, a.Name, acc.Name, acc.SecretVersion)}
			}
			value, detail = *req.Value, detail+", value set"
		} else {
			value, detail = acc.Secret, detail+", filled from the account"
		}
	}
	if existed && prev.AccountID == req.AccountID &&
		(keep || prev.HasValue && subtle.ConstantTimeCompare([]byte(prev.Value), []byte(value)) == 1) {
		// What is stored already: no event, no redeploy.
		out := prev.AppSecret
		out.AppName = a.Name
		return &out, nil
	}

	actor := core.ActorFrom(ctx)
	var stoppedAt time.Time
	if a.Deployed {
		stoppedAt = b.pause(actor, a, "to change app secret "+req.Name)
	}
	secrets := b.s.Secrets[a.ID]
	if secrets == nil {
		secrets = map[string]*secret{}
		b.s.Secrets[a.ID] = secrets
	}
	s := prev
	if !existed {
		s = &secret{AppSecret: backend.AppSecret{AppID: a.ID, Name: req.Name}}
		secrets[req.Name] = s
	}
	b.bind(a.ID, s.AccountID, req.AccountID)
	s.AccountID, s.AppName, s.UpdatedAt = req.AccountID, a.Name, now()
	if !keep {
		s.Value, s.HasValue = value, true
	}
	b.dirty = true
	id, name := secretTarget(a.ID, a.Name, req.Name)
	b.event(actor, backend.ActionAppSecretPut, backend.TargetAppSecret, id, name, detail)
	if a.Deployed {
		b.deploy(actor, a, stoppedAt)
	}
	out := s.AppSecret
	return &out, nil
}

// GetAppSecret implements backend.Backend.
func (b *Backend) GetAppSecret(_ context.Context, appID, name string) (*backend.AppSecret, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[appID]
	if !ok {
		return nil, notFound("app", appID)
	}
	s, ok := b.s.Secrets[appID][name]
	if !ok {
		return nil, backend.Errorf(backend.CodeNotFound, "app secret %q of app %q not found", name, a.Name)
	}
	out := s.AppSecret
	out.AppName = a.Name
	return &out, nil
}

// DeleteAppSecret implements backend.Backend: the app is undeployed, the
// secret removed, and the app deployed again if it is meant to be deployed.
func (b *Backend) DeleteAppSecret(ctx context.Context, req backend.DeleteAppSecretRequest) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[req.AppID]
	if !ok {
		return notFound("app", req.AppID)
	}
	s, ok := b.s.Secrets[a.ID][req.Name]
	if !ok {
		return backend.Errorf(backend.CodeNotFound, "app secret %q of app %q not found", req.Name, a.Name)
	}
	actor := core.ActorFrom(ctx)
	stoppedAt := b.pause(actor, a, "to remove app secret "+req.Name)
	b.bind(a.ID, s.AccountID, "")
	delete(b.s.Secrets[a.ID], req.Name)
	b.dirty = true
	id, name := secretTarget(a.ID, a.Name, req.Name)
	b.event(actor, backend.ActionAppSecretDelete, backend.TargetAppSecret, id, name, "")
	if a.Deployed {
		b.deploy(actor, a, stoppedAt)
	}
	return nil
}

// ListAuditEvents implements backend.Backend: this process's events, oldest first.
func (b *Backend) ListAuditEvents(_ context.Context, q backend.AuditQuery) ([]backend.AuditEvent, error) {
	if q.Limit < 0 {
		return nil, backend.InvalidField("limit", "limit must not be negative")
	}
	if q.AfterSeq < 0 {
		return nil, backend.InvalidField("after_seq", "after_seq must not be negative")
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	i := sort.Search(len(b.audit), func(i int) bool { return b.audit[i].Seq > q.AfterSeq })
	out := slices.Clone(b.audit[i:])
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	if out == nil {
		out = []backend.AuditEvent{}
	}
	return out, nil
}
