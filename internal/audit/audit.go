// Package audit keeps the append-only audit trail. Events are hash-chained
// per company, so that an edited, removed or reordered event is detected by
// Verify.
//
// The chain: event n of a company stores prev_hash, the hash of event n-1
// (empty for event 1), and hash, the hex SHA-256 of a canonical encoding of
// all its fields including seq, company, time and prev_hash. The
// audit_heads row of the company holds the seq and hash of its last event,
// so that removing the newest events is detected too, and serialises
// appenders: each append locks that row in its transaction.
//
// NOTE: the chain is unkeyed. Someone with write access to the database can
// rewrite a whole chain and its head consistently; Verify detects changes
// made without recomputing every later hash. Export the head hashes (audit
// list) to a separate system to anchor them.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/smartpt/smartpt/internal/store"
)

// Event is one audit record.
type Event struct {
	Seq        int64     `json:"seq"` // position in the company's chain, from 1
	CompanyID  string    `json:"company_id"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"` // requested, dispatched, confirmed, failed, expired, rejected, ...
	ActionID   string    `json:"action_id,omitempty"`
	Requester  string    `json:"requester,omitempty"`
	ClientAddr string    `json:"client_addr,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	Route      string    `json:"route,omitempty"`
	Action     string    `json:"action,omitempty"`
	Target     string    `json:"target,omitempty"`
	Result     string    `json:"result,omitempty"`
	VendorRef  string    `json:"vendor_ref,omitempty"`
	DurationMS int64     `json:"duration_ms"`
	Detail     string    `json:"detail,omitempty"`
	PrevHash   string    `json:"prev_hash"`
	Hash       string    `json:"hash"`
}

// Filter narrows List.
type Filter struct {
	ActionID string
	Since    time.Time // events at or after this time
	AfterSeq int64     // events with a greater seq, for paging
	Limit    int       // 0 means 100

	// Newest selects the last Limit matching events instead of the first;
	// List still returns them oldest first.
	Newest bool
}

// DefaultLimit is the number of events List returns when Filter.Limit is 0.
const DefaultLimit = 100

// Log is the audit trail. It is safe for concurrent use, also by several
// processes sharing one PostgreSQL database.
type Log struct {
	db *store.DB

	// SQL rebound for the dialect once, in New.
	upsertHead string
	insertEv   string
	updateHead string
	moveHead   string

	// The same statements prepared once on the SQLite pool, because
	// preparing them at every append costs about a fifth of an append.
	prepared [3]*sql.Stmt // upsertHead, insertEv, updateHead, or all nil

	// heads holds, per company, the chain head that this Log's last append
	// left, so that the next append can move the head with one statement
	// instead of locking and reading it first. A head may be stale: the
	// statement checks it against the audit_heads row.
	headsMu sync.Mutex
	heads   map[string]chainHead

	// withQueries caches withStatements' texts by their statements' SQL
	// and number of events.
	withQueries sync.Map
}

// chainHead is the seq and hash of the last event of a company's chain, as
// the audit_heads row holds them.
type chainHead struct {
	seq  int64
	hash string
}

// New returns the audit trail stored in db. It prepares the append
// statements, so call it outside any transaction on db: with SQLite's single
// connection a call inside one waits 5 seconds and falls back to unprepared
// statements.
func New(db *store.DB) *Log {
	l := &Log{
		db:    db,
		heads: map[string]chainHead{},

		// Locks the company's head row (an upsert takes the row lock on
		// PostgreSQL; SQLite transactions begin IMMEDIATE and so hold the
		// single write lock), reserves the next n seqs and returns the
		// previous hash. On the first event the row is created with seq n,
		// the number of events appended; n is bound twice.
		upsertHead: db.Rebind(`INSERT INTO audit_heads (company_id, seq, hash) VALUES (?, ?, '')
			ON CONFLICT (company_id) DO UPDATE SET seq = audit_heads.seq + ?
			RETURNING seq, hash`),
		insertEv:   db.Rebind(insertEventsPrefix + `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		updateHead: db.Rebind(`UPDATE audit_heads SET hash = ? WHERE company_id = ?`),
		moveHead:   db.Rebind(`UPDATE audit_heads SET seq = ?, hash = ? WHERE company_id = ? AND seq = ? AND hash = ?`),
	}
	l.prepare()
	return l
}

