package core

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// secretPrefix marks apphost key secrets, so secret scanners and people can
// tell them apart from other tokens.
const secretPrefix = "ahk_"

// NewSecret returns a new API key secret: 256 random bits, base64url, after
// the ahk_ prefix that tells secret scanners what it is. serve's generated
// admin secret is one.
func NewSecret() string {
	secret, _ := newSecret()
	return secret
}

// newSecret returns 256 random bits as text and the hash that is stored.
func newSecret() (secret string, hash []byte) {
	b := make([]byte, 32)
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(b)
	secret = secretPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret)
}

// hashSecret is a plain SHA-256: the secrets are random, so a slow hash would
// only slow every login without making a guess any likelier.
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func accountNotFound(id string) *backend.Error {
	return backend.Errorf(backend.CodeNotFound, "API key account %q not found", id)
}

func accountNameTaken(name string) *backend.Error {
	return &backend.Error{Code: backend.CodeConflict, Field: "name", Message: fmt.Sprintf("an API key account named %q already exists", name)}
}

func (o *op) getAccount(id string) (store.AccountRow, error) {
	return lookup(o, id, o.tx.GetAccount, func() *backend.Error { return accountNotFound(id) })
}

// lookup gets the row keyed key (an ID or a name) with get; a key no store
// can hold is not found, as is a key no row has: notFound says so.
func lookup[R any](o *op, key string, get func(context.Context, string) (R, error), notFound func() *backend.Error) (R, error) {
	if !backend.CleanText(key) {
		var zero R
		return zero, notFound()
	}
	r, err := get(o.ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return r, notFound()
	}
	return r, err
}

// lookupName is lookup by name, refused as "no WHAT named NAME".
func lookupName[R any](o *op, what, name string, get func(context.Context, string) (R, error)) (R, error) {
	return lookup(o, name, get, func() *backend.Error {
		return backend.Errorf(backend.CodeNotFound, "no %s named %q", what, name)
	})
}

