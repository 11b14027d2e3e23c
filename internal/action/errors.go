package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/smartpt/smartpt/internal/vendors"
)

// failureText is the published "Failed to ..." wording of each action.
var failureText = map[vendor.ActionKind]string{
	vendor.ActionBlock:   "Failed to block user",
	vendor.ActionUnblock: "Failed to unblock user",
	vendor.ActionUStatus: "Failed to get user status",
	vendor.ActionReport:  "Failed to send user report",
	vendor.ActionIsolate: "Failed to isolate endpoint",
	vendor.ActionRelease: "Failed to release endpoint",
	vendor.ActionStatus:  "Failed to get endpoint status",
}

// vendorNames are the products' public names, for messages.
var vendorNames = map[vendor.Kind]string{
	vendor.KindEntra:    "Entra ID",
	vendor.KindDefender: "Defender for Endpoint",
	vendor.KindWazuh:    "Wazuh",
	vendor.KindCortex:   "Cortex XDR",
	vendor.KindPANOS:    "PAN-OS",
	vendor.KindCisco:    "Cisco Secure Endpoint",
}

func vendorName(k vendor.Kind) string {
	if n, ok := vendorNames[k]; ok {
		return n
	}
	return string(k)
}

// internalError is an unexpected failure inside the gateway, with the
// published wording.
func internalError(act vendor.ActionKind, err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: " + failureText[act], Err: err}
}

// unrecorded is the error of a stored action whose vendor call ended but
// whose outcome could not be recorded. The action stays requested until a
// confirmation job settles it once its lease ends (a write by reading the
// target), so the error names it for GET /v1/actions/{id}.
func unrecorded(r *row, err error) *Error {
	out := internalError(r.Action, err)
	out.ActionID = r.ID
	return out
}

// outOfTime turns an internal error caused by the request's deadline, such
// as a store read that a busy database delayed past the API's action
// timeout, into a 504: the request ran out of time, and nothing is broken.
// Any other error is returned unchanged.
func outOfTime(act vendor.ActionKind, err error) error {
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError || !errors.Is(ae.Err, context.DeadlineExceeded) {
		return err
	}
	return &Error{
		Status:   http.StatusGatewayTimeout,
		Message:  "Gateway Timeout: " + failureText[act],
		Detail:   "the request timed out inside the gateway: " + strings.TrimPrefix(ae.Message, "Internal Server Error: "),
		ActionID: ae.ActionID,
		Err:      ae.Err,
	}
}

// mapVendorError turns a failed vendor call into an *Error. A 4xx-class
// error names the problem and the target. A 5xx-class error keeps the
// published "Failed to ..." wording after the status text. Detail carries
// the vendor's reason, which connectors keep free of credentials.
func mapVendorError(act vendor.ActionKind, kind vendor.Kind, target string, err error) *Error {
	if ae, ok := err.(*Error); ok {
		return ae
	}
	ve, ok := vendor.AsError(err)
	if !ok && errors.Is(err, context.DeadlineExceeded) {
		// The call ran out of time before the vendor client could
		// classify it, for example while waiting for another call's token.
		return &Error{Status: http.StatusGatewayTimeout, Message: "Gateway Timeout: " + failureText[act], Detail: "the vendor did not respond in time", Err: err}
	}
	if !ok {
		return internalError(act, err)
	}

	what := "endpoint"
	if act == vendor.ActionBlock || act == vendor.ActionUnblock || act == vendor.ActionUStatus || act == vendor.ActionReport {
		what = "user"
	}
	name := vendorName(kind)
	out := &Error{Detail: ve.Detail, Err: err}
	if out.Detail == "" && ve.Code != "" {
		out.Detail = ve.Code
	}

	switch ve.Kind {
	case vendor.ErrNotFound:
		out.Status = http.StatusNotFound
		out.Message = fmt.Sprintf("Not Found: %s %s is not known to %s", what, quote(target), name)
	case vendor.ErrAmbiguous:
		out.Status = http.StatusConflict
		out.Message = fmt.Sprintf("Conflict: %s %s matches %d endpoints in %s; send the agent id of one of them", what, quote(target), len(ve.Candidates), name)
		out.Candidates = ve.Candidates
	case vendor.ErrConflict:
		out.Status = http.StatusConflict
		out.Message = fmt.Sprintf("Conflict: %s cannot take this action on %s %s now", name, what, quote(target))
	case vendor.ErrForbidden:
		out.Status = http.StatusForbidden
		out.Message = fmt.Sprintf("Forbidden: %s refused the action on %s %s", name, what, quote(target))
	case vendor.ErrInvalid:
		out.Status = http.StatusBadRequest
		out.Message = fmt.Sprintf("Bad Request: %s rejected a value of the request for %s %s", name, what, quote(target))
	case vendor.ErrThrottled:
		out.Status = http.StatusTooManyRequests
		out.Message = fmt.Sprintf("Too Many Requests: %s is rate limiting this company's integration; retry later", name)
		if ve.NotSent {
			out.Message = fmt.Sprintf("Too Many Requests: this company's %s integration has used its request budget for now; nothing was sent, retry later", name)
		}
		out.RetryAfter = ve.RetryAfter
	case vendor.ErrAuth:
		out.Status = http.StatusBadGateway
		out.Message = "Bad Gateway: " + failureText[act]
		out.Detail = fmt.Sprintf("%s rejected the integration's credentials; check them with 'smartpt integration test'", name)
	case vendor.ErrUnavailable:
		out.Status = http.StatusBadGateway
		out.Message = "Bad Gateway: " + failureText[act]
	case vendor.ErrTimeout:
		out.Status = http.StatusGatewayTimeout
		out.Message = "Gateway Timeout: " + failureText[act]
	case vendor.ErrUnsupported:
		out.Status = http.StatusNotImplemented
		out.Message = "Not Implemented: " + failureText[act]
	case vendor.ErrMisconfigure:
		out.Status = http.StatusFailedDependency
		out.Message = "Failed Dependency: " + failureText[act]
	default:
		out.Status = http.StatusInternalServerError
		out.Message = "Internal Server Error: " + failureText[act]
	}
	return out
}