// insertEventsPrefix starts the INSERT of audit events; the VALUES rows
// follow it.
const insertEventsPrefix = `INSERT INTO audit_events (company_id, seq, time, type, action_id, requester,
	client_addr, request_id, route, action, target, result, vendor_ref, duration_ms, detail, prev_hash, hash)
	VALUES `

// Append adds ev to its company's chain in a transaction of its own and
// returns it with Seq, Time and the hashes set.
func (l *Log) Append(ctx context.Context, ev Event) (Event, error) {
	var out Event
	err := l.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, err = l.AppendTx(ctx, tx, ev)
		return err
	})
	return out, err
}

// AppendTx is Append inside the caller's transaction, so that an action's
// rows and its audit event commit together. ev.CompanyID and ev.Type are
// required; a zero ev.Time means now. Seq, PrevHash and Hash are set here,
// whatever the caller passed. Text fields are stored as valid UTF-8 without
// NUL bytes, because PostgreSQL text rejects both. Each invalid byte or NUL
// becomes U+FFFD, and the hash covers the stored text.
func (l *Log) AppendTx(ctx context.Context, tx *sql.Tx, ev Event) (Event, error) {
	evs := []Event{ev}
	if err := l.AppendManyTx(ctx, tx, evs); err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// AppendManyTx appends evs, in order, to one company's chain inside the
// caller's transaction, and sets their Seq, Time and hashes in place. It
// does what len(evs) calls of AppendTx do, with one update of the chain
// head instead of one per event. That usually takes two statements on
// SQLite (see appendSQLite) and one on PostgreSQL (see appendPostgres).
// Every event must name the same company.
func (l *Log) AppendManyTx(ctx context.Context, tx *sql.Tx, evs []Event) error {
	return l.AppendManyWithTx(ctx, tx, nil, evs)
}

// Statement is one SQL statement, with ? placeholders, and its arguments.
type Statement struct {
	SQL  string
	Args []any
}

// AppendManyWithTx runs stmts in tx, in order, and then does what
// AppendManyTx does. stmts are the writes that evs record, such as an
// action's rows. Each must be an INSERT, UPDATE or DELETE without a WITH
// clause of its own, and its SQL a constant, because the Log keeps one
// statement text per combination.
//
// On PostgreSQL, stmts usually run as WITH clauses of the append's one
// statement, which saves a round trip each. All parts of such a
// statement see the rows as they were before it, so a statement of stmts
// must not read rows that an earlier one writes. Each statement runs
// exactly once, also when the append has to lock and read the chain head
// first (see appendPostgres).
func (l *Log) AppendManyWithTx(ctx context.Context, tx *sql.Tx, stmts []Statement, evs []Event) error {
	if len(evs) == 0 {
		return l.execStatements(ctx, tx, stmts)
	}
	company := evs[0].CompanyID
	nanos := make([]int64, len(evs))
	for i := range evs {
		ev := &evs[i]
		if ev.CompanyID == "" {
			return errors.New("append audit event: company id is empty")
		}
		if ev.CompanyID != company {
			return fmt.Errorf("append audit events: event %d is for company %s, not %s; append each company's events apart", i+1, ev.CompanyID, company)
		}
		if ev.Type == "" {
			return fmt.Errorf("append audit event for company %s: event type is empty", ev.CompanyID)
		}
		sanitize(ev)
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		// Store and hash the time as Unix nanoseconds, so that what List
		// reads back hashes to the same value.
		nanos[i] = store.UnixNanos(ev.Time)
		ev.Time = store.TimeFromUnixNanos(nanos[i])
	}
	if l.db.Dialect == store.Postgres {
		return l.appendPostgres(ctx, tx, stmts, evs, nanos)
	}
	if err := l.execStatements(ctx, tx, stmts); err != nil {
		return err
	}
	return l.appendSQLite(ctx, tx, evs, nanos)
}

// appendSQLite appends evs after the head that this Log remembers for the
// company, with two statements: one moves the audit_heads row from that
// head to the last new event, if the row still holds it, and one inserts
// the events. When the row holds another head, because another process
// appended or this Log's last append was rolled back, it locks and reads
// the head, inserts, and updates the head: three statements.
func (l *Log) appendSQLite(ctx context.Context, tx *sql.Tx, evs []Event, nanos []int64) error {
	company := evs[0].CompanyID
	if head, known := l.rememberedHead(company); known {
		done, err := l.moveHeadThenInsert(ctx, tx, evs, nanos, head)
		if err != nil || done {
			return err
		}
	}

	// Reserve n seqs and read the hash of the event before them.
	n := int64(len(evs))
	last, prev, err := l.lockHead(ctx, tx, company, n)
	if err != nil {
		return err
	}

	// Chain the events and insert them with one statement.
	args := chainEvents(evs, nanos, chainHead{seq: last - n, hash: prev})
	if len(evs) == 1 {
		err = l.exec(ctx, tx, 1, l.insertEv, args...)
	} else {
		_, err = tx.ExecContext(ctx, l.insertEvents(len(evs)), args...)
	}
	if err != nil {
		return fmt.Errorf("append audit events %d to %d for company %s: %w", evs[0].Seq, last, company, err)
	}

	prev = evs[len(evs)-1].Hash
	if err := l.exec(ctx, tx, 2, l.updateHead, prev, company); err != nil {
		return fmt.Errorf("append audit event %d for company %s: update chain head: %w", last, company, err)
	}
	l.rememberHead(company, chainHead{seq: last, hash: prev})
	return nil
}

// moveHeadThenInsert chains evs after head and, on SQLite, moves the
// audit_heads row from head to the last of evs, then inserts evs. It
// reports false, with nothing changed, when the row did not hold head.
// The transaction holds SQLite's write lock from its start (BEGIN
// IMMEDIATE), so no other writer can move the head between the two
// statements.
func (l *Log) moveHeadThenInsert(ctx context.Context, tx *sql.Tx, evs []Event, nanos []int64, head chainHead) (bool, error) {
	company := evs[0].CompanyID
	args := chainEvents(evs, nanos, head)
	last := evs[len(evs)-1]

	res, err := tx.ExecContext(ctx, l.moveHead, last.Seq, last.Hash, company, head.seq, head.hash)
	if err != nil {
		return false, fmt.Errorf("append audit events %d to %d for company %s: move chain head: %w", evs[0].Seq, last.Seq, company, err)
	}
	moved, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("append audit events %d to %d for company %s: move chain head: %w", evs[0].Seq, last.Seq, company, err)
	}
	if moved != 1 {
		return false, nil
	}

	if len(evs) == 1 {
		err = l.exec(ctx, tx, 1, l.insertEv, args...)
	} else {
		_, err = tx.ExecContext(ctx, l.insertEvents(len(evs)), args...)
	}
	if err != nil {
		return false, fmt.Errorf("append audit events %d to %d for company %s: %w", evs[0].Seq, last.Seq, company, err)
	}
	l.rememberHead(company, chainHead{seq: last.Seq, hash: last.Hash})
	return true, nil
}

