package backend

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// secretPrefix marks apphost key secrets, so secret scanners and people can
// tell them apart from other tokens.
const secretPrefix = "ahk_"

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

func accountNotFound(id string) *Error {
	return Errorf(CodeNotFound, "API key account %q not found", id)
}

func accountNameTaken(name string) *Error {
	return Errorf(CodeConflict, "an API key account named %q already exists", name)
}

func (o *op) getAccount(id string) (store.AccountRow, error) {
	if !CleanText(id) {
		return store.AccountRow{}, accountNotFound(id)
	}
	a, err := o.tx.GetAccount(o.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a, accountNotFound(id)
	}
	return a, err
}

// checkAccountFree fails when the ID or the name is already used.
func (o *op) checkAccountFree(id, name string) error {
	if id != "" {
		if _, err := o.tx.GetAccount(o.ctx, id); err == nil {
			return Errorf(CodeConflict, "an API key account with ID %q already exists", id)
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
func (o *op) account(row store.AccountRow) (Account, error) {
	apps, err := o.accountApps(row.ID)
	if err != nil {
		return Account{}, err
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

func toAccount(r store.AccountRow, apps []string) Account {
	if apps == nil {
		apps = []string{}
	}
	return Account{
		ID:                  r.ID,
		Name:                r.Name,
		Description:         r.Description,
		SecretVersion:       r.SecretVersion,
		SecretCreatedAt:     r.SecretCreatedAt.UTC(),
		Locked:              r.Locked,
		FailedLoginAttempts: r.FailedLoginAttempts,
		Admin:               r.Admin,
		CreatedAt:           r.CreatedAt.UTC(),
		UpdatedAt:           r.UpdatedAt.UTC(),
		Apps:                apps,
	}
}

// CreateAccount creates a non-admin account with a new secret, returned once.
func (s *Service) CreateAccount(ctx context.Context, req CreateAccountRequest) (*AccountWithSecret, error) {
	if err := validateName("name", req.Name); err != nil {
		return nil, err
	}
	if err := validateDescription(req.Description); err != nil {
		return nil, err
	}
	secret, hash := newSecret()
	var out *AccountWithSecret
	err := s.write(ctx, func(o *op) error {
		row, err := o.insertAccount(uuid.NewString(), req.Name, req.Description, hash, false)
		if err != nil {
			return err
		}
		out = &AccountWithSecret{Account: toAccount(row, nil), Secret: secret}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateAdminAccount creates an admin account with the given ID and secret:
// the server's bootstrap from APPHOST_ADMIN_KEY_ID and APPHOST_ADMIN_KEY_SECRET.
func (s *Service) CreateAdminAccount(ctx context.Context, id, name, secret string) (*Account, error) {
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	if err := validateName("name", name); err != nil {
		return nil, err
	}
	if len(secret) < MinAdminSecretLength {
		return nil, InvalidField("secret", "an admin secret must have at least %d characters, this one has %d: "+
			"use a random one, such as 32 random bytes in base64url (openssl rand -base64 32), or let serve generate one", MinAdminSecretLength, len(secret))
	}
	if len(secret) > MaxSecretValueLength {
		return nil, InvalidField("secret", "secret is %d bytes long; the limit is %d", len(secret), MaxSecretValueLength)
	}
	var out *Account
	err := s.write(ctx, func(o *op) error {
		row, err := o.insertAccount(id, name, "", hashSecret(secret), true)
		if err != nil {
			return err
		}
		a := toAccount(row, nil)
		out = &a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (o *op) insertAccount(id, name, description string, hash []byte, admin bool) (store.AccountRow, error) {
	if err := o.checkAccountFree(id, name); err != nil {
		return store.AccountRow{}, err
	}
	row := store.AccountRow{
		ID:              id,
		Name:            name,
		Description:     description,
		SecretHash:      hash,
		Admin:           admin,
		SecretVersion:   1,
		SecretCreatedAt: o.now,
		CreatedAt:       o.now,
		UpdatedAt:       o.now,
	}
	if err := o.tx.InsertAccount(o.ctx, row); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return row, accountNameTaken(name)
		}
		return row, err
	}
	detail := "secret_version=1"
	if admin {
		detail += ", admin"
	}
	return row, o.audit(ActionAccountCreate, TargetAccount, row.ID, row.Name, detail)
}

// HasAdminAccount reports whether the store holds an admin account.
func (s *Service) HasAdminAccount(ctx context.Context) (bool, error) {
	var has bool
	err := s.read(ctx, func(o *op) error {
		rows, err := o.tx.ListAccounts(o.ctx)
		if err != nil {
			return err
		}
		has = slices.ContainsFunc(rows, func(a store.AccountRow) bool { return a.Admin })
		return nil
	})
	return has, err
}

// GetAccount returns the account with id.
func (s *Service) GetAccount(ctx context.Context, id string) (*Account, error) {
	return s.getAccountBy(ctx, func(o *op) (store.AccountRow, error) { return o.getAccount(id) })
}

// GetAccountByName returns the account named name.
func (s *Service) GetAccountByName(ctx context.Context, name string) (*Account, error) {
	return s.getAccountBy(ctx, func(o *op) (store.AccountRow, error) {
		if !CleanText(name) {
			return store.AccountRow{}, Errorf(CodeNotFound, "no API key account named %q", name)
		}
		a, err := o.tx.GetAccountByName(o.ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return a, Errorf(CodeNotFound, "no API key account named %q", name)
		}
		return a, err
	})
}

func (s *Service) getAccountBy(ctx context.Context, get func(o *op) (store.AccountRow, error)) (*Account, error) {
	var out *Account
	err := s.read(ctx, func(o *op) error {
		row, err := get(o)
		if err != nil {
			return err
		}
		a, err := o.account(row)
		if err != nil {
			return err
		}
		out = &a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListAccounts returns the accounts sorted by name, in two queries whatever
// their number.
func (s *Service) ListAccounts(ctx context.Context, req ListAccountsRequest) ([]Account, error) {
	out := []Account{}
	err := s.read(ctx, func(o *op) error {
		rows, err := o.tx.ListAccounts(o.ctx)
		if err != nil {
			return err
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{})
		if err != nil {
			return err
		}
		bound := boundAppNames(secrets)
		for _, r := range rows {
			if req.Locked != nil && r.Locked != *req.Locked {
				continue
			}
			out = append(out, toAccount(r, bound[r.ID]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateAccount renames an account or changes its description; never its secret.
func (s *Service) UpdateAccount(ctx context.Context, req UpdateAccountRequest) (*Account, error) {
	if err := validateID("id", req.ID); err != nil {
		return nil, err
	}
	if err := validateName("name", req.Name); err != nil {
		return nil, err
	}
	if err := validateDescription(req.Description); err != nil {
		return nil, err
	}
	var out *Account
	err := s.write(ctx, func(o *op) error {
		row, err := o.getAccount(req.ID)
		if err != nil {
			return err
		}
		var changes []string
		if req.Name != row.Name {
			if err := o.checkAccountFree("", req.Name); err != nil {
				return err
			}
			changes = append(changes, fmt.Sprintf("name: %s -> %s", row.Name, req.Name))
		}
		if req.Description != row.Description {
			changes = append(changes, "description")
		}
		if len(changes) > 0 {
			row.Name, row.Description, row.UpdatedAt = req.Name, req.Description, o.now
			if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return accountNameTaken(req.Name)
				}
				return err
			}
			if err := o.audit(ActionAccountUpdate, TargetAccount, row.ID, row.Name, "changed "+strings.Join(changes, ", ")); err != nil {
				return err
			}
		}
		a, err := o.account(row)
		if err != nil {
			return err
		}
		out = &a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// runningBoundApps returns the sorted names of the running (or failing) apps
// with a secret bound to account id.
func (o *op) runningBoundApps(id string) ([]string, error) {
	apps, err := o.tx.ListAppsBoundTo(o.ctx, id)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, a := range apps {
		if (App{Status: a.Status}).Running() {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// RegenerateSecret gives the account a new secret (same ID), secret_version+1,
// unlocks it and resets its failed logins; then every running app bound to it
// logs in again with the secret it holds, as the App Host does.
func (s *Service) RegenerateSecret(ctx context.Context, req RegenerateRequest) (*AccountWithSecret, error) {
	if err := validateID("id", req.ID); err != nil {
		return nil, err
	}
	if err := validateText("idempotency_key", req.IdempotencyKey, MaxNameLength); err != nil {
		return nil, err
	}
	var out *AccountWithSecret
	err := s.write(ctx, func(o *op) error {
		row, err := o.getAccount(req.ID)
		if err != nil {
			return err
		}
		if err := o.tx.DeleteIdempotencyBefore(o.ctx, o.now.Add(-IdempotencyWindow)); err != nil {
			return err
		}
		if req.IdempotencyKey != "" {
			// A retry of a regenerate that went through returns its result
			// rather than invalidating the secret the caller already holds.
			prev, err := o.tx.GetIdempotency(o.ctx, row.ID, req.IdempotencyKey)
			if err == nil {
				plain, err := o.s.box.Open(prev.SealedSecret)
				if err != nil {
					return &Error{Code: CodeKeyFile, Message: "cannot decrypt the remembered result of this regenerate request", Err: err}
				}
				a, err := o.account(row)
				if err != nil {
					return err
				}
				out = &AccountWithSecret{Account: a, Secret: string(plain)}
				out.SecretVersion = prev.SecretVersion
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if req.RefuseIfAppsRunning {
			running, err := o.runningBoundApps(row.ID)
			if err != nil {
				return err
			}
			if len(running) > 0 {
				return AppsRunningError(row.Name, running)
			}
		}

		secret, hash := newSecret()
		row.SecretHash = hash
		row.SecretVersion++
		row.SecretCreatedAt = o.now
		row.Locked = false
		row.FailedLoginAttempts = 0
		row.UpdatedAt = o.now
		if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
			return err
		}
		if err := o.audit(ActionAccountRegenerate, TargetAccount, row.ID, row.Name,
			fmt.Sprintf("secret_version=%d", row.SecretVersion)); err != nil {
			return err
		}
		if req.IdempotencyKey != "" {
			if err := o.tx.PutIdempotency(o.ctx, store.IdempotencyRow{
				AccountID:     row.ID,
				Key:           req.IdempotencyKey,
				SealedSecret:  o.s.box.Seal([]byte(secret)),
				SecretVersion: row.SecretVersion,
				CreatedAt:     o.now,
			}); err != nil {
				return err
			}
		}
		if err := o.reloadAppsBoundTo(row.ID); err != nil {
			return err
		}
		// The runtime may have locked the account again: return what is stored.
		row, err = o.getAccount(row.ID)
		if err != nil {
			return err
		}
		a, err := o.account(row)
		if err != nil {
			return err
		}
		out = &AccountWithSecret{Account: a, Secret: secret}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteAccount deletes the account and the app secrets bound to it.
func (s *Service) DeleteAccount(ctx context.Context, req DeleteAccountRequest) error {
	if err := validateID("id", req.ID); err != nil {
		return err
	}
	return s.write(ctx, func(o *op) error {
		row, err := o.getAccount(req.ID)
		if err != nil {
			return err
		}
		if err := o.refuseLastAdmin(row); err != nil {
			return err
		}
		if req.RefuseIfAppsRunning {
			running, err := o.runningBoundApps(row.ID)
			if err != nil {
				return err
			}
			if len(running) > 0 {
				return AppsRunningError(row.Name, running)
			}
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AccountID: row.ID})
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			if err := o.deleteAppSecret(sec, "account deleted"); err != nil {
				return err
			}
		}
		if err := o.tx.DeleteAccount(o.ctx, row.ID); err != nil {
			return err
		}
		return o.audit(ActionAccountDelete, TargetAccount, row.ID, row.Name, "")
	})
}
