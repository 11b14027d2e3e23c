package vendor

import (
	"errors"
	"fmt"
	"time"
)

// ErrorKind classifies a vendor failure so that the API can choose the HTTP
// status without knowing the vendor.
type ErrorKind string

const (
	ErrNotFound     ErrorKind = "not_found"     // the vendor does not know the target: 404
	ErrAmbiguous    ErrorKind = "ambiguous"     // the target matches several endpoints: 409
	ErrConflict     ErrorKind = "conflict"      // the target cannot take the action now (agent offline, pending action): 409
	ErrForbidden    ErrorKind = "forbidden"     // the vendor refused the action for lack of rights or by policy: 403
	ErrInvalid      ErrorKind = "invalid"       // the vendor rejected a value as invalid: 400
	ErrThrottled    ErrorKind = "throttled"     // the vendor is rate limiting: 429 with Retry-After
	ErrAuth         ErrorKind = "auth"          // the vendor rejected the integration's credentials: 502
	ErrUnavailable  ErrorKind = "unavailable"   // unreachable, reset, or 5xx: 502
	ErrTimeout      ErrorKind = "timeout"       // no answer in time: 504
	ErrUnsupported  ErrorKind = "unsupported"   // the vendor or its version cannot do this: 501
	ErrMisconfigure ErrorKind = "misconfigured" // the integration's settings are unusable: 424
)

// Error is a failed vendor call. Detail is the vendor's own reason, safe to
// show to the caller: it must never contain a credential.
type Error struct {
	Kind       ErrorKind
	Vendor     Kind
	Op         string        // what was attempted, for example "isolate machine"
	Status     int           // the vendor's HTTP status, 0 when no response arrived
	Code       string        // the vendor's error code, for example "ActiveRequestAlreadyExists"
	Detail     string        // the vendor's message
	RetryAfter time.Duration // for ErrThrottled: how long to wait, 0 when unknown

	// NotSent is true when no request of the failed call reached the
	// vendor, so the call had no effect there: the rate budget or the
	// circuit breaker rejected it, no connection to the vendor opened, or
	// the credentials for it could not be fetched.
	NotSent bool

	// Candidates lists the matches for ErrAmbiguous.
	Candidates []Endpoint

	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s failed", e.Vendor, e.Op)
	if e.Status != 0 {
		msg += fmt.Sprintf(" with HTTP %d", e.Status)
	}
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns err as *Error when it is one, anywhere in its chain.
func AsError(err error) (*Error, bool) {
	var ve *Error
	if errors.As(err, &ve) {
		return ve, true
	}
	return nil, false
}
