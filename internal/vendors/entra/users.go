package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

// Step names recorded in UserOutcome.Steps and the audit trail.
const (
	StepDisable = "disable account"
	StepEnable  = "enable account"
	StepRevoke  = "revoke sign-in sessions"
)

// Property lists for $select. signInActivity needs a Microsoft Entra ID P1
// or P2 licence and AuditLog.Read.All ("user resource type", Graph v1.0),
// so Status retries without it.
const (
	selectBase     = "id,userPrincipalName,displayName,accountEnabled,userType,signInSessionsValidFromDateTime"
	selectActivity = selectBase + ",signInActivity"
)

// guestWarning tells the caller that revokeSignInSessions does not reach
// B2B guests (Graph v1.0, "user: revokeSignInSessions": external users are
// not affected). Their sessions live in their home tenant.
const guestWarning = "user is a guest (external) account: revoking sign-in sessions does not apply to external users, so sessions in their home tenant stay valid"

// checkTimeout bounds Factory.Check, which gets no context.
const checkTimeout = 30 * time.Second

// Check performs the cheapest authenticated read, GET /users?$top=1.
func (c *Client) Check() error {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()

	_, err := c.call(ctx, vendorhttp.Request{
		Op: "list users", Method: http.MethodGet,
		Path:       "/users" + mslogin.EncodeQuery(mslogin.Param{Key: "$top", Value: "1"}, mslogin.Param{Key: "$select", Value: "id"}),
		Idempotent: true,
	})
	return err
}

// Block disables the account, then revokes its sign-in sessions. A failed
// revocation after a successful disable is not an error: the outcome lists
// both steps and carries a warning, because the account is blocked.
func (c *Client) Block(ctx context.Context, upn string, opts vendor.Options) (vendor.UserOutcome, error) {
	if err := ValidateUPN(upn); err != nil {
		return vendor.UserOutcome{}, invalidUPN("block user", err)
	}

	// Read first: a 404 or 403 stops here, and the user type decides the
	// guest warning.
	before, _, err := c.getUser(ctx, upn, selectBase)
	if err != nil {
		return vendor.UserOutcome{}, err
	}

	// An account already disabled needs no PATCH, but its sessions are
	// still revoked: a token issued before the disable may still be valid.
	var out vendor.UserOutcome
	if before.AccountEnabled != nil && !*before.AccountEnabled {
		out.AlreadyInState = true
		c.logger.Info("user account already disabled; revoking its sessions", "action_id", opts.ActionID, "upn", upn)
	} else {
		if err := c.setEnabled(ctx, upn, false); err != nil {
			return vendor.UserOutcome{}, err
		}
		out.Steps = append(out.Steps, vendor.Step{Name: StepDisable, Succeeded: true})
		c.logger.Info("user account disabled", "action_id", opts.ActionID, "upn", upn)
	}

	revokeBody, revokeErr := c.revokeSessions(ctx, upn)
	if revokeErr != nil {
		out.Steps = append(out.Steps, vendor.Step{Name: StepRevoke, Succeeded: false, Detail: revokeErr.Error()})
		out.Warnings = append(out.Warnings, "the account was disabled, but revoking its sign-in sessions failed ("+revokeErr.Error()+"): existing refresh tokens stay valid until they expire, so send AzureADBlock again or revoke the sessions in the Microsoft Entra admin center")
		c.logger.Warn("revoke sign-in sessions failed after disabling the account", "action_id", opts.ActionID, "upn", upn, "error", revokeErr)
	} else {
		out.Steps = append(out.Steps, vendor.Step{Name: StepRevoke, Succeeded: true, Detail: "sessions are revoked within a few minutes"})
	}

	user := before.toUser()
	user.AccountEnabled = false
	if user.IsGuest {
		out.Warnings = append(out.Warnings, guestWarning)
	}
	out.User = user
	out.Raw = rawResult(map[string]any{"accountEnabled": false, "revokeSignInSessions": json.RawMessage(revokeBody)})
	return out, nil
}

// Unblock enables the account. Sessions revoked by Block stay revoked: the
// user signs in again.
func (c *Client) Unblock(ctx context.Context, upn string, opts vendor.Options) (vendor.UserOutcome, error) {
	if err := ValidateUPN(upn); err != nil {
		return vendor.UserOutcome{}, invalidUPN("unblock user", err)
	}

	before, _, err := c.getUser(ctx, upn, selectBase)
	if err != nil {
		return vendor.UserOutcome{}, err
	}
	user := before.toUser()
	user.AccountEnabled = true
	out := vendor.UserOutcome{User: user, Raw: rawResult(map[string]any{"accountEnabled": true})}
	if before.AccountEnabled != nil && *before.AccountEnabled {
		out.AlreadyInState = true
		c.logger.Info("user account already enabled; nothing to change", "action_id", opts.ActionID, "upn", upn)
		return out, nil
	}

	if err := c.setEnabled(ctx, upn, true); err != nil {
		return vendor.UserOutcome{}, err
	}
	c.logger.Info("user account enabled", "action_id", opts.ActionID, "upn", upn)
	out.Steps = []vendor.Step{{Name: StepEnable, Succeeded: true}}
	return out, nil
}

