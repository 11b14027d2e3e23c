package cortex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// API paths under /public_api/v1 (Cortex XDR API reference).
const (
	pathGetEndpoint  = "/endpoints/get_endpoint"
	pathIsolate      = "/endpoints/isolate"
	pathUnisolate    = "/endpoints/unisolate"
	pathActionStatus = "/actions/get_action_status"
)

// MaxSearchResults is the largest result set one get_endpoint call returns
// (Cortex XDR API, "Get Endpoint": search_to is at most 100).
const MaxSearchResults = 100

// Filter is one get_endpoint filter. Filters combine with AND.
type Filter struct {
	Field    string   `json:"field"`
	Operator string   `json:"operator"`
	Value    []string `json:"value"`
}

// GetEndpointRequest is the request_data of endpoints/get_endpoint.
type GetEndpointRequest struct {
	Filters    []Filter `json:"filters"`
	SearchFrom int      `json:"search_from"`
	SearchTo   int      `json:"search_to"`
}

// IsolateRequest is the request_data of endpoints/isolate and
// endpoints/unisolate for one endpoint. The API rejects a body with both
// endpoint_id and filters, so the client only ever sends endpoint_id.
type IsolateRequest struct {
	EndpointID string `json:"endpoint_id"`
}

// ActionStatusRequest is the request_data of actions/get_action_status.
type ActionStatusRequest struct {
	GroupActionID int64 `json:"group_action_id"`
}

// EndpointRecord is one endpoint of a get_endpoint reply.
type EndpointRecord struct {
	EndpointID     string    `json:"endpoint_id"`
	EndpointName   string    `json:"endpoint_name"`
	EndpointType   string    `json:"endpoint_type"`
	EndpointStatus string    `json:"endpoint_status"` // CONNECTED, DISCONNECTED, LOST, UNINSTALLED
	OSType         string    `json:"os_type"`
	IP             addresses `json:"ip"`
	IsIsolated     string    `json:"is_isolated"`
	LastSeen       int64     `json:"last_seen"` // milliseconds since the epoch
}

// addresses decodes the endpoint "ip" field, a list in the API reference but
// a single string in some older tenants' replies.
type addresses []string

func (a *addresses) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*a = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*a = addresses{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// GetEndpointReply is the reply of endpoints/get_endpoint.
type GetEndpointReply struct {
	ResultCount int              `json:"result_count"`
	Endpoints   []EndpointRecord `json:"endpoints"`
}

// ActionReply is the reply of endpoints/isolate and endpoints/unisolate. The
// API sends action_id as a string in its examples and as a number in some
// tenants, so it is kept raw and read with actionID.
type ActionReply struct {
	ActionID       json.RawMessage `json:"action_id"`
	Status         json.RawMessage `json:"status"`
	EndpointsCount json.RawMessage `json:"endpoints_count"`
}

// ActionStatusReply is the reply of actions/get_action_status: one status per
// endpoint ID.
type ActionStatusReply struct {
	Data         map[string]string          `json:"data"`
	ErrorReasons map[string]json.RawMessage `json:"errorReasons"`
}

// ErrorReply is the body of a failed call:
// {"reply":{"err_code":N,"err_msg":"...","err_extra":...}}.
type ErrorReply struct {
	ErrCode  json.RawMessage `json:"err_code"`
	ErrMsg   string          `json:"err_msg"`
	ErrExtra json.RawMessage `json:"err_extra"`
}

// envelope is the outer object of every reply.
type envelope struct {
	Reply json.RawMessage `json:"reply"`
}

// actionID returns the action_id of r as a decimal string.
func (r ActionReply) actionID() string {
	return scalarString(r.ActionID)
}

// scalarString returns a JSON string or number as text, "" otherwise.
func scalarString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	return ""
}

// ParseReply decodes the "reply" member of a successful response into out
// and returns the raw reply. A reply that carries err_code is returned as
// *ErrorReply in the error.
func ParseReply(body []byte, out any) (json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decode reply: %w", err)
	}
	if len(env.Reply) == 0 {
		return nil, fmt.Errorf("decode reply: no reply member")
	}
	if e, ok := parseErrorReply(env.Reply); ok {
		return nil, e
	}
	if out != nil {
		if err := json.Unmarshal(env.Reply, out); err != nil {
			return nil, fmt.Errorf("decode reply: %w", err)
		}
	}
	return env.Reply, nil
}

// ParseError decodes an error body. It accepts the documented
// {"reply":{...}} form and a bare {"err_code":...} object.
func ParseError(body []byte) (*ErrorReply, bool) {
	var env envelope
	if err := json.Unmarshal(body, &env); err == nil && len(env.Reply) > 0 {
		if e, ok := parseErrorReply(env.Reply); ok {
			return e, true
		}
	}
	return parseErrorReply(body)
}