// rememberedHead returns the head that this Log's last append for company
// left, if any.
func (l *Log) rememberedHead(company string) (chainHead, bool) {
	l.headsMu.Lock()
	defer l.headsMu.Unlock()
	head, known := l.heads[company]
	return head, known
}

// rememberHead records head as the company's chain head after an append.
func (l *Log) rememberHead(company string, head chainHead) {
	l.headsMu.Lock()
	l.heads[company] = head
	l.headsMu.Unlock()
}

// lockHead locks the chain head of company, creating it when the chain is
// empty, adds n to its seq and returns the new seq and the hash of the
// last event.
func (l *Log) lockHead(ctx context.Context, tx *sql.Tx, company string, n int64) (last int64, prev string, err error) {
	var row *sql.Row
	if stmt := l.stmt(ctx, tx, 0); stmt != nil {
		defer stmt.Close()
		row = stmt.QueryRowContext(ctx, company, n, n)
	} else {
		row = tx.QueryRowContext(ctx, l.upsertHead, company, n, n)
	}
	if err := row.Scan(&last, &prev); err != nil {
		return 0, "", fmt.Errorf("append audit event for company %s: lock chain head: %w", company, err)
	}
	return last, prev, nil
}

// chainEvents sets the seq, prev_hash and hash of evs, which follow the
// event that head describes, and returns the insert arguments of all
// events in column order.
func chainEvents(evs []Event, nanos []int64, head chainHead) []any {
	args := make([]any, 0, len(evs)*eventFields)
	prev := head.hash
	for i := range evs {
		ev := &evs[i]
		ev.Seq, ev.PrevHash = head.seq+int64(i)+1, prev
		ev.Hash = hashEvent(*ev)
		prev = ev.Hash
		args = append(args, ev.CompanyID, ev.Seq, nanos[i], ev.Type, ev.ActionID, ev.Requester, ev.ClientAddr, ev.RequestID,
			ev.Route, ev.Action, ev.Target, ev.Result, ev.VendorRef, ev.DurationMS, ev.Detail, ev.PrevHash, ev.Hash)
	}
	return args
}

