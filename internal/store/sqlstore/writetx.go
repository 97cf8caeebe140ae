package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/apphost/terraform-provider-apphost/internal/store"
)

// writeTx is a write transaction that remembers, for as long as it runs,
// what it has read or written of accounts and the last audit sequence
// number. A write transaction holds the database's write lock (SQLite's one
// writer, PostgreSQL's advisory lock) from its first statement to its end,
// so nothing else can change those rows in between: the repeated reads of a
// group of logins (one account, one next sequence number per login) are
// then answered from memory instead of by a query each.
//
// Audit events after the first are also written in batches: kept until the
// transaction ends (or reads the audit log), then inserted a batch of rows
// per statement, which costs a group of logins one statement instead of one
// per login. Their sequence numbers are assigned at once, as before.
type writeTx struct {
	*tx
	accounts map[string]store.AccountRow
	lastSeq  int64 // 0: not known yet
	pending  []pendingAudit
	ctx      context.Context // of the last pending event
}

type pendingAudit struct {
	seq int64
	e   store.AuditRow
}

// auditBatch bounds the rows of one INSERT (8 parameters each: well under
// SQLite's and PostgreSQL's limits).
const auditBatch = 200

func newWriteTx(t *tx) *writeTx { return &writeTx{tx: t} }

func (w *writeTx) remember(a store.AccountRow) {
	if w.accounts == nil {
		w.accounts = map[string]store.AccountRow{}
	}
	w.accounts[a.ID] = a
}

// GetAccount implements store.Tx from memory when it can.
func (w *writeTx) GetAccount(ctx context.Context, id string) (store.AccountRow, error) {
	if a, ok := w.accounts[id]; ok {
		return a, nil
	}
	a, err := w.tx.GetAccount(ctx, id)
	if err == nil {
		w.remember(a)
	}
	return a, err
}

// InsertAccount implements store.Tx.
func (w *writeTx) InsertAccount(ctx context.Context, a store.AccountRow) error {
	return w.writeAccount(ctx, a, w.tx.InsertAccount)
}

// UpdateAccount implements store.Tx.
func (w *writeTx) UpdateAccount(ctx context.Context, a store.AccountRow) error {
	return w.writeAccount(ctx, a, w.tx.UpdateAccount)
}

// writeAccount writes a with write and remembers it once written.
func (w *writeTx) writeAccount(ctx context.Context, a store.AccountRow, write func(context.Context, store.AccountRow) error) error {
	delete(w.accounts, a.ID)
	if err := write(ctx, a); err != nil {
		return err
	}
	w.remember(a)
	return nil
}

// DeleteAccount implements store.Tx.
func (w *writeTx) DeleteAccount(ctx context.Context, id string) error {
	delete(w.accounts, id)
	return w.tx.DeleteAccount(ctx, id)
}

// AppendAudit implements store.Tx; after the first event of the
// transaction the next number is known without a query.
func (w *writeTx) AppendAudit(ctx context.Context, e store.AuditRow) (int64, error) {
	if w.lastSeq == 0 {
		seq, err := w.tx.AppendAudit(ctx, e)
		if err == nil {
			w.lastSeq = seq
		}
		return seq, err
	}
	seq := w.lastSeq + 1
	w.pending = append(w.pending, pendingAudit{seq: seq, e: e})
	w.ctx = ctx
	w.lastSeq = seq
	if len(w.pending) >= auditBatch {
		return seq, w.flush(ctx)
	}
	return seq, nil
}

// ListAudit implements store.Tx, after writing the pending events.
func (w *writeTx) ListAudit(ctx context.Context, afterSeq int64, limit int) ([]store.AuditRow, error) {
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	return w.tx.ListAudit(ctx, afterSeq, limit)
}

// ListAuditPage implements store.Tx, after writing the pending events.
func (w *writeTx) ListAuditPage(ctx context.Context, p store.AuditPage) ([]store.AuditRow, error) {
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	return w.tx.ListAuditPage(ctx, p)
}

// flush inserts the pending events in one statement. A failure fails the
// transaction (Store.run rolls it back).
func (w *writeTx) flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO audit (` + auditCols + `) VALUES `)
	args := make([]any, 0, 8*len(w.pending))
	for i, p := range w.pending {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, p.seq, w.s.encodeTime(p.e.Time), p.e.Actor, p.e.Action, p.e.TargetType, p.e.TargetID, p.e.TargetName, p.e.Detail)
	}
	w.pending = w.pending[:0]
	if _, err := w.exec(ctx, q.String(), args...); err != nil {
		w.lastSeq = 0
		return fmt.Errorf("append audit events: %w", err)
	}
	return nil
}

var _ store.Tx = (*writeTx)(nil)
