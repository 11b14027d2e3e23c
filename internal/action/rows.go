package action

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendors"
)

// row is one stored action.
type row struct {
	ID           string
	CompanyID    string
	Service      vendor.Service
	Kind         vendor.Kind
	Action       vendor.ActionKind
	Target       string
	AgentID      string
	Requester    string
	ClientAddr   string
	RequestID    string
	Route        string
	State        State
	VendorRef    string
	Endpoint     *vendor.Endpoint
	Options      storedOptions
	UnlockCode   string // sealed
	QueuedBehind string
	LeaseUntil   time.Time
	NextCheckAt  time.Time
	Deadline     time.Time
	Polls        int64
	Result       json.RawMessage
	Detail       string
	DryRun       bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// storedOptions are the optional request fields a later dispatch needs.
type storedOptions struct {
	Comment       string `json:"comment,omitempty"`
	IsolationType string `json:"isolation_type,omitempty"`
}

const rowColumns = `id, company_id, service, kind, action, target, agent_id, requester, client_addr,
	request_id, route, state, vendor_ref, endpoint, options, unlock_code, queued_behind,
	lease_until, next_check_at, deadline, polls, result, detail, dry_run, created_at, updated_at`

// newID returns a new action id: 32 lowercase hex digits of a version 7
// UUID (RFC 9562, section 5.7), whose first 48 bits are the Unix time in
// milliseconds and whose last 74 bits are random. Ids made later sort
// later, so the indexes keyed by action id (the actions primary key, the
// history and the audit trail's action index) grow at their right edge: a
// commit writes a few index pages instead of one page per new action,
// spread over the whole index.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's random source fails, which
		// crypto/rand reports as fatal on Linux (Go 1.24 and later).
		panic(fmt.Sprintf("new action id: %v", err))
	}
	return hex.EncodeToString(id[:])
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func scanRow(sc interface{ Scan(...any) error }) (*row, error) {
	var (
		r                               row
		endpoint, options, result       string
		lease, next, deadline, crt, upd int64
		service, kind, action, state    string
	)
	err := sc.Scan(&r.ID, &r.CompanyID, &service, &kind, &action, &r.Target, &r.AgentID, &r.Requester, &r.ClientAddr,
		&r.RequestID, &r.Route, &state, &r.VendorRef, &endpoint, &options, &r.UnlockCode, &r.QueuedBehind,
		&lease, &next, &deadline, &r.Polls, &result, &r.Detail, &r.DryRun, &crt, &upd)
	if err != nil {
		return nil, err
	}

	r.Service, r.Kind, r.Action, r.State = vendor.Service(service), vendor.Kind(kind), vendor.ActionKind(action), State(state)
	if endpoint != "" {
		var ep vendor.Endpoint
		if json.Unmarshal([]byte(endpoint), &ep) == nil {
			r.Endpoint = &ep
		}
	}
	if options != "" {
		json.Unmarshal([]byte(options), &r.Options)
	}
	if result != "" {
		r.Result = json.RawMessage(result)
	}
	r.LeaseUntil = store.TimeFromUnixNanos(lease)
	r.NextCheckAt = store.TimeFromUnixNanos(next)
	r.Deadline = store.TimeFromUnixNanos(deadline)
	r.CreatedAt = store.TimeFromUnixNanos(crt)
	r.UpdatedAt = store.TimeFromUnixNanos(upd)
	return &r, nil
}

