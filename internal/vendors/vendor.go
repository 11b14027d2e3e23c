// Package vendor defines the capabilities that the action engine uses, so that
// the engine never depends on a particular vendor.
//
// An endpoint product (Wazuh, Cortex XDR, PAN-OS, Cisco Secure Endpoint,
// Defender for Endpoint) implements Containment. A directory (Entra ID)
// implements Directory. Each vendor lives in its own package under
// internal/vendors/<name> and registers a Factory from an init function, so
// adding a vendor means adding one folder and one blank import in
// internal/vendors/all.
package vendor

import (
	"context"
	"encoding/json"
	"time"

	"github.com/smartpt/smartpt/internal/notify"
)

// Service names one public route family. The value is the first path segment
// of the route: "/defender/machines" is ServiceDefender.
type Service string

const (
	ServiceAzureAD  Service = "azuread"  // /azuread/users
	ServiceWazuh    Service = "wazuh"    // /wazuh/agents
	ServicePaloAlto Service = "paloalto" // /paloalto/endpoints, served by Cortex XDR or PAN-OS
	ServiceCisco    Service = "cisco"    // /cisco/computers
	ServiceCortex   Service = "cortex"   // /cortex/endpoints
	ServiceDefender Service = "defender" // /defender/machines

	// ServiceMail is not a route: it holds a company's own SMTP settings
	// for reports and notifications.
	ServiceMail Service = "mail"
)

// Kind names one vendor product, that is one client implementation. A
// company's integration for a Service has exactly one Kind.
type Kind string

const (
	KindEntra    Kind = "entra"
	KindDefender Kind = "defender"
	KindWazuh    Kind = "wazuh"
	KindCortex   Kind = "cortex"
	KindPANOS    Kind = "panos"
	KindCisco    Kind = "cisco"
	KindSMTP     Kind = "smtp" // configuration only, for ServiceMail
)

// Isolation is the normalised isolation state of an endpoint.
type Isolation string

const (
	NotIsolated Isolation = "not_isolated"
	Isolating   Isolation = "isolating"
	Isolated    Isolation = "isolated"
	Releasing   Isolation = "releasing"
	Unknown     Isolation = "unknown"
)

// Endpoint is one machine as a vendor knows it. AgentID is always the
// vendor's own identifier (Wazuh agent id, Defender machine id, Cortex
// endpoint id, Cisco connector GUID, or the IP address for PAN-OS).
type Endpoint struct {
	Vendor    Kind      `json:"vendor"`
	AgentID   string    `json:"agent_id"`
	Hostname  string    `json:"hostname"`
	IP        string    `json:"ip"`
	Online    bool      `json:"online"`
	Isolation Isolation `json:"isolation"`
}

// TargetKind says how a caller named an endpoint.
type TargetKind string

const (
	TargetID       TargetKind = "id"       // the vendor's own identifier
	TargetHostname TargetKind = "hostname" // short or fully qualified host name
	TargetIP       TargetKind = "ip"       // IPv4 or IPv6 address (PAN-OS also accepts a CIDR range)
)

// Target is a validated endpoint name. The engine builds it from the request's
// agent_id after checking it against the vendor's ID format (Containment.IsID)
// or the host name and IP address grammars.
type Target struct {
	Kind  TargetKind
	Value string
}

// ActionKind names an operation on an endpoint or a user.
type ActionKind string

const (
	ActionIsolate ActionKind = "isolate"
	ActionRelease ActionKind = "releaseisolate"
	ActionStatus  ActionKind = "status"
	ActionBlock   ActionKind = "AzureADBlock"
	ActionUnblock ActionKind = "AzureADUnblock"
	ActionUStatus ActionKind = "AzureADStatus"
	ActionReport  ActionKind = "AzureADSreport"
)

// Options carries the optional request fields and the context a vendor call
// may need.
type Options struct {
	ActionID      string // the gateway's action id, for vendor comments and correlation
	Requester     string // the e-mail address of the person who asked
	Comment       string // free text passed to the vendor where it accepts one
	IsolationType string // Defender only: "Full" (default) or "Selective"
	UnlockCode    string // Cisco only: code that lifts isolation on the machine
}

