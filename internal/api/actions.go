package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// maxIdempotencyKeyChars is the longest Idempotency-Key header accepted.
const maxIdempotencyKeyChars = 255

// userResponse is the response body of /azuread/users.
type userResponse struct {
	StatusCode     int             `json:"statusCode"`
	Message        string          `json:"message"`
	ActionID       string          `json:"action_id,omitempty"`
	State          action.State    `json:"state,omitempty"`
	User           *vendor.User    `json:"user,omitempty"`
	Report         json.RawMessage `json:"report,omitempty"`
	Steps          []vendor.Step   `json:"steps,omitempty"`
	AlreadyInState bool            `json:"already_in_state"`
	Deduplicated   bool            `json:"deduplicated"`
	Warnings       []string        `json:"warnings"`
	DryRun         bool            `json:"dry_run,omitempty"`
	Plan           []vendor.Call   `json:"plan,omitempty"`
}

// endpointResponse is the response body of the endpoint routes: the published
// {"statusCode":200,"body":{"message":...,"action_result":...}} with the
// gateway's fields beside action_result.
type endpointResponse struct {
	StatusCode int          `json:"statusCode"`
	Body       endpointBody `json:"body"`
}

type endpointBody struct {
	Message        string           `json:"message"`
	ActionResult   json.RawMessage  `json:"action_result"`
	ActionID       string           `json:"action_id,omitempty"`
	State          action.State     `json:"state,omitempty"`
	Endpoint       *vendor.Endpoint `json:"endpoint,omitempty"`
	AlreadyInState bool             `json:"already_in_state"`
	Deduplicated   bool             `json:"deduplicated"`
	Warnings       []string         `json:"warnings"`
	UnlockCode     string           `json:"unlock_code,omitempty"`
	DryRun         bool             `json:"dry_run,omitempty"`
	Plan           []vendor.Call    `json:"plan,omitempty"`
}

// recordResponse is an action record with the statusCode field.
type recordResponse struct {
	StatusCode int `json:"statusCode"`
	*action.Record
}

// actionHandler serves one action route. Parsing, the engine call and the
// error responses run in functions of their own, which keeps the frames
// below the slot wait small: with them and offload, a connection's goroutine
// fits in an 8 KiB stack (measured with Go 1.26).
func (s *Server) actionHandler(route actionRoute) companyHandler {
	return func(w http.ResponseWriter, r *http.Request, company tenant.Company) {
		req := s.readActionRequest(w, r, route, company)
		if req == nil {
			return
		}

		ctx, cancel := s.engineContext(r)
		defer cancel()
		if !s.acquireSlot(w, r, ctx, req) {
			return
		}
		defer s.releaseSlot()
		s.executeAction(ctx, w, r, route, req)
	}
}

// readActionRequest reads, checks and returns the action request of r. It
// writes 400 and returns nil when the body or a header is invalid.
func (s *Server) readActionRequest(w http.ResponseWriter, r *http.Request, route actionRoute, company tenant.Company) *action.Request {
	info := infoFrom(r.Context())

	values, berr := readObject(w, r, route.Fields, route.Path)
	if berr != nil {
		writeBodyError(w, berr)
		return nil
	}
	req, berr := parseActionRequest(route, values)
	if berr != nil {
		writeBodyError(w, berr)
		return nil
	}
	info.Action = string(req.Action)

	idempotencyKey := r.Header.Get("Idempotency-Key")
	if !validIdempotencyKey(idempotencyKey) {
		writeBodyError(w, badRequest("Invalid Idempotency-Key header: use at most %d printable characters", maxIdempotencyKeyChars))
		return nil
	}

	req.CompanyID = company.ID
	req.ClientAddr = info.ClientAddr
	req.RequestID = info.RequestID
	req.IdempotencyKey = idempotencyKey
	req.Integration = info.Integration
	return &req
}

// executeAction hands req to the engine and writes the response.
func (s *Server) executeAction(ctx context.Context, w http.ResponseWriter, r *http.Request, route actionRoute, req *action.Request) {
	var result *action.Result
	var err error
	offload(func() { result, err = s.cfg.Executor.Execute(ctx, *req) })
	if err != nil {
		s.writeEngineError(w, r, err)
		return
	}
	infoFrom(r.Context()).ActionID = result.ActionID

	if route.IsUser() {
		writeJSON(w, http.StatusOK, userResult(*req, result))
		return
	}
	writeJSON(w, http.StatusOK, s.endpointResult(r, *req, result))
}

// acquireSlot waits for one of the MaxConcurrentActions slots. When ctx
// (the action timeout) ends first, it writes 503, records req in the audit
// trail as rejected and returns false. It returns false without a response
// or a record when the client has gone.
func (s *Server) acquireSlot(w http.ResponseWriter, r *http.Request, ctx context.Context, req *action.Request) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}

	s.metrics.waiting.Inc()
	acquired, expired := s.waitSlot(r.Context(), ctx)
	s.metrics.waiting.Dec()
	if expired {
		s.writeBusy(ctx, w, r, req)
	}
	return acquired
}

