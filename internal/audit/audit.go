// Package audit keeps the append-only audit trail. Events are hash-chained
// per company, so that an edited, removed or reordered event is detected by
// Verify.
//
// NOTE: placeholders until the implementation lands; the signatures are the
// contract other packages use.
package audit

import (
	"context"
	"database/sql"
	"time"

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
	Since    time.Time
	Limit    int // 0 means 100
}

// Break is the first event at which a chain fails verification.
type Break struct {
	Seq    int64
	Reason string // edited, removed or reordered, in words
}

// Log is the audit trail.
type Log struct{ db *store.DB }

// New returns the audit trail stored in db.
func New(db *store.DB) *Log { return &Log{db: db} }

// Append adds ev to its company's chain and returns it with Seq and hashes set.
func (l *Log) Append(ctx context.Context, ev Event) (Event, error) { panic("not implemented") }

// AppendTx is Append inside the caller's transaction.
func (l *Log) AppendTx(ctx context.Context, tx *sql.Tx, ev Event) (Event, error) {
	panic("not implemented")
}

// List returns a company's events, oldest first.
func (l *Log) List(ctx context.Context, companyID string, f Filter) ([]Event, error) {
	panic("not implemented")
}

// Verify checks a company's chain and returns the first break, or nil.
func (l *Log) Verify(ctx context.Context, companyID string) (*Break, error) {
	panic("not implemented")
}

// RecordAuthFailure counts a failed authentication from clientAddr. The
// presented key is never passed in.
func (l *Log) RecordAuthFailure(ctx context.Context, clientAddr, route, reason string) error {
	panic("not implemented")
}
