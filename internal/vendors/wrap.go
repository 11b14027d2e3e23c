package vendor

import (
	"errors"

	"github.com/smartpt/smartpt/internal/vendorhttp"
)

// FromTransport turns an error from vendorhttp.Client.Do into *Error of kind
// ErrTimeout or ErrUnavailable.
func FromTransport(v Kind, op string, err error) *Error {
	kind := ErrUnavailable
	var he *vendorhttp.Error
	if errors.As(err, &he) && he.Timeout {
		kind = ErrTimeout
	}
	return &Error{Kind: kind, Vendor: v, Op: op, Detail: err.Error(), Err: err}
}
