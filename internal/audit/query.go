package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/store"
)

const eventColumns = `seq, company_id, time, type, action_id, requester, client_addr, request_id, route,
	action, target, result, vendor_ref, duration_ms, detail, prev_hash, hash`

// List returns a company's events that match f, oldest first: the first
// f.Limit of them, or the last f.Limit when f.Newest is set.
func (l *Log) List(ctx context.Context, companyID string, f Filter) ([]Event, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list audit events: limit %d is negative; use 0 for the default of %d", f.Limit, DefaultLimit)
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}

	where, args := filterClause(companyID, f)
	query := "SELECT " + eventColumns + " FROM audit_events" + where + " ORDER BY seq LIMIT ?"
	if f.Newest {
		query = "SELECT * FROM (SELECT " + eventColumns + " FROM audit_events" + where +
			" ORDER BY seq DESC LIMIT ?) AS newest ORDER BY seq"
	}
	args = append(args, limit)

	rows, err := l.db.Read.QueryContext(ctx, l.db.Rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events of company %s: %w", companyID, err)
	}
	defer rows.Close()

	var events []Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit events of company %s: %w", companyID, err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events of company %s: %w", companyID, err)
	}
	return events, nil
}

// Count returns the number of a company's events that match f, ignoring
// f.Limit and f.Newest.
func (l *Log) Count(ctx context.Context, companyID string, f Filter) (int, error) {
	where, args := filterClause(companyID, f)
	var n int
	err := l.db.Read.QueryRowContext(ctx, l.db.Rebind("SELECT count(*) FROM audit_events"+where), args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count audit events of company %s: %w", companyID, err)
	}
	return n, nil
}

// filterClause returns the WHERE clause of f and its arguments.
func filterClause(companyID string, f Filter) (string, []any) {
	where := " WHERE company_id = ?"
	args := []any{companyID}
	if f.ActionID != "" {
		where += " AND action_id = ?"
		args = append(args, f.ActionID)
	}
	if !f.Since.IsZero() {
		where += " AND time >= ?"
		args = append(args, store.UnixNanos(f.Since))
	}
	if f.AfterSeq > 0 {
		where += " AND seq > ?"
		args = append(args, f.AfterSeq)
	}
	return where, args
}

func scanEvent(rows *sql.Rows) (Event, error) {
	var ev Event
	var nanos int64
	err := rows.Scan(&ev.Seq, &ev.CompanyID, &nanos, &ev.Type, &ev.ActionID, &ev.Requester, &ev.ClientAddr,
		&ev.RequestID, &ev.Route, &ev.Action, &ev.Target, &ev.Result, &ev.VendorRef, &ev.DurationMS, &ev.Detail,
		&ev.PrevHash, &ev.Hash)
	ev.Time = store.TimeFromUnixNanos(nanos)
	return ev, err
}

// AuthFailure is one failed authentication. It never holds the presented
// key.
type AuthFailure struct {
	Time       time.Time `json:"time"`
	ClientAddr string    `json:"client_addr"`
	Route      string    `json:"route"`
	Reason     string    `json:"reason"`
}

// maxAuthFailureField bounds each stored text of an auth failure, because
// the route comes from an unauthenticated request.
const maxAuthFailureField = 256

// RecordAuthFailure counts a failed authentication from clientAddr. The
// presented key is never passed in. Each text is cut to 256 bytes.
func (l *Log) RecordAuthFailure(ctx context.Context, clientAddr, route, reason string) error {
	_, err := l.db.SQL.ExecContext(ctx,
		l.db.Rebind("INSERT INTO auth_failures (time, client_addr, route, reason) VALUES (?, ?, ?, ?)"),
		store.UnixNanos(time.Now()), clip(clientAddr), clip(route), clip(reason))
	if err != nil {
		return fmt.Errorf("record failed authentication from %s: %w", clip(clientAddr), err)
	}
	return nil
}

// AuthFailures returns failed authentications at or after since, newest
// first, at most limit of them (0 means 100).
func (l *Log) AuthFailures(ctx context.Context, since time.Time, limit int) ([]AuthFailure, error) {
	if limit < 0 {
		return nil, errors.New("list failed authentications: limit is negative; use 0 for the default of 100")
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	rows, err := l.db.Read.QueryContext(ctx,
		l.db.Rebind("SELECT time, client_addr, route, reason FROM auth_failures WHERE time >= ? ORDER BY time DESC LIMIT ?"),
		store.UnixNanos(since), limit)
	if err != nil {
		return nil, fmt.Errorf("list failed authentications: %w", err)
	}
	defer rows.Close()

	var out []AuthFailure
	for rows.Next() {
		var f AuthFailure
		var nanos int64
		if err := rows.Scan(&nanos, &f.ClientAddr, &f.Route, &f.Reason); err != nil {
			return nil, fmt.Errorf("list failed authentications: %w", err)
		}
		f.Time = store.TimeFromUnixNanos(nanos)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list failed authentications: %w", err)
	}
	return out, nil
}

// CountAuthFailures returns the number of failed authentications from
// clientAddr at or after since.
func (l *Log) CountAuthFailures(ctx context.Context, clientAddr string, since time.Time) (int, error) {
	var n int
	err := l.db.Read.QueryRowContext(ctx,
		l.db.Rebind("SELECT count(*) FROM auth_failures WHERE client_addr = ? AND time >= ?"),
		clip(clientAddr), store.UnixNanos(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count failed authentications from %s: %w", clip(clientAddr), err)
	}
	return n, nil
}

// PruneAuthFailures deletes failed authentications older than before and
// returns how many it deleted.
func (l *Log) PruneAuthFailures(ctx context.Context, before time.Time) (int64, error) {
	res, err := l.db.SQL.ExecContext(ctx, l.db.Rebind("DELETE FROM auth_failures WHERE time < ?"), store.UnixNanos(before))
	if err != nil {
		return 0, fmt.Errorf("prune failed authentications: %w", err)
	}
	return res.RowsAffected()
}

func clip(s string) string {
	s = cleanText(s)
	if len(s) <= maxAuthFailureField {
		return s
	}
	s = s[:maxAuthFailureField]
	// Do not end in the middle of a UTF-8 sequence.
	return strings.ToValidUTF8(s, "")
}