func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// loadRow reads one action, locking its row on PostgreSQL when lock is set
// (q must then be a transaction). It returns nil, nil when there is none.
func (e *Engine) loadRow(ctx context.Context, q queryer, id string, lock bool) (*row, error) {
	query := "SELECT " + rowColumns + " FROM actions WHERE id = ?"
	if lock {
		query += e.db.ForUpdate()
	}
	r, err := scanRow(q.QueryRowContext(ctx, e.db.Rebind(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read action %s: %w", id, err)
	}
	return r, nil
}

// insertRow stores r in state r.State, with its first history event and
// its audit event, inside tx.
func (e *Engine) insertRow(ctx context.Context, tx *sql.Tx, r *row, detail string) error {
	now := time.Now().UTC()
	r.CreatedAt, r.UpdatedAt = now, now
	stmts := []audit.Statement{
		{SQL: insertActionSQL, Args: actionArgs(r)},
		{SQL: firstEventSQL, Args: []any{r.ID, store.UnixNanos(now), string(r.State), detail}},
	}
	if err := e.audit.AppendManyWithTx(ctx, tx, stmts, []audit.Event{auditEvent(r, r.State, detail, 0, now)}); err != nil {
		return fmt.Errorf("store action %s with its history and audit event: %w", r.ID, err)
	}
	return nil
}

// firstEventSQL inserts the first history event of a new action.
const firstEventSQL = `INSERT INTO action_events (action_id, seq, time, state, detail) VALUES (?, 1, ?, ?, ?)`

// insertActionSQL inserts an actions row; actionArgs gives its arguments.
const insertActionSQL = "INSERT INTO actions (" + rowColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

// actionArgs returns the columns of r in rowColumns order.
func actionArgs(r *row) []any {
	var endpoint string
	if r.Endpoint != nil {
		endpoint = jsonText(r.Endpoint)
	}
	return []any{
		r.ID, r.CompanyID, string(r.Service), string(r.Kind), string(r.Action), r.Target, r.AgentID, r.Requester, r.ClientAddr,
		r.RequestID, r.Route, string(r.State), r.VendorRef, endpoint, jsonText(r.Options), r.UnlockCode, r.QueuedBehind,
		store.UnixNanos(r.LeaseUntil), store.UnixNanos(r.NextCheckAt), store.UnixNanos(r.Deadline), r.Polls, string(r.Result), r.Detail, r.DryRun,
		store.UnixNanos(r.CreatedAt), store.UnixNanos(r.UpdatedAt),
	}
}

// recordEvent appends a history event and the matching audit event, with
// one statement on PostgreSQL as a rule (see audit.Log.AppendManyWithTx).
func (e *Engine) recordEvent(ctx context.Context, tx *sql.Tx, r *row, st State, detail string, took time.Duration) error {
	now := time.Now().UTC()
	history := audit.Statement{SQL: nextEventSQL, Args: []any{r.ID, r.ID, store.UnixNanos(now), string(st), detail}}
	err := e.audit.AppendManyWithTx(ctx, tx, []audit.Statement{history}, []audit.Event{auditEvent(r, st, detail, took, now)})
	if err != nil {
		return fmt.Errorf("record event %s of action %s: %w", st, r.ID, err)
	}
	return nil
}

// nextEventSQL appends a history event to an action's existing ones.
const nextEventSQL = `INSERT INTO action_events (action_id, seq, time, state, detail)
	VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM action_events WHERE action_id = ?), ?, ?, ?)`

// auditEvent is the audit event of action r reaching state st at now.
func auditEvent(r *row, st State, detail string, took time.Duration, now time.Time) audit.Event {
	typ := string(st)
	if r.DryRun {
		typ = "dry_run"
	}
	result := ""
	if st.Final() {
		result = string(st)
	}
	return audit.Event{
		CompanyID:  r.CompanyID,
		Time:       now,
		Type:       typ,
		ActionID:   r.ID,
		Requester:  r.Requester,
		ClientAddr: r.ClientAddr,
		RequestID:  r.RequestID,
		Route:      r.Route,
		Action:     string(r.Action),
		Target:     r.Target,
		Result:     result,
		VendorRef:  r.VendorRef,
		DurationMS: took.Milliseconds(),
		Detail:     detail,
	}
}

// change is an update of an action: the new state and the columns to set.
type change struct {
	State       State
	Detail      string
	VendorRef   *string
	Endpoint    *vendor.Endpoint
	Result      json.RawMessage
	UnlockCode  string
	LeaseUntil  *time.Time
	NextCheckAt *time.Time
	Deadline    *time.Time
	AddPoll     bool
	Took        time.Duration
}

// transition moves the action from state from to c.State in one
// transaction with its history and audit events. It returns false, with no
// change made, when the action is no longer in state from (another worker
// or replica moved it first).
func (e *Engine) transition(ctx context.Context, r *row, from State, c change) (bool, error) {
	moved := false
	err := e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		moved, err = e.transitionTx(ctx, tx, r, from, c)
		return err
	})
	return moved, err
}

