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
	err := l.db.Read.QueryRowContext(ctx, l.db.Rebind("SELECT seq, hash FROM audit_heads WHERE company_id = ?"), companyID).
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
	rows, err := l.db.Read.QueryContext(ctx, l.db.Rebind(query+" ORDER BY seq"), args...)
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
	err := l.db.Read.QueryRowContext(ctx,
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

// Head returns the seq and hash of a company's last event, as recorded in
// its chain head, or 0 and "" when the company has no events.
func (l *Log) Head(ctx context.Context, companyID string) (int64, string, error) {
	var seq int64
	var hash string
	err := l.db.Read.QueryRowContext(ctx, l.db.Rebind("SELECT seq, hash FROM audit_heads WHERE company_id = ?"), companyID).
		Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read audit chain head of company %s: %w", companyID, err)
	}
	return seq, hash, nil
}

// CheckAnchor returns a Break unless the company's chain still holds event
// seq with the given hash, that is, unless the current chain extends a head
// recorded earlier. The chain has no key, so someone who can write to the
// database can cut events off the end and rewrite the head to match; only
// an anchor kept outside the database reveals that. Run Verify first:
// CheckAnchor checks the one event, not the links after it.
func (l *Log) CheckAnchor(ctx context.Context, companyID string, seq int64, hash string) (*Break, error) {
	headSeq, _, err := l.Head(ctx, companyID)
	if err != nil {
		return nil, err
	}
	if headSeq < seq {
		return &Break{Seq: seq, Kind: BreakRemoved,
			Reason: fmt.Sprintf("the chain ends at event %d but the expected head is event %d: events were removed from the end", headSeq, seq)}, nil
	}

	var stored string
	err = l.db.Read.QueryRowContext(ctx, l.db.Rebind("SELECT hash FROM audit_events WHERE company_id = ? AND seq = ?"), companyID, seq).
		Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return &Break{Seq: seq, Kind: BreakRemoved, Reason: fmt.Sprintf("event %d of the expected head is missing", seq)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("check audit anchor of company %s: %w", companyID, err)
	}
	if stored != hash {
		return &Break{Seq: seq, Kind: BreakEdited,
			Reason: fmt.Sprintf("event %d has hash %s, not the expected %s: the chain was rewritten from that event on", seq, stored, hash)}, nil
	}
	return nil, nil
}
