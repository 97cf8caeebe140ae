package core

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// Page reads of the web console (package console). They are methods of
// Service, not of the Backend interface: the console runs inside serve, next
// to the store, and reads one page per query however many rows there are.

// MaxPageSize bounds the limit of a page read.
const MaxPageSize = 500

// consoleKeySetting is the store-wide setting holding the console's session
// signing key, so that every replica on the store accepts every session.
const consoleKeySetting = "console_session_key"

func checkLimit(limit int) error {
	if limit < 1 || limit > MaxPageSize {
		return backend.InvalidField("limit", "limit must be between 1 and %d, got %d", MaxPageSize, limit)
	}
	return nil
}

// AccountsPage returns up to limit accounts named after after, sorted by
// name, each with the names of its bound apps: two queries a page.
func (s *Service) AccountsPage(ctx context.Context, after string, limit int) ([]backend.Account, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	return readValue(s, ctx, func(o *op) ([]backend.Account, error) {
		rows, err := o.tx.ListAccountsPage(o.ctx, after, limit)
		if err != nil {
			return nil, err
		}
		out := []backend.Account{}
		if len(rows) == 0 {
			return out, nil
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AccountIDs: rowIDs(rows, accountID)})
		if err != nil {
			return nil, err
		}
		bound := boundAppNames(secrets)
		for _, r := range rows {
			out = append(out, toAccount(r, bound[r.ID]))
		}
		return out, nil
	})
}

// AppsPage returns up to limit apps named after after, sorted by name, each
// with its secrets (never their values): two queries a page.
func (s *Service) AppsPage(ctx context.Context, after string, limit int) ([]backend.App, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	return readValue(s, ctx, func(o *op) ([]backend.App, error) {
		rows, err := o.tx.ListAppsPage(o.ctx, after, limit)
		if err != nil {
			return nil, err
		}
		out := []backend.App{}
		if len(rows) == 0 {
			return out, nil
		}
		secrets, err := o.tx.ListAppSecrets(o.ctx, store.AppSecretFilter{AppIDs: rowIDs(rows, appID)})
		if err != nil {
			return nil, err
		}
		byApp := secretsByApp(secrets)
		for _, r := range rows {
			out = append(out, toApp(r, byApp[r.ID]))
		}
		return out, nil
	})
}

func accountID(r store.AccountRow) string { return r.ID }
func appID(r store.AppRow) string         { return r.ID }

// rowIDs returns the IDs of one page of rows.
func rowIDs[R any](rows []R, id func(R) string) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = id(r)
	}
	return ids
}