// appendPostgres appends evs with one statement when the head that this
// Log remembers for the company is still current. It takes two for a
// company that this Log has not appended to yet, and three when the head
// moved since. Each statement is a round trip to the server, and every
// InTx function runs on the one committer connection, one round trip after
// the other, so their number bounds the actions a second.
//
// The statement moves the head from the remembered values to the last new
// event and inserts the events only if the head still held those values.
// It changes nothing when another process appended in between or when the
// transaction of this Log's last append was rolled back. Then the head is
// locked and read with the upsert, and the statement runs again.
//
// stmts run as WITH clauses of the first statement when the head is
// known, and otherwise as one more statement before the upsert.
func (l *Log) appendPostgres(ctx context.Context, tx *sql.Tx, stmts []Statement, evs []Event, nanos []int64) error {
	company := evs[0].CompanyID
	if head, known := l.rememberedHead(company); known {
		done, err := l.insertAfter(ctx, tx, stmts, evs, nanos, head)
		if err != nil || done {
			return err
		}
		// stmts ran as WITH clauses, whatever the head held.
		stmts = nil
	}
	if err := l.execStatements(ctx, tx, stmts); err != nil {
		return err
	}

	// An upsert that adds 0 locks the head and reads it, and creates it
	// with seq 0 for a company's first event.
	seq, hash, err := l.lockHead(ctx, tx, company, 0)
	if err != nil {
		return err
	}
	done, err := l.insertAfter(ctx, tx, nil, evs, nanos, chainHead{seq: seq, hash: hash})
	if err != nil {
		return err
	}
	if !done {
		return fmt.Errorf("append audit events for company %s: chain head changed while this transaction held its lock", company)
	}
	return nil
}