// checkAccountFree fails when the ID or the name is already used.
func (o *op) checkAccountFree(id, name string) error {
	if id != "" {
		if _, err := o.tx.GetAccount(o.ctx, id); err == nil {
			return backend.Errorf(backend.CodeConflict, "an API key account with ID %q already exists", id)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if _, err := o.tx.GetAccountByName(o.ctx, name); err == nil {
		return accountNameTaken(name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// accountApps returns the sorted names of the apps with a secret bound to id.
func (o *op) accountApps(id string) ([]string, error) {
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AccountID: id})
	if err != nil {
		return nil, err
	}
	return boundAppNames(secrets)[id], nil
}

// account is row as every read returns it, with the names of its bound apps.
func (o *op) account(row store.AccountRow) (backend.Account, error) {
	apps, err := o.accountApps(row.ID)
	if err != nil {
		return backend.Account{}, err
	}
	return toAccount(row, apps), nil
}

// boundAppNames groups app names by the account their secrets are bound to,
// each list sorted and without repeats.
func boundAppNames(secrets []store.AppSecretRow) map[string][]string {
	m := map[string][]string{}
	for _, s := range secrets {
		if s.AccountID != "" {
			m[s.AccountID] = append(m[s.AccountID], s.AppName)
		}
	}
	for id, names := range m {
		slices.Sort(names)
		m[id] = slices.Compact(names)
	}
	return m
}

// strategyOf is the account's rotation strategy (a row written before
// strategies has none: stop_first).
func strategyOf(r store.AccountRow) string {
	if r.RotationStrategy == "" {
		return backend.StrategyStopFirst
	}
	return r.RotationStrategy
}

// overlapPeriodOf is the account's overlap_period (DefaultOverlapPeriod
// for a row written before it).
func overlapPeriodOf(r store.AccountRow) time.Duration {
	if r.OverlapPeriod <= 0 {
		return backend.DefaultOverlapPeriod
	}
	return r.OverlapPeriod
}

// pendingVersion is the secret_version of the account's pending secret, 0
// when it has none.
func pendingVersion(r store.AccountRow) int64 {
	if r.PendingSecretHash == nil {
		return 0
	}
	return r.SecretVersion + 1
}

func toAccount(r store.AccountRow, apps []string) backend.Account {
	if apps == nil {
		apps = []string{}
	}
	return backend.Account{
		RotationStrategy:     strategyOf(r),
		OverlapPeriod:        overlapPeriodOf(r).String(),
		PendingSecretVersion: pendingVersion(r),
		ID:                   r.ID,
		Name:                 r.Name,
		Description:          r.Description,
		SecretVersion:        r.SecretVersion,
		SecretCreatedAt:      r.SecretCreatedAt.UTC(),
		Locked:               r.Locked,
		FailedLoginAttempts:  r.FailedLoginAttempts,
		Admin:                r.Admin,
		CreatedAt:            r.CreatedAt.UTC(),
		UpdatedAt:            r.UpdatedAt.UTC(),
		ExposeSecret:         r.ExposeSecret,
		HasSealedSecret:      r.SealedSecret != nil,
		AppHost:              r.AppHost,
		Apps:                 apps,
	}
}

// withSecret is what create and regenerate return: the secret only where the
// account's expose_secret allows.
func withSecret(a backend.Account, secret string) *backend.AccountWithSecret {
	if !a.ExposeSecret {
		secret = ""
	}
	return &backend.AccountWithSecret{Account: a, Secret: secret}
}

// CreateAccount creates a non-admin account with a new secret, returned once.
func (s *Service) CreateAccount(ctx context.Context, req backend.CreateAccountRequest) (*backend.AccountWithSecret, error) {
	if err := backend.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	if err := validateDescription(req.Description); err != nil {
		return nil, err
	}
	if req.AppHost != "" {
		if err := backend.ValidateName("app_host", req.AppHost); err != nil {
			return nil, err
		}
	}
	strategy, period, err := rotationSettings(req.RotationStrategy, req.OverlapPeriod, backend.StrategyStopFirst, backend.DefaultOverlapPeriod)
	if err != nil {
		return nil, err
	}
	expose := req.ExposeSecret == nil || *req.ExposeSecret
	secret, hash := newSecret()
	return writeValue(s, ctx, func(o *op) (*backend.AccountWithSecret, error) {
		if req.AppHost != "" {
			if _, err := o.tx.GetAccountByAppHost(o.ctx, req.AppHost); err == nil {
				return nil, &backend.Error{Code: backend.CodeConflict, Field: "app_host", Message: fmt.Sprintf(
					"App Host %q already has an API key account: an App Host has one identity", req.AppHost)}
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
		row, err := o.insertAccount(account{
			id: uuid.NewString(), name: req.Name, description: req.Description, hash: hash,
			expose: expose, sealed: s.box.Seal([]byte(secret)), appHost: req.AppHost,
			strategy: strategy, overlapPeriod: period,
		})
		if err != nil {
			return nil, err
		}
		return withSecret(toAccount(row, nil), secret), nil
	})
}

// CreateAdminAccount creates an admin account with the given ID (a UUID) and
// secret (see CheckAdminSecret): the server's bootstrap from
// APPHOST_ADMIN_KEY_ID and APPHOST_ADMIN_KEY_SECRET.
func (s *Service) CreateAdminAccount(ctx context.Context, id, name, secret string) (*backend.Account, error) {
	if !backend.IsAccountID(id) {
		// Logins refuse any other ID unread, so no other could log in.
		return nil, backend.InvalidField("id", "an admin account's ID must be a UUID, such as %s", uuid.NewString())
	}
	if err := backend.ValidateName("name", name); err != nil {
		return nil, err
	}
	if err := CheckAdminSecret("the admin secret", secret); err != nil {
		return nil, err
	}
	return writeValue(s, ctx, func(o *op) (*backend.Account, error) {
		// Admin secrets are never sealed: no app secret can be bound to them.
		// They are always shown, or a regenerate would leave nobody holding one.
		row, err := o.insertAccount(account{id: id, name: name, hash: hashSecret(secret), admin: true, expose: true})
		if err != nil {
			return nil, err
		}
		a := toAccount(row, nil)
		return &a, nil
	})
}

// account is what insertAccount stores.
type account struct {
	id, name, description string
	hash                  []byte
	admin, expose         bool
	sealed                []byte
	appHost               string
	strategy              string
	overlapPeriod         time.Duration
}

func (o *op) insertAccount(a account) (store.AccountRow, error) {
	if err := o.checkAccountFree(a.id, a.name); err != nil {
		return store.AccountRow{}, err
	}
	row := store.AccountRow{
		ID:               a.id,
		Name:             a.name,
		Description:      a.description,
		SecretHash:       a.hash,
		Admin:            a.admin,
		SecretVersion:    1,
		SecretCreatedAt:  o.now,
		CreatedAt:        o.now,
		UpdatedAt:        o.now,
		ExposeSecret:     a.expose,
		SealedSecret:     a.sealed,
		AppHost:          a.appHost,
		RotationStrategy: cmp.Or(a.strategy, backend.StrategyStopFirst),
		OverlapPeriod:    cmp.Or(a.overlapPeriod, backend.DefaultOverlapPeriod),
	}
	if err := o.tx.InsertAccount(o.ctx, row); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return row, accountNameTaken(a.name)
		}
		return row, err
	}
	detail := "secret_version=1"
	if a.admin {
		detail += ", admin"
	}
	if !a.expose {
		detail += ", expose_secret=false"
	}
	if a.appHost != "" {
		detail += ", app_host=" + a.appHost
	}
	if row.RotationStrategy != backend.StrategyStopFirst {
		detail += fmt.Sprintf(", rotation_strategy=%s, overlap_period=%s", row.RotationStrategy, row.OverlapPeriod)
	}
	return row, o.audit(backend.ActionAccountCreate, backend.TargetAccount, row.ID, row.Name, detail)
}

// HasAdminAccount reports whether the store holds an admin account.
func (s *Service) HasAdminAccount(ctx context.Context) (bool, error) {
	return readValue(s, ctx, func(o *op) (bool, error) {
		rows, err := o.tx.ListAccounts(o.ctx)
		return slices.ContainsFunc(rows, func(a store.AccountRow) bool { return a.Admin }), err
	})
}

// GetAccount returns the account with id.
func (s *Service) GetAccount(ctx context.Context, id string) (*backend.Account, error) {
	return s.getAccountBy(ctx, func(o *op) (store.AccountRow, error) { return o.getAccount(id) })
}

// GetAccountByName returns the account named name.
func (s *Service) GetAccountByName(ctx context.Context, name string) (*backend.Account, error) {
	return s.getAccountBy(ctx, func(o *op) (store.AccountRow, error) {
		return lookupName(o, "API key account", name, o.tx.GetAccountByName)
	})
}

func (s *Service) getAccountBy(ctx context.Context, get func(o *op) (store.AccountRow, error)) (*backend.Account, error) {
	return readValue(s, ctx, func(o *op) (*backend.Account, error) {
		row, err := get(o)
		if err != nil {
			return nil, err
		}
		a, err := o.account(row)
		if err != nil {
			return nil, err
		}
		return &a, nil
	})
}

// ListAccounts returns the accounts sorted by name, in two queries whatever
// their number.
func (s *Service) ListAccounts(ctx context.Context, req backend.ListAccountsRequest) ([]backend.Account, error) {
	return readValue(s, ctx, func(o *op) ([]backend.Account, error) {
		rows, err := o.tx.ListAccounts(o.ctx)
		if err != nil {
			return nil, err
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{})
		if err != nil {
			return nil, err
		}
		bound := boundAppNames(secrets)
		out := []backend.Account{}
		for _, r := range rows {
			if req.Locked != nil && r.Locked != *req.Locked {
				continue
			}
			out = append(out, toAccount(r, bound[r.ID]))
		}
		return out, nil
	})
}

// UpdateAccount renames an account or changes its description or rotation
// settings; never its secret.
func (s *Service) UpdateAccount(ctx context.Context, req backend.UpdateAccountRequest) (*backend.Account, error) {
	if err := validateID("id", req.ID); err != nil {
		return nil, err
	}
	if err := backend.ValidateName("name", req.Name); err != nil {
		return nil, err
	}
	if err := validateDescription(req.Description); err != nil {
		return nil, err
	}
	return writeValue(s, ctx, func(o *op) (*backend.Account, error) {
		row, err := o.getAccount(req.ID)
		if err != nil {
			return nil, err
		}
		strategy, period, err := rotationSettings(req.RotationStrategy, req.OverlapPeriod, strategyOf(row), overlapPeriodOf(row))
		if err != nil {
			return nil, err
		}
		var changes []string
		if strategy != strategyOf(row) {
			changes = append(changes, fmt.Sprintf("rotation_strategy: %s -> %s", strategyOf(row), strategy))
		}
		if period != overlapPeriodOf(row) {
			changes = append(changes, fmt.Sprintf("overlap_period: %s -> %s", overlapPeriodOf(row), period))
		}
		if req.Name != row.Name {
			if err := o.checkAccountFree("", req.Name); err != nil {
				return nil, err
			}
			changes = append(changes, fmt.Sprintf("name: %s -> %s", row.Name, req.Name))
		}
		if req.Description != row.Description {
			changes = append(changes, "description")
		}
		if len(changes) > 0 {
			row.Name, row.Description, row.UpdatedAt = req.Name, req.Description, o.now
			row.RotationStrategy, row.OverlapPeriod = strategy, period
			if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return nil, accountNameTaken(req.Name)
				}
				return nil, err
			}
			if err := o.audit(backend.ActionAccountUpdate, backend.TargetAccount, row.ID, row.Name, "changed "+strings.Join(changes, ", ")); err != nil {
				return nil, err
			}
		}
		a, err := o.account(row)
		if err != nil {
			return nil, err
		}
		return &a, nil
	})
}

// DeleteAccount deletes the account. It is refused while any app secret is
// bound to it: the apps would be left with a secret that can never log in.
func (s *Service) DeleteAccount(ctx context.Context, req backend.DeleteAccountRequest) error {
	if err := validateID("id", req.ID); err != nil {
		return err
	}
	return s.write(ctx, func(o *op) error {
		row, err := o.getAccount(req.ID)
		if err != nil {
			return err
		}
		if err := o.refuseLastAdmin(row, "deleted", "create another admin account first"); err != nil {
			return err
		}
		apps, err := o.accountApps(row.ID)
		if err != nil {
			return err
		}
		if len(apps) > 0 {
			return backend.InUseError(row.Name, apps)
		}
		if err := o.tx.DeleteAccount(o.ctx, row.ID); err != nil {
			return err
		}
		return o.audit(backend.ActionAccountDelete, backend.TargetAccount, row.ID, row.Name, "")
	})
}