// waitSlot blocks until a slot frees, the client goes (clientCtx ends) or
// the action timeout ends (ctx). expired reports the last case.
func (s *Server) waitSlot(clientCtx, ctx context.Context) (acquired, expired bool) {
	select {
	case s.slots <- struct{}{}:
		return true, false
	case <-clientCtx.Done():
		return false, false
	case <-ctx.Done():
		return false, true
	}
}

// writeBusy records req as rejected in the audit trail and writes the 503
// of a request that found no free slot in time.
func (s *Server) writeBusy(ctx context.Context, w http.ResponseWriter, r *http.Request, req *action.Request) {
	msg := fmt.Sprintf("Service Unavailable: %d actions are in progress, the most this server takes at once; retry shortly", cap(s.slots))
	offload(func() {
		s.cfg.Executor.Reject(context.WithoutCancel(ctx), *req, &action.Error{Status: http.StatusServiceUnavailable, Message: msg})
	})
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, errorBody{Message: msg, RequestID: infoFrom(r.Context()).RequestID})
}

func (s *Server) releaseSlot() { <-s.slots }

// engineContext detaches the engine call from the client's connection: a
// containment already sent to a vendor is recorded to its end even when the
// client hangs up. ActionTimeout still bounds it.
func (s *Server) engineContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.ActionTimeout)
}

// readObject checks the content type and reads and decodes the body.
func readObject(w http.ResponseWriter, r *http.Request, fields map[string]fieldKind, route string) (map[string]json.RawMessage, *bodyError) {
	if err := checkContentType(r); err != nil {
		return nil, err
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	return decodeObject(body, fields, route)
}

func userResult(req action.Request, res *action.Result) userResponse {
	resp := userResponse{
		ActionID:       res.ActionID,
		State:          res.State,
		User:           res.User,
		Report:         validRaw(res.Report),
		Steps:          res.Steps,
		AlreadyInState: res.AlreadyInState,
		Deduplicated:   res.Deduplicated,
		Warnings:       nonNil(res.Warnings),
	}
	resp.StatusCode = http.StatusOK

	if req.DryRun {
		resp.DryRun = true
		resp.Plan = nonNilCalls(res.Plan)
		resp.Message = fmt.Sprintf("Dry run: no change was made; plan lists the calls that %s would make for user %s", req.Action, req.Target)
		return resp
	}

	switch req.Action {
	case vendor.ActionBlock:
		resp.Message = fmt.Sprintf("User %s was blocked successfully", req.Target)
	case vendor.ActionUnblock:
		resp.Message = fmt.Sprintf("User %s was unblocked successfully", req.Target)
	case vendor.ActionUStatus:
		resp.Message = fmt.Sprintf("Status of user %s retrieved successfully", req.Target)
	case vendor.ActionReport:
		resp.Message = fmt.Sprintf("Report for user %s was sent to %s", req.Target, req.Requester)
	}
	return resp
}

func (s *Server) endpointResult(r *http.Request, req action.Request, res *action.Result) endpointResponse {
	result := validRaw(res.VendorResult)
	if result == nil {
		if len(res.VendorResult) > 0 {
			info := infoFrom(r.Context())
			s.log.Error("the engine returned a vendor result that is not JSON; responding with an empty action_result",
				"request_id", info.RequestID, "company_id", info.CompanyID, "action_id", res.ActionID)
		}
		result = json.RawMessage("{}")
	}

	body := endpointBody{
		Message:        "Action executed successfully",
		ActionResult:   result,
		ActionID:       res.ActionID,
		State:          res.State,
		Endpoint:       res.Endpoint,
		AlreadyInState: res.AlreadyInState,
		Deduplicated:   res.Deduplicated,
		Warnings:       nonNil(res.Warnings),
		UnlockCode:     res.UnlockCode,
	}
	if req.DryRun {
		body.DryRun = true
		body.Plan = nonNilCalls(res.Plan)
		body.Message = fmt.Sprintf("Dry run: no change was made; plan lists the calls that %s would make", req.Action)
	}
	return endpointResponse{StatusCode: http.StatusOK, Body: body}
}

// validIdempotencyKey accepts an absent key, or 1 to 255 printable ASCII
// characters.
func validIdempotencyKey(key string) bool {
	if len(key) > maxIdempotencyKeyChars {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

func validRaw(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !json.Valid(raw) {
		return nil
	}
	return raw
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilCalls(c []vendor.Call) []vendor.Call {
	if c == nil {
		return []vendor.Call{}
	}
	return c
}