func (e *Engine) transitionTx(ctx context.Context, tx *sql.Tx, r *row, from State, c change) (bool, error) {
	now := time.Now().UTC()

	// Build the SET clause from the fields the change carries.
	set := "state = ?, updated_at = ?, detail = ?"
	args := []any{string(c.State), store.UnixNanos(now), c.Detail}
	if c.VendorRef != nil {
		set += ", vendor_ref = ?"
		args = append(args, *c.VendorRef)
		r.VendorRef = *c.VendorRef
	}
	if c.Endpoint != nil {
		set += ", endpoint = ?"
		args = append(args, jsonText(c.Endpoint))
		r.Endpoint = c.Endpoint
	}
	if c.Result != nil {
		set += ", result = ?"
		args = append(args, string(c.Result))
		r.Result = c.Result
	}
	if c.UnlockCode != "" {
		set += ", unlock_code = ?"
		args = append(args, c.UnlockCode)
	}
	if c.LeaseUntil != nil {
		set += ", lease_until = ?"
		args = append(args, store.UnixNanos(*c.LeaseUntil))
	}
	if c.NextCheckAt != nil {
		set += ", next_check_at = ?"
		args = append(args, store.UnixNanos(*c.NextCheckAt))
	}
	if c.Deadline != nil {
		set += ", deadline = ?"
		args = append(args, store.UnixNanos(*c.Deadline))
		r.Deadline = *c.Deadline
	}
	if c.AddPoll {
		set += ", polls = polls + 1"
	}
	if c.State.Final() {
		set += ", next_check_at = 0"
	}
	args = append(args, r.ID, string(from))

	res, err := tx.ExecContext(ctx, e.db.Rebind("UPDATE actions SET "+set+" WHERE id = ? AND state = ?"), args...)
	if err != nil {
		return false, fmt.Errorf("update action %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	r.State, r.Detail = c.State, c.Detail
	if c.State == from {
		return true, nil // a field update inside one state: no new event
	}
	return true, e.recordEvent(ctx, tx, r, c.State, c.Detail, c.Took)
}

// history returns the events of action r, oldest first.
func (e *Engine) history(ctx context.Context, r *row) ([]Event, error) {
	id := r.ID
	rows, err := e.db.Read.QueryContext(e.db.ShortContext(ctx), e.db.Rebind("SELECT time, state, detail FROM action_events WHERE action_id = ? ORDER BY seq"), id)
	if err != nil {
		return nil, fmt.Errorf("read history of action %s: %w", id, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var t int64
		var ev Event
		var st string
		if err := rows.Scan(&t, &st, &ev.Detail); err != nil {
			return nil, err
		}
		ev.Time, ev.State = store.TimeFromUnixNanos(t), State(st)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history of action %s: %w", id, err)
	}
	if len(out) == 0 && r.State.Final() {
		return readHistory(r), nil
	}
	return out, nil
}

// readHistory returns the two events of a read that insertFinishedRead
// stored without history rows: requested when it was created, and its
// final state, with the row's detail, when it was last updated. Every
// other action has at least its requested event in action_events, so a
// final action without any is such a read.
func readHistory(r *row) []Event {
	return []Event{
		{Time: r.CreatedAt, State: Requested},
		{Time: r.UpdatedAt, State: r.State, Detail: r.Detail},
	}
}

// insertRead stores a read (status, report) in state requested, with a
// lease so that the sweeper fails it if the process stops before it ends.
func (e *Engine) insertRead(ctx context.Context, r *row) error {
	r.LeaseUntil = time.Now().Add(e.cfg.DispatchTimeout + e.cfg.LeaseSlack)
	r.NextCheckAt = r.LeaseUntil
	return e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return e.insertRow(ctx, tx, r, "") })
}

// insertFinishedRead stores a read that has ended, in state final, in one
// transaction: the action row and the audit events of its two transitions,
// requested (at start) and final (now, with the read's duration). So a
// read is on record like every other action. Its history needs no rows of
// its own: the action row holds both transitions (created_at, and state,
// detail and updated_at), and history derives them (see readHistory).
func (e *Engine) insertFinishedRead(ctx context.Context, r *row, start time.Time, final State, detail string, took time.Duration) error {
	return e.insertFinishedReadWith(ctx, r, start, final, detail, took, nil)
}

// insertFinishedReadWith is insertFinishedRead that first calls inTx, when
// not nil, in the transaction, and takes the detail it returns. inTx may
// set fields of r; like the transaction's function, it may run more than
// once.
func (e *Engine) insertFinishedReadWith(ctx context.Context, r *row, start time.Time, final State, detail string, took time.Duration, inTx func(ctx context.Context, q queryer) string) error {
	now := time.Now().UTC()
	r.State, r.Detail = final, detail
	return e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if inTx != nil {
			detail = inTx(ctx, tx)
			r.Detail = detail
		}
		r.CreatedAt, r.UpdatedAt = start.UTC(), now
		// One statement on PostgreSQL, as a rule (see AppendManyWithTx):
		// each statement is a round trip on the committer's connection.
		stmts := []audit.Statement{{SQL: insertActionSQL, Args: actionArgs(r)}}
		err := e.audit.AppendManyWithTx(ctx, tx, stmts, []audit.Event{
			auditEvent(r, Requested, "", 0, r.CreatedAt),
			auditEvent(r, final, detail, took, now),
		})
		if err != nil {
			return fmt.Errorf("store read %s with its history and audit events: %w", r.ID, err)
		}
		return nil
	})
}
