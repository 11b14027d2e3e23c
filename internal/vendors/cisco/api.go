package cisco

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Envelope is the body of every API v1 response: version, metadata and data
// on success; data {} and errors on failure.
type Envelope struct {
	Version  string          `json:"version"`
	Metadata Metadata        `json:"metadata"`
	Data     json.RawMessage `json:"data"`
	Errors   []APIError      `json:"errors"`
}

// Metadata carries the links and the paging counters of a list.
type Metadata struct {
	Links struct {
		Self string `json:"self"`
		Next string `json:"next"`
	} `json:"links"`
	Results *struct {
		Total            int `json:"total"`
		CurrentItemCount int `json:"current_item_count"`
		Index            int `json:"index"`
		ItemsPerPage     int `json:"items_per_page"`
	} `json:"results"`
}

// APIError is one entry of the errors list.
type APIError struct {
	ErrorCode   json.RawMessage `json:"error_code"`
	Description string          `json:"description"`
	Details     []string        `json:"details"`
}

// Computer is a computer (connector) record.
type Computer struct {
	ConnectorGUID    string   `json:"connector_guid"`
	Hostname         string   `json:"hostname"`
	Active           bool     `json:"active"`
	OperatingSystem  string   `json:"operating_system"`
	InternalIPs      []string `json:"internal_ips"`
	ExternalIP       string   `json:"external_ip"`
	NetworkAddresses []struct {
		MAC string `json:"mac"`
		IP  string `json:"ip"`
	} `json:"network_addresses"`
	GroupGUID string `json:"group_guid"`
	LastSeen  string `json:"last_seen"`
	Isolation *struct {
		Available bool   `json:"available"`
		Status    string `json:"status"`
	} `json:"isolation"`
}

// Isolation is the data of the /isolation sub-resource.
type Isolation struct {
	Available  bool   `json:"available"`
	Status     string `json:"status"`
	UnlockCode string `json:"unlock_code,omitempty"`
	Comment    string `json:"comment,omitempty"`
	IsolatedBy string `json:"isolated_by,omitempty"`
}

// IsolationRequest is the body of PUT (comment and unlock code) and DELETE
// (comment only) on /isolation.
type IsolationRequest struct {
	Comment    string `json:"comment,omitempty"`
	UnlockCode string `json:"unlock_code,omitempty"`
}

// ParseEnvelope decodes a response body and, when out is not nil, its data
// member into out.
func ParseEnvelope(body []byte, out any) (*Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return nil, fmt.Errorf("decode response data: %w", err)
		}
	}
	return &env, nil
}

// ErrorText returns the description and details of the errors list.
func (e *Envelope) ErrorText() string {
	var parts []string
	for _, er := range e.Errors {
		text := er.Description
		if len(er.Details) > 0 {
			text += ": " + strings.Join(er.Details, "; ")
		}
		if text != "" {
			parts = append(parts, text)
		}
	}
	return strings.Join(parts, "; ")
}

// request is one API call.
type request struct {
	op     string
	method string
	path   string // escaped
	query  url.Values
	body   any
}

// do sends r and returns the response, whatever its status. Reads and DELETE
// (which only stops isolation) are retried after a transport failure or a
// 5xx; PUT is not, so an unlock code is never set twice.
func (c *Client) do(ctx context.Context, r request) (*vendorhttp.Response, error) {
	header := http.Header{"Accept": {"application/json"}, "Authorization": {c.basicAuth}}
	var body []byte
	if r.body != nil {
		var err error
		body, err = json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encode %s request: %w", r.op, err)
		}
		header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(ctx, vendorhttp.Request{
		Op:         r.op,
		Method:     r.method,
		Path:       r.path,
		Query:      r.query,
		Header:     header,
		Body:       body,
		Idempotent: r.method == http.MethodGet || r.method == http.MethodDelete,
	})
	if err != nil {
		return nil, vendor.FromTransport(vendor.KindCisco, r.op, err)
	}
	return resp, nil
}

// statusError maps a non-2xx response (Cisco Secure Endpoint API v1: 400
// unexpected parameter, 401 unknown credentials, 404 unknown object, 409
// conflict, 429 hourly limit reached).
func statusError(op string, resp *vendorhttp.Response) *vendor.Error {
	e := &vendor.Error{Vendor: vendor.KindCisco, Op: op, Status: resp.Status}
	if env, err := ParseEnvelope(resp.Body, nil); err == nil && len(env.Errors) > 0 {
		e.Detail = env.ErrorText()
		e.Code = strings.Trim(string(env.Errors[0].ErrorCode), `"`)
	} else {
		e.Detail = snippet(resp.Body)
	}

	switch resp.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		e.Kind = vendor.ErrInvalid
	case http.StatusUnauthorized:
		e.Kind = vendor.ErrAuth
		e.Detail = "Cisco Secure Endpoint rejected the client ID or API key (" + e.Detail + ")"
	case http.StatusForbidden:
		e.Kind = vendor.ErrForbidden
	case http.StatusNotFound:
		e.Kind = vendor.ErrNotFound
	case http.StatusMethodNotAllowed:
		e.Kind = vendor.ErrForbidden
	case http.StatusConflict:
		e.Kind = vendor.ErrConflict
	case http.StatusTooManyRequests:
		e.Kind = vendor.ErrThrottled
		e.RetryAfter = rateLimitWait(resp.Header, time.Now())
	default:
		e.Kind = vendor.ErrUnavailable
	}
	return e
}

// rateLimitWait returns how long to wait after a 429: Retry-After when
// present, else X-RateLimit-Reset, the seconds until the hourly window
// resets (the documentation spells it X-Rate-Limit-Reset). The wait is capped
// at vendorhttp.MaxRetryAfter, and zero means unknown.
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	if d, ok := vendorhttp.RetryAfter(h, now); ok {
		return d
	}
	for _, name := range []string{"X-RateLimit-Reset", "X-Rate-Limit-Reset"} {
		secs, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
		if err != nil || secs < 0 {
			continue
		}
		d := time.Duration(secs) * time.Second
		if d > vendorhttp.MaxRetryAfter {
			d = vendorhttp.MaxRetryAfter
		}
		return d
	}
	return 0
}

// snippet returns the start of a non-JSON body for an error detail, without
// control characters.
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

// RawWithoutUnlockCode returns an isolation response body with data.unlock_code
// removed, because the unlock code lifts isolation on the machine and is
// returned only through Outcome.UnlockCode, which the engine seals.
func RawWithoutUnlockCode(body []byte) json.RawMessage {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(doc["data"], &data); err == nil {
		if _, ok := data["unlock_code"]; ok {
			delete(data, "unlock_code")
			doc["data"], _ = json.Marshal(data)
		}
	}
	out, err := json.Marshal(doc)
	if err != nil || !json.Valid(out) {
		return nil
	}
	return bytes.TrimSpace(out)
}
