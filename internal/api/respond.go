package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/vendors"
)

// errorBody is every error response. StatusCode is filled in by writeJSON.
type errorBody struct {
	StatusCode int               `json:"statusCode"`
	Message    string            `json:"message"`
	Detail     string            `json:"detail,omitempty"`
	Candidates []vendor.Endpoint `json:"candidates,omitempty"`
	ActionID   string            `json:"action_id,omitempty"`
	RequestID  string            `json:"request_id,omitempty"`
}

type statusBody struct {
	StatusCode int    `json:"statusCode"`
	Status     string `json:"status"`
}

// writeJSON sets the statusCode field of body to status and writes it.
func writeJSON(w http.ResponseWriter, status int, body any) {
	switch b := body.(type) {
	case errorBody:
		b.StatusCode = status
		body = b
	case statusBody:
		b.StatusCode = status
		body = b
	}

	data, err := json.Marshal(body)
	if err != nil {
		// Every body type marshals; reaching this is a programming error.
		status = http.StatusInternalServerError
		data = []byte(`{"statusCode":500,"message":"Internal Server Error"}`)
	}

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func internalError(requestID string) errorBody {
	return errorBody{
		Message:   "Internal Server Error: the request failed; quote the request id when reporting it",
		RequestID: requestID,
	}
}

// writeBodyError writes the response to a rejected request body.
func writeBodyError(w http.ResponseWriter, e *bodyError) {
	writeJSON(w, e.Status, errorBody{Message: e.Message})
}

// writeEngineError writes the response to an error from the engine. An
// *action.Error is shown as the engine worded it. Any other error is logged
// once and gets a generic 500 that carries the request id.
func (s *Server) writeEngineError(w http.ResponseWriter, r *http.Request, err error) {
	info := infoFrom(r.Context())

	var ae *action.Error
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status <= 599 {
		if ae.ActionID != "" {
			info.ActionID = ae.ActionID
		}
		if ae.Status >= 500 {
			s.log.Warn("action failed", "request_id", info.RequestID, "company_id", info.CompanyID,
				"action_id", info.ActionID, "route", info.Route, "status", ae.Status, "error", err, "cause", causeText(ae))
		}
		if ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable {
			if ae.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
			}
		}
		writeJSON(w, ae.Status, errorBody{Message: ae.Message, Detail: ae.Detail, Candidates: ae.Candidates, ActionID: ae.ActionID})
		return
	}

	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("action timed out", "request_id", info.RequestID, "company_id", info.CompanyID,
			"route", info.Route, "timeout", s.cfg.ActionTimeout, "error", err)
		writeJSON(w, http.StatusGatewayTimeout, errorBody{
			Message:   fmt.Sprintf("Gateway Timeout: the action did not finish within %s; its record may still complete", s.cfg.ActionTimeout),
			RequestID: info.RequestID,
		})
		return
	}

	s.log.Error("request failed", "request_id", info.RequestID, "company_id", info.CompanyID,
		"action_id", info.ActionID, "route", info.Route, "error", err)
	writeJSON(w, http.StatusInternalServerError, internalError(info.RequestID))
}

// causeText returns the error an *action.Error wraps, or "". Error() of an
// *action.Error carries only its message and detail, so without it the log
// line of a 5xx would not say what failed.
func causeText(ae *action.Error) string {
	if ae.Err == nil {
		return ""
	}
	return ae.Err.Error()
}