// insertAfter chains evs after head and runs the statement that moves the
// audit_heads row from head to the last of evs and inserts evs, with stmts
// as its WITH clauses. It reports false, with no event inserted, when the
// row did not hold head; stmts have run all the same. On success the Log
// remembers the new head.
func (l *Log) insertAfter(ctx context.Context, tx *sql.Tx, stmts []Statement, evs []Event, nanos []int64, head chainHead) (bool, error) {
	company := evs[0].CompanyID
	args := chainEvents(evs, nanos, head)
	last := evs[len(evs)-1]
	args = append([]any{company, last.Seq, last.Hash, head.seq, head.hash}, args...)

	var query string
	switch {
	case len(stmts) > 0:
		query = l.withStatements(stmts, len(evs))
		var all []any
		for _, s := range stmts {
			all = append(all, s.Args...)
		}
		args = append(all, args...)
	case len(evs) < len(moveHeadAndInsertBuilt):
		query = moveHeadAndInsertBuilt[len(evs)]
	default:
		query = moveHeadAndInsert(len(evs))
	}
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("append audit events %d to %d for company %s: %w", evs[0].Seq, last.Seq, company, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("append audit events %d to %d for company %s: %w", evs[0].Seq, last.Seq, company, err)
	}
	if n != int64(len(evs)) {
		return false, nil
	}
	l.rememberHead(company, chainHead{seq: last.Seq, hash: last.Hash})
	return true, nil
}

// moveHeadAndInsert returns the PostgreSQL statement of insertAfter for n
// events. $1 is the company, $2 and $3 the new head's seq and hash, $4 and
// $5 the expected head, and the events' columns follow from $6. The UPDATE
// locks the head row. When another transaction holds that lock, the UPDATE
// waits for it and then compares against the row as that transaction left
// it. The casts type the parameters, which a VALUES list in FROM leaves
// unknown.
func moveHeadAndInsert(n int) string {
	var b strings.Builder
	b.WriteString("WITH ")
	writeMoveHeadAndInsert(&b, 1, n)
	return b.String()
}

// writeMoveHeadAndInsert writes moveHeadAndInsert(n) without its WITH
// keyword, with its parameters numbered from first instead of 1.
func writeMoveHeadAndInsert(b *strings.Builder, first, n int) {
	p := func(i int) int { return first + i - 1 }
	fmt.Fprintf(b, `head AS (UPDATE audit_heads SET seq = $%d, hash = $%d WHERE company_id = $%d AND seq = $%d AND hash = $%d RETURNING 1)
	INSERT INTO audit_events (company_id, seq, time, type, action_id, requester, client_addr, request_id, route, action,
		target, result, vendor_ref, duration_ms, detail, prev_hash, hash)
	SELECT e.* FROM head, (VALUES `, p(2), p(3), p(1), p(4), p(5))
	param := p(6)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j, typ := range eventColumnTypes {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "$%d::%s", param, typ)
			param++
		}
		b.WriteString(")")
	}
	b.WriteString(") AS e")
}

// withStatements returns the statement of insertAfter for n events with
// stmts as its WITH clauses, whose parameters come first. It builds each
// combination once.
func (l *Log) withStatements(stmts []Statement, n int) string {
	var key strings.Builder
	for _, s := range stmts {
		key.WriteString(s.SQL)
		key.WriteByte(0)
	}
	key.WriteString(strconv.Itoa(n))
	if query, ok := l.withQueries.Load(key.String()); ok {
		return query.(string)
	}

	var b strings.Builder
	b.WriteString("WITH ")
	next := 1
	for i, s := range stmts {
		fmt.Fprintf(&b, "statement%d AS (%s), ", i+1, numberParams(s.SQL, &next))
	}
	writeMoveHeadAndInsert(&b, next, n)
	query := b.String()
	l.withQueries.Store(key.String(), query)
	return query
}