func parseErrorReply(raw []byte) (*ErrorReply, bool) {
	var e ErrorReply
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, false
	}
	if len(e.ErrCode) == 0 && e.ErrMsg == "" {
		return nil, false
	}
	return &e, true
}

func (e *ErrorReply) Error() string {
	return fmt.Sprintf("err_code %s: %s", e.code(), e.text())
}

func (e *ErrorReply) code() string { return scalarString(e.ErrCode) }

// text joins err_msg and err_extra when err_extra is a string or an object.
func (e *ErrorReply) text() string {
	msg := e.ErrMsg
	extra := bytes.TrimSpace(e.ErrExtra)
	if len(extra) == 0 || bytes.Equal(extra, []byte("null")) {
		return msg
	}
	if s := scalarString(extra); s != "" {
		return msg + " (" + s + ")"
	}
	return msg + " (" + string(extra) + ")"
}

// call sends one API request and decodes the reply into out. It returns the
// raw reply for Outcome.Raw.
func (c *Client) call(ctx context.Context, op, path string, requestData any, idempotent bool, out any) (json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"request_data": requestData})
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", op, err)
	}

	resp, err := c.http.Do(ctx, vendorhttp.Request{
		Op:         op,
		Method:     http.MethodPost,
		Path:       path,
		Header:     http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		Body:       body,
		Idempotent: idempotent,
	})
	if err != nil {
		return nil, vendor.FromTransport(vendor.KindCortex, op, err)
	}

	if resp.Status != http.StatusOK {
		return nil, statusError(op, path, resp)
	}
	raw, err := ParseReply(resp.Body, out)
	if err != nil {
		if e, ok := err.(*ErrorReply); ok {
			return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindCortex, Op: op, Status: resp.Status, Code: e.code(), Detail: e.text()}
		}
		return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindCortex, Op: op, Status: resp.Status, Detail: "Cortex XDR sent a reply that could not be read: " + err.Error()}
	}
	return raw, nil
}

// noEndpointForAction is the message Cortex XDR sends with err_code 500 when
// isolate or unisolate finds no endpoint in a state that allows the action
// (as users of the public cortex-xdr-client Python library reported it).
const noEndpointForAction = "No endpoint was found for creating the requested action"

// statusError maps a non-200 response to *vendor.Error (Cortex XDR API,
// "Get Started": 400 invalid request, 401 bad key, 402 unlicensed API,
// 403 missing permission, 500 action or internal error).
func statusError(op, path string, resp *vendorhttp.Response) *vendor.Error {
	e := &vendor.Error{Vendor: vendor.KindCortex, Op: op, Status: resp.Status}
	if er, ok := ParseError(resp.Body); ok {
		e.Code = er.code()
		e.Detail = er.text()
	} else {
		e.Detail = snippet(resp.Body)
	}

	switch {
	case resp.Status == http.StatusBadRequest:
		e.Kind = vendor.ErrInvalid
	case resp.Status == http.StatusUnauthorized:
		e.Kind = vendor.ErrAuth
		e.Detail = "Cortex XDR rejected the credentials: check key_id, api_key and key_type, and for an advanced key the server clock (" + e.Detail + ")"
	case resp.Status == http.StatusPaymentRequired:
		e.Kind = vendor.ErrUnsupported
		e.Detail = "the tenant's Cortex XDR licence does not include the " + strings.TrimPrefix(path, "/") + " API (" + e.Detail + ")"
	case resp.Status == http.StatusForbidden:
		e.Kind = vendor.ErrForbidden
		e.Detail = "the API key's role lacks the permission for " + strings.TrimPrefix(path, "/") + " (" + e.Detail + ")"
	case resp.Status == http.StatusNotFound:
		e.Kind = vendor.ErrMisconfigure
		e.Detail = "the API path was not found: check that api_url is the tenant's API URL (" + e.Detail + ")"
	case resp.Status == http.StatusTooManyRequests:
		e.Kind = vendor.ErrThrottled
		e.RetryAfter, _ = vendorhttp.RetryAfter(resp.Header, time.Now())
	case strings.Contains(e.Detail, noEndpointForAction):
		e.Kind = vendor.ErrConflict
	default:
		e.Kind = vendor.ErrUnavailable
	}
	return e
}

// snippet returns the start of a body that is not a Cortex XDR error reply,
// with control characters removed, for an error detail.
func snippet(body []byte) string {
	const max = 200
	s := strings.TrimSpace(string(body))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s)
}
