package action

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Request is one validated API request.
type Request struct {
	CompanyID  string
	Service    vendor.Service
	Route      string // "/defender/machines"
	Action     vendor.ActionKind
	Target     string // agent_id or upn exactly as given
	Requester  string // the Email field
	ClientAddr string
	RequestID  string

	// Optional body fields.
	Comment       string
	IsolationType string // Defender: Full or Selective
	UnlockCode    string // Cisco: unlock code to set; generated when empty
	DryRun        bool

	IdempotencyKey string // the Idempotency-Key header, empty when absent

	// Integration is the revision of the company's integration for
	// Service that the caller read while handling this request (the API
	// reads it with the key check). The engine then does not read it
	// again. Zero means unknown.
	Integration tenant.Revision
}

// State is an action's lifecycle state.
type State string

const (
	Requested  State = "requested"
	Dispatched State = "dispatched"
	Confirmed  State = "confirmed"
	Failed     State = "failed"
	Expired    State = "expired"
)

// Final reports whether s is a final state.
func (s State) Final() bool { return s == Confirmed || s == Failed || s == Expired }

// Result is what an executed request returns to the API.
type Result struct {
	ActionID string
	State    State

	// Endpoint actions.
	Endpoint     *vendor.Endpoint
	VendorResult json.RawMessage // returned as action_result
	UnlockCode   string          // Cisco isolate: the code that lifts isolation on the machine

	// User actions.
	User   *vendor.User
	Steps  []vendor.Step
	Report json.RawMessage // AzureADSreport summary

	AlreadyInState bool
	Deduplicated   bool // an identical action was in flight; its id is returned
	Warnings       []string
	Plan           []vendor.Call // dry run only
}

// Error is a request the engine could not carry out. Status is the HTTP
// status; Message follows the published wording, for example
// "Internal Server Error: Failed to block user"; Detail carries the
// vendor's reason.
type Error struct {
	Status     int
	Message    string
	Detail     string
	RetryAfter time.Duration
	Candidates []vendor.Endpoint // for an ambiguous target

	// ActionID is the stored action that ended with this error, so that
	// the caller can read its record; empty when no action was stored.
	ActionID string

	Err error
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%s)", e.Message, e.Detail)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Event is one step in an action's history.
type Event struct {
	Time   time.Time `json:"time"`
	State  State     `json:"state"`
	Detail string    `json:"detail,omitempty"`
}

// Record is a stored action, as GET /v1/actions/{id} returns it.
type Record struct {
	ID        string            `json:"action_id"`
	CompanyID string            `json:"-"`
	Service   vendor.Service    `json:"service"`
	Action    vendor.ActionKind `json:"action"`
	Target    string            `json:"target"`
	Requester string            `json:"requester"`
	State     State             `json:"state"`
	VendorRef string            `json:"vendor_ref,omitempty"`
	Endpoint  *vendor.Endpoint  `json:"endpoint,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	History   []Event           `json:"history"`
}

// Executor is the engine interface that the API uses.
type Executor interface {
	// Execute runs one request. Errors are *Error.
	Execute(ctx context.Context, req Request) (*Result, error)

	// Get returns an action of the company with its history. It returns an
	// *Error with status 404 for an id of another company.
	Get(ctx context.Context, companyID, actionID string) (*Record, error)

	// ConfirmExternal records a vendor-side result that arrived out of band
	// (a Wazuh integration event) for the company's latest unfinished action
	// of that kind on the agent.
	ConfirmExternal(ctx context.Context, companyID string, svc vendor.Service, agentID string, act vendor.ActionKind, succeeded bool, detail string) (*Record, error)

	// Reject records a request that the caller rejected before calling
	// Execute (for example when the server is at its limit of concurrent
	// actions) as a "rejected" audit event, with err's message as detail.
	// Failures to record are logged, not returned.
	Reject(ctx context.Context, req Request, err error)
}