// execStatements runs stmts in tx: on PostgreSQL as one statement, all
// but the last as its WITH clauses, and on SQLite one after the other.
func (l *Log) execStatements(ctx context.Context, tx *sql.Tx, stmts []Statement) error {
	if len(stmts) == 0 {
		return nil
	}
	if l.db.Dialect != store.Postgres {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, l.db.Rebind(s.SQL), s.Args...); err != nil {
				return err
			}
		}
		return nil
	}

	parts := make([]string, len(stmts))
	var args []any
	next := 1
	for i, s := range stmts {
		parts[i] = numberParams(s.SQL, &next)
		args = append(args, s.Args...)
	}
	last := len(parts) - 1
	query := parts[last]
	if last > 0 {
		clauses := make([]string, last)
		for i, part := range parts[:last] {
			clauses[i] = fmt.Sprintf("statement%d AS (%s)", i+1, part)
		}
		query = "WITH " + strings.Join(clauses, ", ") + " " + query
	}
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}

// numberParams replaces the ? placeholders of query with $next, $next+1,
// and so on, and advances next past them.
func numberParams(query string, next *int) string {
	var b strings.Builder
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(*next))
		*next++
	}
	return b.String()
}

// moveHeadAndInsertBuilt holds moveHeadAndInsert(n) for the numbers of
// events that actions append at once, at index n.
var moveHeadAndInsertBuilt = [...]string{1: moveHeadAndInsert(1), 2: moveHeadAndInsert(2)}

// eventColumnTypes are the PostgreSQL types of the audit_events columns, in
// the order of insertEv.
var eventColumnTypes = [eventFields]string{
	"text", "bigint", "bigint", "text", "text", "text", "text", "text", "text", "text",
	"text", "text", "text", "bigint", "text", "text", "text",
}

// eventFields is the number of columns insertEv sets.
const eventFields = 17

// insertEvents returns the INSERT statement for n events, rebound for the
// dialect. Both stores cache a prepared statement per statement text, so
// each n is prepared once per connection.
func (l *Log) insertEvents(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", eventFields), ", ") + ")"
	rows := strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	return l.db.Rebind(insertEventsPrefix + rows)
}

// prepare prepares the append statements on the SQLite pool. It runs in
// New, while no transaction holds SQLite's single connection. On failure
// it leaves l.prepared empty, and appends then send the SQL text instead.
//
// On PostgreSQL, appends send the SQL text: pgx prepares each text once
// per connection by itself, and a statement prepared on the pool cannot
// run in the group committer's transactions, which use a pool of their
// own.
func (l *Log) prepare() {
	if l.db.Dialect != store.SQLite {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	var prepared [3]*sql.Stmt
	for i, query := range []string{l.upsertHead, l.insertEv, l.updateHead} {
		stmt, err := l.db.SQL.PrepareContext(ctx, query)
		if err != nil {
			for _, p := range prepared[:i] {
				p.Close()
			}
			return
		}
		prepared[i] = stmt
	}
	l.prepared = prepared
}

// stmt returns statement i of l.prepared bound to tx, or nil when the
// statements are not prepared. The caller closes it.
func (l *Log) stmt(ctx context.Context, tx *sql.Tx, i int) *sql.Stmt {
	if l.prepared[i] == nil {
		return nil
	}
	return tx.StmtContext(ctx, l.prepared[i])
}

// exec runs prepared statement i in tx, or query when nothing is prepared.
func (l *Log) exec(ctx context.Context, tx *sql.Tx, i int, query string, args ...any) error {
	var err error
	if stmt := l.stmt(ctx, tx, i); stmt != nil {
		_, err = stmt.ExecContext(ctx, args...)
		stmt.Close()
	} else {
		_, err = tx.ExecContext(ctx, query, args...)
	}
	return err
}

// sanitize makes every text field valid UTF-8 without NUL bytes.
func sanitize(ev *Event) {
	for _, f := range []*string{&ev.CompanyID, &ev.Type, &ev.ActionID, &ev.Requester, &ev.ClientAddr, &ev.RequestID,
		&ev.Route, &ev.Action, &ev.Target, &ev.Result, &ev.VendorRef, &ev.Detail} {
		*f = cleanText(*f)
	}
}

func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
