package vendor

import (
	"errors"

	"github.com/smartpt/smartpt/internal/vendorhttp"
)

// FromTransport turns an error from vendorhttp.Client.Do into *Error: of
// kind ErrThrottled when the integration's rate budget rejected the call
// before it was sent, else ErrTimeout or ErrUnavailable. NotSent carries
// over, so that the engine records a rejected write as failed: it had no
// effect at the vendor.
func FromTransport(v Kind, op string, err error) *Error {
	out := &Error{Kind: ErrUnavailable, Vendor: v, Op: op, Detail: err.Error(), Err: err}
	var he *vendorhttp.Error
	if !errors.As(err, &he) {
		return out
	}
	out.NotSent = he.NotSent
	switch {
	case he.BudgetRefused && he.NotSent:
		out.Kind, out.RetryAfter = ErrThrottled, he.RetryAfter
	case he.Timeout:
		out.Kind = ErrTimeout
	}
	return out
}
