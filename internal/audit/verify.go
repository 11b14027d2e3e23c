package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// BreakKind classifies a break in a chain.
type BreakKind string

const (
	BreakEdited    BreakKind = "edited"    // an event's fields no longer match its hash
	BreakRemoved   BreakKind = "removed"   // an event is missing
	BreakReordered BreakKind = "reordered" // an event sits at another position than the one it was chained at
)

// Break is the first event at which a chain fails verification.
type Break struct {
	Seq    int64
	Kind   BreakKind
	Reason string // edited, removed or reordered, in words
}

// String returns the reason, which names the event and what happened to it.
func (b *Break) String() string { return b.Reason }

// Verify checks a company's chain and returns the first break, or nil. It
// reads the chain head first and checks the events up to it, so appends
// running at the same time do not cause false breaks.
func (l *Log) Verify(ctx context.Context, companyID string) (*Break, error) {
	var headSeq int64
	var headHash string
	err := l.db.SQL.QueryRowContext(ctx, l.db.Rebind("SELECT seq, hash FROM audit_heads WHERE company_id = ?"), companyID).
		Scan(&headSeq, &headHash)
	noHead := errors.Is(err, sql.ErrNoRows)
	if err != nil && !noHead {
		return nil, fmt.Errorf("verify audit chain of company %s: read chain head: %w", companyID, err)
	}

	query := "SELECT " + eventColumns + " FROM audit_events WHERE company_id = ?"
	args := []any{companyID}
	if !noHead {
		query += " AND seq <= ?"
		args = append(args, headSeq)
	}
	rows, err := l.db.SQL.QueryContext(ctx, l.db.Rebind(query+" ORDER BY seq"), args...)
	if err != nil {
		return nil, fmt.Errorf("verify audit chain of company %s: %w", companyID, err)
	}

	// Walk the chain. On a suspicious link, stop and close the cursor
	// before looking up the hash elsewhere, because SQLite runs on one
	// connection.
	var (
		prev        Event // the last event that verified
		brk         *Break
		lookupHash  string // the predecessor hash to search for among other events
		lookupEvent Event
	)
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("verify audit chain of company %s: %w", companyID, err)
		}
		expected := prev.Seq + 1

		if ev.Seq != expected {
			reason := fmt.Sprintf("event %d is missing: the chain goes from event %d to event %d", expected, prev.Seq, ev.Seq)
			if prev.Seq == 0 {
				reason = fmt.Sprintf("event %d is missing: the first stored event is %d", expected, ev.Seq)
			}
			brk = &Break{Seq: expected, Kind: BreakRemoved, Reason: reason}
			lookupHash, lookupEvent = ev.PrevHash, ev
			break
		}
		if ev.PrevHash != prev.Hash {
			brk = linkBreak(ev, prev)
			lookupHash, lookupEvent = ev.PrevHash, ev
			break
		}
		if hashEvent(ev) != ev.Hash {
			brk = &Break{Seq: ev.Seq, Kind: BreakEdited,
				Reason: fmt.Sprintf("event %d was edited: its fields do not match its hash", ev.Seq)}
			break
		}
		prev = ev
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("verify audit chain of company %s: %w", companyID, err)
	}
	rows.Close()

	if brk != nil {
		if lookupHash != "" {
			return l.classifyMisplaced(ctx, companyID, brk, lookupHash, lookupEvent)
		}
		return brk, nil
	}
	return headBreak(noHead, headSeq, headHash, prev), nil
}

// linkBreak describes an event whose prev_hash does not match the hash of
// the event before it, before any reordering is looked for.
func linkBreak(ev, prev Event) *Break {
	if hashEvent(ev) != ev.Hash {
		return &Break{Seq: ev.Seq, Kind: BreakEdited,
			Reason: fmt.Sprintf("event %d was edited: its fields, including prev_hash, do not match its hash", ev.Seq)}
	}
	if prev.Seq == 0 {
		return &Break{Seq: ev.Seq, Kind: BreakRemoved,
			Reason: fmt.Sprintf("event %d is the first stored event but is chained to an earlier event that is missing", ev.Seq)}
	}
	return &Break{Seq: prev.Seq, Kind: BreakEdited,
		Reason: fmt.Sprintf("event %d was replaced or edited with a recomputed hash: event %d's prev_hash does not match it", prev.Seq, ev.Seq)}
}

// classifyMisplaced turns brk into a reordering when the hash that ev is
// chained to belongs to an event at another position.
func (l *Log) classifyMisplaced(ctx context.Context, companyID string, brk *Break, hash string, ev Event) (*Break, error) {
	var otherSeq int64
	err := l.db.SQL.QueryRowContext(ctx,
		l.db.Rebind("SELECT seq FROM audit_events WHERE company_id = ? AND hash = ? ORDER BY seq LIMIT 1"),
		companyID, hash).Scan(&otherSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return brk, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify audit chain of company %s: %w", companyID, err)
	}
	if brk.Kind == BreakRemoved && otherSeq != brk.Seq {
		return &Break{Seq: brk.Seq, Kind: BreakReordered,
			Reason: fmt.Sprintf("event %d was moved: it now sits at seq %d", brk.Seq, otherSeq)}, nil
	}
	return &Break{Seq: ev.Seq, Kind: BreakReordered,
		Reason: fmt.Sprintf("event %d is chained to the event now at seq %d instead of event %d: events were reordered", ev.Seq, otherSeq, ev.Seq-1)}, nil
}

// headBreak compares the last verified event with the chain head.
func headBreak(noHead bool, headSeq int64, headHash string, last Event) *Break {
	switch {
	case noHead && last.Seq == 0:
		return nil
	case noHead:
		return &Break{Seq: last.Seq, Kind: BreakRemoved,
			Reason: fmt.Sprintf("the chain head is missing, so events after event %d may have been removed", last.Seq)}
	case last.Seq < headSeq:
		return &Break{Seq: last.Seq + 1, Kind: BreakRemoved,
			Reason: fmt.Sprintf("event %d is missing: the chain head records %d events but the last stored event is %d", last.Seq+1, headSeq, last.Seq)}
	case last.Hash != headHash:
		return &Break{Seq: last.Seq, Kind: BreakEdited,
			Reason: fmt.Sprintf("event %d does not match the chain head: it was replaced or edited with a recomputed hash", last.Seq)}
	}
	return nil
}
