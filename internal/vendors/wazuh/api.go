package wazuh

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Wazuh error codes the client maps (wazuh/wazuh v4.14.7
// framework/wazuh/core/exception.py and api/api/spec/spec.yaml).
const (
	codeAgentNotFound    = 1701 // "Agent does not exist"
	codeManagerAgent     = 1703 // "Action not available for Manager (agent 000)"
	codeAgentNotActive   = 1707 // "Cannot send request, agent is not active"
	codeARDisabled       = 1750 // active response disabled in the agent's ossec.conf
	codeCommandMissing   = 1650 // empty active response command
	codeCommandNotInConf = 1652 // command without "!" that ar.conf does not define
	codePermissionDenied = 4000 // RBAC denial
	codeLoginBlocked     = 6000 // "Limit of login attempts reached"
	codeTooManyRequests  = 6001 // "Maximum number of requests per minute reached"
)

// envelope is the body of every Wazuh API response: "data" with
// affected_items and failed_items, "message", and "error" 0 (all
// succeeded), 1 (all failed) or 2 (some failed).
type envelope struct {
	Data struct {
		AffectedItems      json.RawMessage `json:"affected_items"`
		FailedItems        []failedItem    `json:"failed_items"`
		TotalAffectedItems int             `json:"total_affected_items"`
		TotalFailedItems   int             `json:"total_failed_items"`
	} `json:"data"`
	Message string `json:"message"`
	Error   int    `json:"error"`
}

// failedItem is one group of failed ids sharing an error.
type failedItem struct {
	Error struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		Remediation string `json:"remediation"`
	} `json:"error"`
	ID []string `json:"id"`
}

// problem is the body of a non-200 response.
type problem struct {
	Title       string `json:"title"`
	Detail      string `json:"detail"`
	Remediation string `json:"remediation"`
	Error       int    `json:"error"`
	Code        int    `json:"code"` // the 429 body carries "code" rather than "error"
}

// call sends req and returns the response when the status is 200, or a
// *vendor.Error. It reports a rejected login as the login's own error.
func (c *Client) call(ctx context.Context, req vendorhttp.Request) (*vendorhttp.Response, error) {
	ctx, slot := withLoginSlot(ctx)
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		out := vendor.FromTransport(vendor.KindWazuh, req.Op, err)
		if lerr := slot.get(); lerr != nil {
			// The login's error gives the reason. Whether req reached the
			// manager depends on req's own attempts, because a login that
			// failed before the first attempt leaves req unsent.
			login := *lerr
			login.NotSent = out.NotSent
			return nil, &login
		}
		return nil, out
	}
	if resp.Status != http.StatusOK {
		return nil, mapHTTPError(req.Op, resp)
	}
	return resp, nil
}

// mapHTTPError turns a non-200 response into a *vendor.Error.
func mapHTTPError(op string, resp *vendorhttp.Response) *vendor.Error {
	var p problem
	_ = json.Unmarshal(resp.Body, &p)
	code := p.Error
	if code == 0 {
		code = p.Code
	}
	detail := strings.TrimSpace(p.Detail)
	if detail == "" {
		detail = strings.TrimSpace(p.Title)
	}
	if detail == "" {
		detail = http.StatusText(resp.Status)
	}

	e := &vendor.Error{Vendor: vendor.KindWazuh, Op: op, Status: resp.Status, Detail: detail}
	if code != 0 {
		e.Code = fmt.Sprint(code)
	}
	switch {
	case resp.Status == http.StatusTooManyRequests || code == codeTooManyRequests:
		e.Kind = vendor.ErrThrottled
		if wait, ok := vendorhttp.RetryAfter(resp.Header, time.Now()); ok {
			e.RetryAfter = wait
		}
	case code == codeLoginBlocked:
		// The manager blocks the client IP for block_time (300 s by default).
		e.Kind = vendor.ErrThrottled
		e.RetryAfter = 300 * time.Second
	case resp.Status == http.StatusUnauthorized:
		e.Kind = vendor.ErrAuth
	case resp.Status == http.StatusForbidden:
		e.Kind = vendor.ErrForbidden
		if code == codePermissionDenied {
			e.Detail = detail + " (the API user's role needs agent:read and active-response:command on agent:id)"
		}
	case resp.Status == http.StatusNotFound:
		e.Kind = vendor.ErrMisconfigure
		e.Detail = "the API responded 404 to " + op + ": check setting url (" + detail + ")"
	case code == codeCommandNotInConf || code == codeCommandMissing:
		e.Kind = vendor.ErrMisconfigure
	case resp.Status == http.StatusBadRequest:
		e.Kind = vendor.ErrInvalid
	default:
		e.Kind = vendor.ErrUnavailable
	}
	return e
}

// failure maps a failed item for one agent to a *vendor.Error.
func failure(op string, item failedItem) *vendor.Error {
	e := &vendor.Error{Vendor: vendor.KindWazuh, Op: op, Status: http.StatusOK, Code: fmt.Sprint(item.Error.Code), Detail: item.Error.Message}
	switch item.Error.Code {
	case codeAgentNotFound, codeManagerAgent:
		e.Kind = vendor.ErrNotFound
	case codeAgentNotActive, codeARDisabled:
		e.Kind = vendor.ErrConflict
		if item.Error.Remediation != "" {
			e.Detail += ". " + item.Error.Remediation
		}
	default:
		e.Kind = vendor.ErrUnavailable
	}
	return e
}

// decodeEnvelope parses a 200 body.
func decodeEnvelope(op string, resp *vendorhttp.Response) (*envelope, error) {
	var env envelope
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindWazuh, Op: op, Status: resp.Status,
			Detail: "the response is not the Wazuh API JSON envelope: " + err.Error()}
	}
	return &env, nil
}
