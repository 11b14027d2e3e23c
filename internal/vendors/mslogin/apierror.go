package mslogin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// ErrorBody is the JSON error envelope shared by Microsoft Graph
// ({"error":{"code","message","innerError":{...}}}) and the Defender for
// Endpoint API ({"error":{"code","message","target"}}).
type ErrorBody struct {
	Error struct {
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		Target     string          `json:"target,omitempty"`
		InnerError json.RawMessage `json:"innerError,omitempty"`
	} `json:"error"`
}

// ParseError reads the code and message of an error envelope. ok is false
// when body is not one.
func ParseError(body []byte) (code, message string, ok bool) {
	var eb ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
		return "", "", false
	}
	return eb.Error.Code, eb.Error.Message, true
}

// maxDetail bounds the vendor message copied into an error.
const maxDetail = 500

// MapError turns a non-2xx response into *vendor.Error: 400 invalid, 401
// auth (vendorhttp has already renewed the token once), 403 forbidden, 404
// not found, 409 conflict, 429 throttled with Retry-After, 504 timeout and
// any other status unavailable.
func MapError(kind vendor.Kind, op string, resp *vendorhttp.Response) *vendor.Error {
	code, message, ok := ParseError(resp.Body)
	if !ok {
		message = http.StatusText(resp.Status)
	}
	if len(message) > maxDetail {
		message = message[:maxDetail] + "..."
	}

	e := &vendor.Error{Vendor: kind, Op: op, Status: resp.Status, Code: code, Detail: message}
	switch resp.Status {
	case http.StatusBadRequest:
		e.Kind = vendor.ErrInvalid
	case http.StatusUnauthorized:
		e.Kind = vendor.ErrAuth
	case http.StatusForbidden:
		e.Kind = vendor.ErrForbidden
	case http.StatusNotFound:
		e.Kind = vendor.ErrNotFound
	case http.StatusConflict:
		e.Kind = vendor.ErrConflict
	case http.StatusTooManyRequests:
		e.Kind = vendor.ErrThrottled
		e.RetryAfter, _ = vendorhttp.RetryAfter(resp.Header, time.Now())
	case http.StatusGatewayTimeout:
		e.Kind = vendor.ErrTimeout
	default:
		e.Kind = vendor.ErrUnavailable
	}
	return e
}
