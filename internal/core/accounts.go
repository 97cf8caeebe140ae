package core

import (
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
	if !backend.CleanText(id) {
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

func toAccount(r store.AccountRow, apps []string) backend.Account {
	if apps == nil {
		apps = []string{}
	}
	return backend.Account{
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
		ExposeSecret:        r.ExposeSecret,
		HasSealedSecret:     r.SealedSecret != nil,
		Apps:                apps,
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
	expose := req.ExposeSecret == nil || *req.ExposeSecret
	secret, hash := newSecret()
	var out *backend.AccountWithSecret
	err := s.write(ctx, func(o *op) error {
		row, err := o.insertAccount(account{
			id: uuid.NewString(), name: req.Name, description: req.Description, hash: hash,
			expose: expose, sealed: s.box.Seal([]byte(secret)),
		})
		if err != nil {
			return err
		}
		out = withSecret(toAccount(row, nil), secret)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
	var out *backend.Account
	err := s.write(ctx, func(o *op) error {
		// Admin secrets are never sealed: no app secret can be bound to them.
		// They are always shown, or a regenerate would leave nobody holding one.
		row, err := o.insertAccount(account{id: id, name: name, hash: hashSecret(secret), admin: true, expose: true})
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

// account is what insertAccount stores.
type account struct {
	id, name, description string
	hash                  []byte
	admin, expose         bool
	sealed                []byte
}

func (o *op) insertAccount(a account) (store.AccountRow, error) {
	if err := o.checkAccountFree(a.id, a.name); err != nil {
		return store.AccountRow{}, err
	}
	row := store.AccountRow{
		ID:              a.id,
		Name:            a.name,
		Description:     a.description,
		SecretHash:      a.hash,
		Admin:           a.admin,
		SecretVersion:   1,
		SecretCreatedAt: o.now,
		CreatedAt:       o.now,
		UpdatedAt:       o.now,
		ExposeSecret:    a.expose,
		SealedSecret:    a.sealed,
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
	return row, o.audit(backend.ActionAccountCreate, backend.TargetAccount, row.ID, row.Name, detail)
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
func (s *Service) GetAccount(ctx context.Context, id string) (*backend.Account, error) {
	return s.getAccountBy(ctx, func(o *op) (store.AccountRow, error) { return o.getAccount(id) })
}

// GetAccountByName returns the account named name.
func (s *Service) GetAccountByName(ctx context.Context, name string) (*backend.Account, error) {
	return s.getAccountBy(ctx, func(o *op) (store.AccountRow, error) {
		if !backend.CleanText(name) {
			return store.AccountRow{}, backend.Errorf(backend.CodeNotFound, "no API key account named %q", name)
		}
		a, err := o.tx.GetAccountByName(o.ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return a, backend.Errorf(backend.CodeNotFound, "no API key account named %q", name)
		}
		return a, err
	})
}

func (s *Service) getAccountBy(ctx context.Context, get func(o *op) (store.AccountRow, error)) (*backend.Account, error) {
	var out *backend.Account
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
func (s *Service) ListAccounts(ctx context.Context, req backend.ListAccountsRequest) ([]backend.Account, error) {
	out := []backend.Account{}
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
	var out *backend.Account
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
			if err := o.audit(backend.ActionAccountUpdate, backend.TargetAccount, row.ID, row.Name, "changed "+strings.Join(changes, ", ")); err != nil {
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

// RegenerateSecret rotates the account's secret in one transaction, in the
// order of the hand procedure: undeploy every app meant to be deployed with a
// secret bound to the account, regenerate the secret (same ID,
// secret_version+1, unlocked, failed logins reset), seal it into every bound
// app secret, and deploy those apps again (each logs in with the new secret).
// Only a store error rolls it back; a failed login of an app as another
// account is that account's business and does not.
func (s *Service) RegenerateSecret(ctx context.Context, req backend.RegenerateRequest) (*backend.AccountWithSecret, error) {
	if err := validateID("id", req.ID); err != nil {
		return nil, err
	}
	if err := validateText("idempotency_key", req.IdempotencyKey, backend.MaxNameLength); err != nil {
		return nil, err
	}
	if req.ExpectedSecretVersion < 0 {
		return nil, backend.InvalidField("expected_secret_version", "expected_secret_version must not be negative")
	}
	var out *backend.AccountWithSecret
	err := s.write(ctx, func(o *op) error {
		row, err := o.getAccount(req.ID)
		if err != nil {
			return err
		}
		if err := o.tx.DeleteIdempotencyBefore(o.ctx, o.now.Add(-backend.IdempotencyWindow)); err != nil {
			return err
		}
		if req.IdempotencyKey != "" {
			// A retry of a rotation that went through returns its result
			// rather than rotating again.
			prev, err := o.tx.GetIdempotency(o.ctx, row.ID, req.IdempotencyKey)
			if err == nil {
				out, err = o.replayRegenerate(row, prev)
				return err
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if req.ExpectedSecretVersion != 0 && req.ExpectedSecretVersion != row.SecretVersion {
			return backend.Errorf(backend.CodeVersionMismatch,
				"the secret of API key account %q is at secret_version %d, not %d as this request expected: it was "+
					"regenerated since the plan was made. Nothing was changed; plan again",
				row.Name, row.SecretVersion, req.ExpectedSecretVersion)
		}
		if req.ExposeSecret != nil {
			row.ExposeSecret = *req.ExposeSecret
		}
		if row.Admin && !row.ExposeSecret {
			// Nobody would hold the new secret: as good as a deletion.
			if err := o.refuseLastAdmin(row, "regenerated with expose_secret = false (nobody would hold its new secret)",
				"regenerate it with expose_secret = true"); err != nil {
				return err
			}
		}
		secret, err := o.rotate(&row)
		if err != nil {
			return err
		}
		if req.IdempotencyKey != "" {
			// With expose_secret = false the replay carries no secret, so none is kept.
			var sealed []byte
			if row.ExposeSecret {
				sealed = o.s.box.Seal([]byte(secret))
			}
			if err := o.tx.PutIdempotency(o.ctx, store.IdempotencyRow{
				AccountID:     row.ID,
				Key:           req.IdempotencyKey,
				SealedSecret:  sealed,
				SecretVersion: row.SecretVersion,
				CreatedAt:     o.now,
			}); err != nil {
				return err
			}
		}
		// Read back what the rotation stored, with the apps bound to it.
		row, err = o.getAccount(row.ID)
		if err != nil {
			return err
		}
		a, err := o.account(row)
		if err != nil {
			return err
		}
		out = withSecret(a, secret)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// replayRegenerate returns the remembered result of a rotation.
func (o *op) replayRegenerate(row store.AccountRow, prev store.IdempotencyRow) (*backend.AccountWithSecret, error) {
	a, err := o.account(row)
	if err != nil {
		return nil, err
	}
	a.SecretVersion = prev.SecretVersion
	if !a.ExposeSecret || len(prev.SealedSecret) == 0 {
		return withSecret(a, ""), nil
	}
	plain, err := o.s.box.Open(prev.SealedSecret)
	if err != nil {
		return nil, &backend.Error{Code: backend.CodeKeyFile, Message: "cannot decrypt the remembered result of this regenerate request", Err: err}
	}
	return withSecret(a, string(plain)), nil
}

// rotate carries out the four steps of a rotation on row (already read in
// this transaction) and returns the new secret.
func (o *op) rotate(row *store.AccountRow) (string, error) {
	apps, err := o.tx.ListAppsBoundTo(o.ctx, row.ID)
	if err != nil {
		return "", err
	}
	apps = slices.DeleteFunc(apps, func(a store.AppRow) bool { return !a.Deployed })

	// 1. Undeploy: no app logs in while the secret changes.
	stopped := make(map[string]time.Time, len(apps))
	for i := range apps {
		at, err := o.pause(&apps[i], "to rotate API key account "+row.Name)
		if err != nil {
			return "", err
		}
		stopped[apps[i].ID] = at
	}

	// 2. Regenerate.
	secret, hash := newSecret()
	row.SecretHash = hash
	row.SecretVersion++
	row.SecretCreatedAt = o.now
	row.Locked = false
	row.FailedLoginAttempts = 0
	row.UpdatedAt = o.now
	if !row.Admin {
		row.SealedSecret = o.s.box.Seal([]byte(secret))
	}
	if err := o.tx.UpdateAccount(o.ctx, *row); err != nil {
		return "", err
	}
	detail := fmt.Sprintf("secret_version=%d, apps=%d", row.SecretVersion, len(apps))
	if !row.ExposeSecret {
		detail += ", expose_secret=false"
	}
	if err := o.audit(backend.ActionAccountRegenerate, backend.TargetAccount, row.ID, row.Name, detail); err != nil {
		return "", err
	}

	// 3. Seal the new secret into every app secret bound to the account. One
	// read gives them and the other secrets of their apps, which step 4
	// deploys with.
	secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{OfAppsBoundTo: row.ID})
	if err != nil {
		return "", err
	}
	for i := range secrets {
		sec := &secrets[i]
		if sec.AccountID != row.ID {
			continue
		}
		sec.Ciphertext = o.s.box.Seal([]byte(secret))
		sec.UpdatedAt = o.now
		if err := o.tx.PutAppSecret(o.ctx, *sec); err != nil {
			return "", err
		}
		id, name := secretTarget(sec.AppID, sec.AppName, sec.Name)
		if err := o.audit(backend.ActionAppSecretPut, backend.TargetAppSecret, id, name,
			fmt.Sprintf("api_key_account=%s, sealed by rotation to secret_version=%d", row.Name, row.SecretVersion)); err != nil {
			return "", err
		}
	}

	// 4. Deploy the apps again; each logs in with its secrets.
	byApp := map[string][]store.AppSecretRow{}
	for _, sec := range secrets {
		byApp[sec.AppID] = append(byApp[sec.AppID], sec)
	}
	for i := range apps {
		if err := o.deployWith(&apps[i], byApp[apps[i].ID], stopped[apps[i].ID]); err != nil {
			return "", err
		}
	}
	return secret, nil
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
