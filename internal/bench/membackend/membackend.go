// Package membackend is a backend.Backend that keeps everything in maps
// under one mutex: no disk, no network, no SQL. It is the "no-I/O" floor of
// the benchmark (see internal/bench/nullprovider): the real provider code
// served over it costs what the framework and the provider's own logic cost,
// and nothing more.
//
// It models what the provider's logic depends on (unique names, secret
// versions, the deployed/running state of apps, the refusal to regenerate
// while running apps use a key) and nothing else: no audit log, no lockout
// from App Host logins, no encryption.
//
// Terraform starts a provider process per command, so the floor's objects must
// outlive the process: Load reads a JSON snapshot once, at the first call, and
// Save writes it once, after the provider server stops, only when something
// changed. No call does I/O of its own.
package membackend

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

var _ backend.Backend = (*Backend)(nil)

// account is an API key account with its secret's hash.
type account struct {
	backend.Account
	Hash []byte `json:"hash"`
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

// Backend is the in-memory backend. The zero value is not usable: use New.
type Backend struct {
	path string

	loadOnce sync.Once
	loadErr  error

	mu    sync.Mutex
	s     snapshot
	dirty bool
	// idem holds regenerate results by account ID and idempotency key.
	idem map[string]*backend.AccountWithSecret
	// bound counts, by account ID then app ID, the app secrets bound to the
	// account: derived from s.Secrets, never saved.
	bound map[string]map[string]int
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
		idem:  map[string]*backend.AccountWithSecret{},
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
	h := sha256.Sum256([]byte(s))
	return s, h[:]
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func notFound(what, id string) error {
	return backend.Errorf(backend.CodeNotFound, "%s %q not found", what, id)
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

// runningBound returns the sorted names of the running apps bound to id.
func (b *Backend) accountOut(a *account) *backend.Account {
	out := a.Account
	out.Apps = b.boundApps(a.ID)
	return &out
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

// CreateAccount implements backend.Backend.
func (b *Backend) CreateAccount(_ context.Context, req backend.CreateAccountRequest) (*backend.AccountWithSecret, error) {
	if req.Name == "" {
		return nil, backend.InvalidField("name", "name must not be empty")
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	if b.accountNameTaken(req.Name, "") {
		return nil, backend.Errorf(backend.CodeConflict, "an API key account named %q already exists", req.Name)
	}
	sec, hash := newSecret()
	t := now()
	a := &account{
		Account: backend.Account{
			ID: uuid.NewString(), Name: req.Name, Description: req.Description,
			SecretVersion: 1, SecretCreatedAt: t, CreatedAt: t, UpdatedAt: t,
		},
		Hash: hash,
	}
	b.s.Accounts[a.ID] = a
	b.dirty = true
	return &backend.AccountWithSecret{Account: *b.accountOut(a), Secret: sec}, nil
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
	return nil, notFound("API key account", name)
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
func (b *Backend) UpdateAccount(_ context.Context, req backend.UpdateAccountRequest) (*backend.Account, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Accounts[req.ID]
	if !ok {
		return nil, notFound("API key account", req.ID)
	}
	if b.accountNameTaken(req.Name, a.ID) {
		return nil, backend.Errorf(backend.CodeConflict, "an API key account named %q already exists", req.Name)
	}
	a.Name, a.Description, a.UpdatedAt = req.Name, req.Description, now()
	b.dirty = true
	return b.accountOut(a), nil
}

// RegenerateSecret implements backend.Backend.
func (b *Backend) RegenerateSecret(_ context.Context, req backend.RegenerateRequest) (*backend.AccountWithSecret, error) {
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
			out := *prev
			return &out, nil
		}
	}
	if req.ExpectedSecretVersion != 0 && req.ExpectedSecretVersion != a.SecretVersion {
		return nil, backend.Errorf(backend.CodeVersionMismatch, "secret_version is %d, not %d; plan again", a.SecretVersion, req.ExpectedSecretVersion)
	}
	sec, hash := newSecret()
	t := now()
	a.Hash, a.SecretVersion, a.SecretCreatedAt, a.UpdatedAt = hash, a.SecretVersion+1, t, t
	a.Locked, a.FailedLoginAttempts = false, 0
	b.dirty = true
	out := &backend.AccountWithSecret{Account: *b.accountOut(a), Secret: sec}
	if req.IdempotencyKey != "" {
		b.idem[idemKey] = out
	}
	return out, nil
}

// DeleteAccount implements backend.Backend.
func (b *Backend) DeleteAccount(_ context.Context, req backend.DeleteAccountRequest) error {
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
	return nil
}

// Login implements backend.Backend: no lockout bookkeeping beyond the count.
func (b *Backend) Login(_ context.Context, req backend.LoginRequest) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Accounts[req.AccountID]
	if !ok {
		return backend.Errorf(backend.CodeLoginFailed, "login failed")
	}
	if a.Locked {
		return backend.Errorf(backend.CodeLocked, "API key account %q is locked", a.Name)
	}
	h := sha256.Sum256([]byte(req.Secret))
	if subtle.ConstantTimeCompare(h[:], a.Hash) != 1 {
		a.FailedLoginAttempts++
		b.dirty = true
		return backend.Errorf(backend.CodeLoginFailed, "login failed")
	}
	return nil
}

// CreateApp implements backend.Backend.
func (b *Backend) CreateApp(_ context.Context, req backend.CreateAppRequest) (*backend.App, error) {
	if req.Name == "" {
		return nil, backend.InvalidField("name", "name must not be empty")
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	if b.appNameTaken(req.Name, "") {
		return nil, backend.Errorf(backend.CodeConflict, "an app named %q already exists", req.Name)
	}
	host := req.AppHost
	if host == "" {
		host = "default"
	}
	t := now()
	a := &backend.App{
		ID: uuid.NewString(), Name: req.Name, AppHost: host, Version: req.Version,
		Config: maps.Clone(req.Config), Deployed: req.Deployed, Status: backend.StatusStopped,
		CreatedAt: t, UpdatedAt: t,
	}
	if a.Deployed {
		a.Status = backend.StatusRunning
	}
	b.s.Apps[a.ID] = a
	b.dirty = true
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
	return nil, notFound("app", name)
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

// UpdateApp implements backend.Backend.
func (b *Backend) UpdateApp(_ context.Context, req backend.UpdateAppRequest) (*backend.App, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[req.ID]
	if !ok {
		return nil, notFound("app", req.ID)
	}
	if b.appNameTaken(req.Name, a.ID) {
		return nil, backend.Errorf(backend.CodeConflict, "an app named %q already exists", req.Name)
	}
	host := req.AppHost
	if host == "" {
		host = "default"
	}
	a.Name, a.AppHost, a.Version, a.Config = req.Name, host, req.Version, maps.Clone(req.Config)
	a.Deployed, a.UpdatedAt = req.Deployed, now()
	if a.Deployed {
		a.Status = backend.StatusRunning
	} else {
		a.Status = backend.StatusStopped
	}
	b.dirty = true
	return b.appOut(a), nil
}

// DeleteApp implements backend.Backend.
func (b *Backend) DeleteApp(_ context.Context, id string) error {
	if err := b.lock(); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if _, ok := b.s.Apps[id]; !ok {
		return notFound("app", id)
	}
	for _, s := range b.s.Secrets[id] {
		b.bind(id, s.AccountID, "")
	}
	delete(b.s.Apps, id)
	delete(b.s.Secrets, id)
	b.dirty = true
	return nil
}

func (b *Backend) setDeployed(id string, deployed bool) (*backend.App, error) {
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[id]
	if !ok {
		return nil, notFound("app", id)
	}
	a.Deployed, a.UpdatedAt = deployed, now()
	a.Status = backend.StatusStopped
	if deployed {
		a.Status = backend.StatusRunning
	}
	b.dirty = true
	return b.appOut(a), nil
}

// DeployApp implements backend.Backend.
func (b *Backend) DeployApp(_ context.Context, id string) (*backend.App, error) {
	return b.setDeployed(id, true)
}

// UndeployApp implements backend.Backend.
func (b *Backend) UndeployApp(_ context.Context, id string) (*backend.App, error) {
	return b.setDeployed(id, false)
}

// PutAppSecret implements backend.Backend.
func (b *Backend) PutAppSecret(_ context.Context, req backend.PutAppSecretRequest) (*backend.AppSecret, error) {
	if req.Name == "" {
		return nil, backend.InvalidField("name", "name must not be empty")
	}
	if err := b.lock(); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	a, ok := b.s.Apps[req.AppID]
	if !ok {
		return nil, notFound("app", req.AppID)
	}
	if req.AccountID != "" {
		if _, ok := b.s.Accounts[req.AccountID]; !ok {
			return nil, notFound("API key account", req.AccountID)
		}
	}
	secrets := b.s.Secrets[a.ID]
	if secrets == nil {
		secrets = map[string]*secret{}
		b.s.Secrets[a.ID] = secrets
	}
	s, ok := secrets[req.Name]
	if !ok {
		s = &secret{AppSecret: backend.AppSecret{AppID: a.ID, Name: req.Name}}
		secrets[req.Name] = s
	}
	b.bind(a.ID, s.AccountID, req.AccountID)
	s.AccountID, s.AppName, s.UpdatedAt = req.AccountID, a.Name, now()
	if req.Value != nil {
		s.Value, s.HasValue = *req.Value, true
	}
	if a.Deployed {
		a.Status = backend.StatusRunning
	}
	b.dirty = true
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
		return nil, notFound("app secret", name)
	}
	out := s.AppSecret
	out.AppName = a.Name
	return &out, nil
}

// DeleteAppSecret implements backend.Backend.
func (b *Backend) DeleteAppSecret(_ context.Context, req backend.DeleteAppSecretRequest) error {
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
		return notFound("app secret", req.Name)
	}
	b.bind(a.ID, s.AccountID, "")

	delete(b.s.Secrets[a.ID], req.Name)
	b.dirty = true
	return nil
}

// ListAuditEvents implements backend.Backend: this backend keeps no audit log.
func (b *Backend) ListAuditEvents(_ context.Context, _ backend.AuditQuery) ([]backend.AuditEvent, error) {
	return []backend.AuditEvent{}, nil
}