// Status reads the account state, sessions valid-from time and last
// sign-in. Without a premium licence Graph rejects signInActivity, so Status
// then reads the rest and warns that the last sign-in is unknown.
func (c *Client) Status(ctx context.Context, upn string) (vendor.UserOutcome, error) {
	if err := ValidateUPN(upn); err != nil {
		return vendor.UserOutcome{}, invalidUPN("read user", err)
	}

	var warnings []string
	u, raw, err := c.getUser(ctx, upn, selectActivity)
	if ve, ok := vendor.AsError(err); ok && ve.Kind == vendor.ErrForbidden {
		u, raw, err = c.getUser(ctx, upn, selectBase)
		if err == nil {
			warnings = append(warnings, "last sign-in is unavailable: Graph rejected signInActivity ("+ve.Code+"), which needs a Microsoft Entra ID P1 or P2 licence and the AuditLog.Read.All permission")
		}
	}
	if err != nil {
		return vendor.UserOutcome{}, err
	}

	user := u.toUser()
	if user.IsGuest {
		warnings = append(warnings, guestWarning)
	}
	return vendor.UserOutcome{User: user, Warnings: warnings, Raw: raw}, nil
}

// Plan implements vendor.Directory.
func (c *Client) Plan(action vendor.ActionKind, upn string, opts vendor.Options) []vendor.Call {
	user := c.graphBase + userPath(upn)
	get := vendor.Call{Method: http.MethodGet, URL: user + mslogin.EncodeQuery(mslogin.Param{Key: "$select", Value: selectBase})}
	switch action {
	case vendor.ActionBlock:
		return []vendor.Call{get,
			{Method: http.MethodPatch, URL: user, Body: json.RawMessage(`{"accountEnabled":false}`)},
			{Method: http.MethodPost, URL: user + "/revokeSignInSessions"},
		}
	case vendor.ActionUnblock:
		return []vendor.Call{get, {Method: http.MethodPatch, URL: user, Body: json.RawMessage(`{"accountEnabled":true}`)}}
	case vendor.ActionUStatus:
		return []vendor.Call{{Method: http.MethodGet, URL: user + mslogin.EncodeQuery(mslogin.Param{Key: "$select", Value: selectActivity})}}
	case vendor.ActionReport:
		since := c.now().UTC().Add(-reportWindow)
		return []vendor.Call{
			{Method: http.MethodGet, URL: user + mslogin.EncodeQuery(mslogin.Param{Key: "$select", Value: selectActivity})},
			{Method: http.MethodGet, URL: c.graphBase + signInsPath(upn, since)},
			{Method: http.MethodGet, URL: c.graphBase + auditsPath(upn, since)},
		}
	}
	return nil
}

// getUser reads a user with the given $select list.
func (c *Client) getUser(ctx context.Context, upn, fields string) (graphUser, json.RawMessage, error) {
	resp, err := c.call(ctx, vendorhttp.Request{
		Op:         "read user",
		Method:     http.MethodGet,
		Path:       userPath(upn) + mslogin.EncodeQuery(mslogin.Param{Key: "$select", Value: fields}),
		Idempotent: true,
	})
	if err != nil {
		return graphUser{}, nil, err
	}
	u, err := parseUser(resp.Body)
	if err != nil {
		return graphUser{}, nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindEntra, Op: "read user", Status: resp.Status, Detail: err.Error()}
	}
	return u, json.RawMessage(resp.Body), nil
}

// setEnabled sends PATCH /users/{upn} with exactly {"accountEnabled":v}
// (Graph v1.0, "Update user": 204 No Content). Sending the same value twice
// has the same effect, so the request may be retried.
func (c *Client) setEnabled(ctx context.Context, upn string, enabled bool) error {
	op := "disable user"
	body := []byte(`{"accountEnabled":false}`)
	if enabled {
		op, body = "enable user", []byte(`{"accountEnabled":true}`)
	}
	_, err := c.call(ctx, vendorhttp.Request{Op: op, Method: http.MethodPatch, Path: userPath(upn), Body: body, Idempotent: true})
	return err
}

// revokeSessions calls POST /users/{upn}/revokeSignInSessions. Graph v1.0
// documents 200 with {"value": true}, the beta predecessor returned 204, and
// both mean success. A repeat only moves signInSessionsValidFromDateTime
// forward, so the request may be retried.
func (c *Client) revokeSessions(ctx context.Context, upn string) ([]byte, error) {
	resp, err := c.call(ctx, vendorhttp.Request{Op: "revoke sign-in sessions", Method: http.MethodPost, Path: userPath(upn) + "/revokeSignInSessions", Idempotent: true})
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNoContent || len(resp.Body) == 0 {
		return []byte(`{"value":true}`), nil
	}
	var v struct {
		Value *bool `json:"value"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil || v.Value == nil {
		return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindEntra, Op: "revoke sign-in sessions", Status: resp.Status, Detail: "response has no boolean value"}
	}
	if !*v.Value {
		return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindEntra, Op: "revoke sign-in sessions", Status: resp.Status, Detail: "Graph returned value false"}
	}
	return resp.Body, nil
}

func invalidUPN(op string, err error) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindEntra, Op: op, Detail: err.Error()}
}

func rawResult(v map[string]any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal a map of plain values: %v", err))
	}
	return b
}
