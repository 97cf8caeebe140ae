package core

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// MinAdminSecretLength is the shortest admin secret accepted from outside
// (APPHOST_ADMIN_KEY_SECRET): generated secrets are 256 random bits in 43
// base64url characters, and an admin secret is what every guess aims at.
const MinAdminSecretLength = 32

// MinAdminSecretDistinct is how many different characters an admin secret
// from outside must hold at least: 32 spaces are 32 characters and no
// secret. (32 random hex digits hold 8 or more all but once in a million.)
const MinAdminSecretDistinct = 8

// CheckAdminSecret refuses an admin secret from outside that is too short,
// too long or too uniform to be a random one. Its errors name the variable
// the secret came from, never the secret.
func CheckAdminSecret(from, secret string) error {
	distinct := map[rune]bool{}
	for _, c := range secret {
		distinct[c] = true
	}
	const how = "use a random one, such as 32 random bytes in base64 (openssl rand -base64 32), or let serve generate one"
	switch {
	case len(secret) < MinAdminSecretLength:
		return backend.InvalidField("secret", "%s has %d characters; an admin secret must have at least %d: %s",
			from, len(secret), MinAdminSecretLength, how)
	case len(secret) > backend.MaxSecretValueLength:
		return backend.InvalidField("secret", "%s is %d bytes long; the limit is %d", from, len(secret), backend.MaxSecretValueLength)
	case len(distinct) < MinAdminSecretDistinct:
		return backend.InvalidField("secret", "%s has only %d different characters; an admin secret must have at least %d: %s",
			from, len(distinct), MinAdminSecretDistinct, how)
	}
	return nil
}

// ActorRecoverAdmin is the audit actor of the recover-admin command.
const ActorRecoverAdmin = "recover-admin"

// ActorServe is the audit actor of what serve does on its own: creating the
// admin account of an empty store.
const ActorServe = "serve"

// adminName is the name of an admin account that recover-admin creates.
const adminName = "admin"

// refuseLastAdmin fails when row is the store's only admin account: what
// would be done to it (deleted, or regenerated with a secret nobody sees)
// would leave the admin API with no way in. instead says what to do.
func (o *op) refuseLastAdmin(row store.AccountRow, what, instead string) error {
	if !row.Admin {
		return nil
	}
	rows, err := o.tx.ListAccounts(o.ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range rows {
		if r.Admin {
			n++
		}
	}
	if n > 1 {
		return nil
	}
	return backend.Errorf(backend.CodeConflict, "API key account %q is the last admin account and cannot be %s: "+
		"the admin API would have no account left to log in with; %s", row.Name, what, instead)
}

// RecoverResult is what RecoverAdmin did.
type RecoverResult struct {
	Account backend.Account
	// Secret is the new secret; "" with unlock only.
	Secret string
	// Created is set when no admin account was left and one was created.
	Created bool
}

// RecoverAdmin is the break-glass way back into the admin API for whoever
// holds the store: it regenerates the secret of the admin account id (""
// means the oldest admin account) and unlocks it, or, with no admin account
// left and no id given, creates one. With unlockOnly it unlocks and resets
// the failed logins without a new secret. It is audited as the actor
// recover-admin (api_key_account.regenerate, .create or .update).
func (s *Service) RecoverAdmin(ctx context.Context, id string, unlockOnly bool) (*RecoverResult, error) {
	if id != "" {
		if err := validateID("key_id", id); err != nil {
			return nil, err
		}
	}
	ctx = WithActor(ctx, ActorRecoverAdmin)
	return writeValue(s, ctx, func(o *op) (*RecoverResult, error) {
		rows, err := o.tx.ListAccounts(o.ctx)
		if err != nil {
			return nil, err
		}
		admins := slices.DeleteFunc(rows, func(r store.AccountRow) bool { return !r.Admin })
		slices.SortFunc(admins, func(a, b store.AccountRow) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			if a.ID < b.ID {
				return -1
			}
			return 1
		})
		var row store.AccountRow
		switch {
		case id != "":
			i := slices.IndexFunc(admins, func(r store.AccountRow) bool { return r.ID == id })
			if i < 0 {
				if r, err := o.tx.GetAccount(o.ctx, id); err == nil {
					return nil, backend.InvalidField("key_id", "API key account %q (%s) is not an admin account; recover-admin recovers admin accounts only", r.Name, id)
				}
				return nil, backend.Errorf(backend.CodeNotFound, "no API key account with ID %s in this store; omit --key-id to recover the oldest admin account", id)
			}
			row = admins[i]
		case len(admins) > 0:
			row = admins[0]
		case unlockOnly:
			return nil, backend.Errorf(backend.CodeNotFound, "the store has no admin account to unlock; run recover-admin without --unlock-only to create one")
		default:
			secret, hash := newSecret()
			name := adminName
			if _, err := o.tx.GetAccountByName(o.ctx, name); err == nil {
				name = adminName + "-" + uuid.NewString()[:8]
			}
			row, err := o.insertAccount(account{
				id: uuid.NewString(), name: name, description: "created by recover-admin", hash: hash, admin: true, expose: true,
			})
			if err != nil {
				return nil, err
			}
			return &RecoverResult{Account: toAccount(row, nil), Secret: secret, Created: true}, nil
		}

		wasLocked, failed := row.Locked, row.FailedLoginAttempts
		row.Locked, row.FailedLoginAttempts, row.UpdatedAt = false, 0, o.now
		if unlockOnly {
			if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
				return nil, err
			}
			if err := o.audit(backend.ActionAccountUpdate, backend.TargetAccount, row.ID, row.Name,
				fmt.Sprintf("unlocked (was locked=%t, failed_login_attempts=%d)", wasLocked, failed)); err != nil {
				return nil, err
			}
			return &RecoverResult{Account: toAccount(row, nil)}, nil
		}
		secret, hash := newSecret()
		row.SecretHash = hash
		row.SecretVersion++
		row.SecretCreatedAt = o.now
		if err := o.tx.UpdateAccount(o.ctx, row); err != nil {
			return nil, err
		}
		if err := o.audit(backend.ActionAccountRegenerate, backend.TargetAccount, row.ID, row.Name,
			fmt.Sprintf("secret_version=%d, unlocked (was locked=%t, failed_login_attempts=%d)", row.SecretVersion, wasLocked, failed)); err != nil {
			return nil, err
		}
		return &RecoverResult{Account: toAccount(row, nil), Secret: secret}, nil
	})
}