// AccountNames returns the names of the accounts with these IDs (unknown
// IDs are left out), in one read.
func (s *Service) AccountNames(ctx context.Context, ids []string) (map[string]string, error) {
	return readValue(s, ctx, func(o *op) (map[string]string, error) {
		out := map[string]string{}
		for _, id := range ids {
			if _, ok := out[id]; ok {
				continue
			}
			a, err := o.tx.GetAccount(o.ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[id] = a.Name
		}
		return out, nil
	})
}

// AuditPageQuery selects one page of the audit log, newest first.
type AuditPageQuery struct {
	// BeforeSeq keeps events with a smaller sequence number; 0 does not filter.
	BeforeSeq int64
	// TargetID keeps the events of this account or app (and of the app's
	// secrets); "" does not filter.
	TargetID string
	// Action keeps the events of this action; "" does not filter.
	Action string
	// Limit caps the page, between 1 and MaxPageSize.
	Limit int
}

// AuditPage returns one page of the audit log, newest first, in one query.
func (s *Service) AuditPage(ctx context.Context, q AuditPageQuery) ([]backend.AuditEvent, error) {
	if err := checkLimit(q.Limit); err != nil {
		return nil, err
	}
	if q.BeforeSeq < 0 {
		return nil, backend.InvalidField("before_seq", "before_seq must not be negative")
	}
	return readValue(s, ctx, func(o *op) ([]backend.AuditEvent, error) {
		rows, err := o.tx.ListAuditPage(o.ctx, store.AuditPage{BeforeSeq: q.BeforeSeq, TargetID: q.TargetID, Action: q.Action, Limit: q.Limit})
		return toAuditEvents(rows), err
	})
}

// toAuditEvents returns the events of rows, never nil.
func toAuditEvents(rows []store.AuditRow) []backend.AuditEvent {
	out := make([]backend.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = backend.AuditEvent{
			Seq:        r.Seq,
			Time:       r.Time.UTC(),
			Actor:      r.Actor,
			Action:     r.Action,
			TargetType: r.TargetType,
			TargetID:   r.TargetID,
			TargetName: r.TargetName,
			Detail:     r.Detail,
		}
	}
	return out
}

// ConsoleSessionKey returns the store's key for signing console sessions,
// creating a random one (256 bits) the first time: every process on the
// store reads the same key, so a session made on one replica is good on
// every other. The key never leaves the server.
func (s *Service) ConsoleSessionKey(ctx context.Context) ([]byte, error) {
	key, err := readValue(s, ctx, func(o *op) ([]byte, error) {
		return o.tx.GetSetting(o.ctx, consoleKeySetting)
	})
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	// Made under the write lock: of two replicas starting at once, the
	// second finds the first's key.
	err = s.st.Write(ctx, func(tx store.Tx) error {
		k, err := tx.GetSetting(ctx, consoleKeySetting)
		if err == nil && len(k) >= 32 {
			key = k
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("generating the console session key: %w", err)
		}
		return tx.PutSetting(ctx, consoleKeySetting, key)
	})
	if err != nil {
		return nil, mapError(err)
	}
	return key, nil
}

// consoleSignOutSetting prefixes the store-wide setting that holds the
// console sessions an account signed out of, so that every replica refuses
// them until they expire.
const consoleSignOutSetting = "console_signed_out:"

// maxSignedOut bounds the sessions remembered per account; past it, every
// session the account signed in to before now is refused instead.
const maxSignedOut = 256

// signedOut is the value of a consoleSignOutSetting.
type signedOut struct {
	// Before refuses every session issued before it (Unix seconds), once the
	// list below was full.
	Before int64 `json:"before,omitempty"`
	// Sessions maps a signed-out session's ID to its expiry (Unix seconds).
	Sessions map[string]int64 `json:"sessions,omitempty"`
}

// SignOutConsoleSession ends the console session id of accountID, good until
// expires, on every replica of the store: it is remembered until it expires
// (ConsoleSessionEnded).
func (s *Service) SignOutConsoleSession(ctx context.Context, accountID, id string, expires time.Time) error {
	name := consoleSignOutSetting + accountID
	err := s.st.Write(ctx, func(tx store.Tx) error {
		var so signedOut
		if raw, err := tx.GetSetting(ctx, name); err == nil {
			var ok bool
			if so, ok = decodeSignedOut(raw); !ok {
				so = signedOut{Before: s.now().Unix()} // unreadable: end them all
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.now().Unix()
		for sid, exp := range so.Sessions {
			if exp <= now {
				delete(so.Sessions, sid)
			}
		}
		if len(so.Sessions) >= maxSignedOut {
			so = signedOut{Before: max(so.Before, now)}
		}
		if so.Sessions == nil {
			so.Sessions = map[string]int64{}
		}
		so.Sessions[id] = expires.Unix()
		raw, err := json.Marshal(so)
		if err != nil {
			return err
		}
		return tx.PutSetting(ctx, name, raw)
	})
	return mapError(err)
}

// ConsoleSessionEnded reports whether the console session id of accountID,
// issued at issued, was signed out (SignOutConsoleSession).
func (s *Service) ConsoleSessionEnded(ctx context.Context, accountID, id string, issued time.Time) (bool, error) {
	var raw []byte
	err := s.read(ctx, func(o *op) error {
		var err error
		raw, err = o.tx.GetSetting(o.ctx, consoleSignOutSetting+accountID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil || raw == nil {
		return false, err
	}
	so, ok := decodeSignedOut(raw)
	if !ok {
		return true, nil // unreadable: refuse the session, a sign-in makes a new one
	}
	_, listed := so.Sessions[id]
	return listed || issued.Unix() < so.Before, nil
}

func decodeSignedOut(raw []byte) (signedOut, bool) {
	var so signedOut
	return so, json.Unmarshal(raw, &so) == nil
}