// Call describes one vendor request, without credentials. A dry run returns
// the calls an action would make.
type Call struct {
	Method string          `json:"method"`
	URL    string          `json:"url"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// Outcome is the result of an isolate, release or status call.
type Outcome struct {
	// Endpoint is the target after the call, with its isolation state.
	Endpoint Endpoint

	// VendorRef is the vendor's identifier for the action it started
	// (Defender machine action id, Cortex group action id, ...), empty when
	// the vendor has none.
	VendorRef string

	// Pending is true when the vendor accepted the action but has not
	// finished it; the engine then confirms it with Containment.Confirm.
	Pending bool

	// AwaitEvent, with Pending, means that polling cannot tell the outcome
	// (Confirm returns WaitForEvent): only an event from elsewhere confirms
	// the action. The engine then schedules no poll, and looks at the
	// action again only after its deadline.
	AwaitEvent bool

	// AlreadyInState is true when the target was already in the requested
	// state, as read from the vendor, so no change was requested.
	AlreadyInState bool

	// Raw is the vendor's response body, returned to the caller as
	// action_result. It must never contain a credential.
	Raw json.RawMessage

	// UnlockCode is set by vendors that lift isolation locally with a code
	// (Cisco). The engine seals it in the store and returns it to the caller.
	UnlockCode string

	// Warnings are caveats the caller must see, for example a guest user
	// whose sessions cannot be revoked.
	Warnings []string
}

// Confirmation is the result of one poll of a pending vendor action.
type Confirmation struct {
	Final     bool      // true when the vendor reports a final state
	Succeeded bool      // meaningful only when Final is true
	State     Isolation // the endpoint's isolation state as now known
	Detail    string    // vendor status text, for example "Succeeded" or "TIMEOUT"
	Raw       json.RawMessage

	// WaitForEvent, with Final false, means the vendor cannot report the
	// action's outcome at all: only an event from elsewhere (the Wazuh
	// integration's result event) confirms it. The engine then stops
	// polling and looks at the action again at its deadline.
	WaitForEvent bool
}

// Containment is the capability of an endpoint product.
//
// Implementations must be safe for concurrent use. Errors returned by the
// methods that reach the vendor should be *Error so that the engine and the
// API can map them to the right HTTP status.
type Containment interface {
	// IsID reports whether s has the format of this vendor's endpoint
	// identifier (for example 40 hex characters for Defender).
	IsID(s string) bool

	// Resolve returns every endpoint that matches target. An empty slice
	// means no match; the engine answers 404 for none and 409 for several.
	Resolve(ctx context.Context, target Target) ([]Endpoint, error)

	// Isolate asks the vendor to isolate ep. It reads the endpoint's state
	// first where the vendor errors on a repeated request.
	Isolate(ctx context.Context, ep Endpoint, opts Options) (Outcome, error)

	// Release asks the vendor to lift isolation of ep.
	Release(ctx context.Context, ep Endpoint, opts Options) (Outcome, error)

	// Status reads the current state of ep from the vendor.
	Status(ctx context.Context, ep Endpoint) (Outcome, error)

	// Confirm polls the vendor once about a pending action started by
	// Isolate or Release.
	Confirm(ctx context.Context, ep Endpoint, action ActionKind, vendorRef string) (Confirmation, error)

	// Plan returns the calls that action would make on ep, for a dry run.
	Plan(action ActionKind, ep Endpoint, opts Options) []Call
}

// StatusResolver is implemented by a connector whose Resolve already reads
// everything Status reads, as Wazuh's GET /agents does. The engine then
// serves a status request with one vendor call instead of two.
type StatusResolver interface {
	// ResolveStatus is Resolve, and, when exactly one endpoint matches,
	// also that endpoint's Status from the same vendor response. With none
	// or several matches the Outcome is empty.
	ResolveStatus(ctx context.Context, target Target) ([]Endpoint, Outcome, error)
}

// User is a directory account's state.
type User struct {
	ID                string     `json:"id"`
	UserPrincipalName string     `json:"userPrincipalName"`
	DisplayName       string     `json:"displayName,omitempty"`
	AccountEnabled    bool       `json:"accountEnabled"`
	UserType          string     `json:"userType,omitempty"`
	SessionsValidFrom *time.Time `json:"signInSessionsValidFromDateTime,omitempty"`
	LastSignIn        *time.Time `json:"lastSignInDateTime,omitempty"`
	IsGuest           bool       `json:"-"`
}

// UserOutcome is the result of a block, unblock or status call.
type UserOutcome struct {
	User User

	// Steps lists each vendor call that changed state, in order, for the
	// audit trail (for a block: disable the account, then revoke sessions).
	Steps []Step

	// AlreadyInState is set when a block found the account already
	// disabled, or an unblock found it already enabled.
	AlreadyInState bool

	Warnings []string
	Raw      json.RawMessage
}

// Step is one vendor call of a multi-step action.
type Step struct {
	Name      string `json:"name"`
	Succeeded bool   `json:"succeeded"`
	Detail    string `json:"detail,omitempty"`
}

// Report is a built user report: a summary for the JSON response and the
// message to e-mail to the requester (the engine fills in the recipient).
type Report struct {
	Summary json.RawMessage
	Email   notify.Email
}

// Directory is the capability of a user directory.
type Directory interface {
	// ValidateUPN returns an error naming the problem when upn cannot be a
	// user principal name.
	ValidateUPN(upn string) error

	Block(ctx context.Context, upn string, opts Options) (UserOutcome, error)
	Unblock(ctx context.Context, upn string, opts Options) (UserOutcome, error)
	Status(ctx context.Context, upn string) (UserOutcome, error)
	Report(ctx context.Context, upn string, opts Options) (Report, error)

	// Plan returns the calls that action would make on upn, for a dry run.
	Plan(action ActionKind, upn string, opts Options) []Call
}
