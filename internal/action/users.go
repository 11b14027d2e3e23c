package action

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendors"
)

// runUser handles the directory actions: block, unblock, status and report.
// They finish within the request, so they are never pending.
func (e *Engine) runUser(ctx context.Context, req Request, cc *cachedClient) (*Result, error) {
	d := cc.directory
	if err := d.ValidateUPN(req.Target); err != nil {
		bad := &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Bad Request: upn %s is not a valid user principal name: %v", quote(req.Target), err)}
		e.reject(ctx, req, bad)
		return nil, bad
	}
	upn := strings.ToLower(req.Target)

	if req.Action == vendor.ActionBlock {
		if err := e.checkProtected(ctx, req.CompanyID, upn); err != nil {
			e.reject(ctx, req, err)
			return nil, err
		}
	}

	r := &row{
		ID: newID(), CompanyID: req.CompanyID, Service: req.Service, Kind: cc.kind, Action: req.Action,
		Target: req.Target, AgentID: upn, Requester: req.Requester, ClientAddr: req.ClientAddr,
		RequestID: req.RequestID, Route: req.Route, State: Requested,
		Options: storedOptions{Comment: req.Comment},
	}
	if req.DryRun {
		return e.dryRun(ctx, req, r, d.Plan(req.Action, req.Target, e.options(r, "")))
	}

	if isWrite(req.Action) {
		unlock := e.locks.Lock(req.CompanyID + "/" + string(req.Service) + "/" + upn)
		defer unlock()
		admitted, err := e.admit(ctx, req, r)
		if err != nil || admitted.result != nil {
			return admitted.result, err
		}
	} else if err := e.insertRead(ctx, r); err != nil {
		return nil, internalError(req.Action, err)
	}

	// A block or unblock is finished and recorded even when the caller
	// goes away; a status or report read ends with the caller's context.
	base := ctx
	if isWrite(req.Action) {
		base = context.WithoutCancel(ctx)
	}
	dctx, cancel := context.WithTimeout(base, e.cfg.DispatchTimeout)
	defer cancel()
	start := time.Now()
	opts := e.options(r, "")

	if req.Action == vendor.ActionReport {
		return e.report(dctx, req, r, d, opts, start)
	}

	var out vendor.UserOutcome
	var err error
	switch req.Action {
	case vendor.ActionBlock:
		out, err = d.Block(dctx, req.Target, opts)
	case vendor.ActionUnblock:
		out, err = d.Unblock(dctx, req.Target, opts)
	default:
		out, err = d.Status(dctx, req.Target)
	}
	took := time.Since(start)
	if err != nil {
		mapped := mapVendorError(req.Action, cc.kind, req.Target, err)
		if _, rerr := e.transition(dctx, r, Requested, change{State: Failed, Detail: mapped.Message + ": " + mapped.Detail + stepsText(out.Steps), Took: took}); rerr != nil {
			e.log.Error("cannot record a failed vendor call", "company", r.CompanyID, "action_id", r.ID, "error", rerr)
		} else {
			mapped.ActionID = r.ID
		}
		return nil, mapped
	}

	if _, err := e.transition(dctx, r, Requested, change{State: Confirmed, Detail: "done" + stepsText(out.Steps), Result: out.Raw, Took: took}); err != nil {
		e.log.Error("vendor call done but not recorded", "company", r.CompanyID, "action_id", r.ID, "error", err)
		return nil, unrecorded(r, err)
	}
	user := out.User
	return &Result{ActionID: r.ID, State: Confirmed, User: &user, Steps: out.Steps, AlreadyInState: out.AlreadyInState, Warnings: out.Warnings, VendorResult: out.Raw}, nil
}

// report builds the user report and e-mails it to the requester. A mail
// failure fails the action: the caller asked for the report to be sent.
func (e *Engine) report(ctx context.Context, req Request, r *row, d vendor.Directory, opts vendor.Options, start time.Time) (*Result, error) {
	rep, err := d.Report(ctx, req.Target, opts)
	if err != nil {
		mapped := mapVendorError(req.Action, r.Kind, req.Target, err)
		if _, rerr := e.transition(ctx, r, Requested, change{State: Failed, Detail: mapped.Message + ": " + mapped.Detail, Took: time.Since(start)}); rerr != nil {
			e.log.Error("cannot record a failed report", "company", r.CompanyID, "action_id", r.ID, "error", rerr)
		} else {
			mapped.ActionID = r.ID
		}
		return nil, mapped
	}

	fail := func(detail string, cause error) (*Result, error) {
		out := &Error{Status: http.StatusBadGateway, Message: "Bad Gateway: " + failureText[req.Action], Detail: detail, Err: cause}
		if _, rerr := e.transition(ctx, r, Requested, change{State: Failed, Detail: detail, Took: time.Since(start)}); rerr != nil {
			e.log.Error("cannot record a failed report", "company", r.CompanyID, "action_id", r.ID, "error", rerr)
		} else {
			out.ActionID = r.ID
		}
		return nil, out
	}
	if e.cfg.MailerFor == nil {
		return fail("no mailer is configured for reports", nil)
	}
	mailer, err := e.cfg.MailerFor(ctx, req.CompanyID)
	if err != nil {
		return fail(fmt.Sprintf("the report was built but no mailer is available: %v", err), err)
	}
	msg := rep.Email
	msg.To = []string{req.Requester}
	if err := mailer.Send(ctx, msg); err != nil {
		return fail(fmt.Sprintf("the report was built but could not be e-mailed to %s: %v", req.Requester, err), err)
	}

	if _, err := e.transition(ctx, r, Requested, change{State: Confirmed, Detail: "report e-mailed to " + req.Requester, Result: rep.Summary, Took: time.Since(start)}); err != nil {
		e.log.Error("report sent but not recorded", "company", r.CompanyID, "action_id", r.ID, "error", err)
		return nil, unrecorded(r, err)
	}
	return &Result{ActionID: r.ID, State: Confirmed, Report: rep.Summary}, nil
}

func stepsText(steps []vendor.Step) string {
	if len(steps) == 0 {
		return ""
	}
	parts := make([]string, 0, len(steps))
	for _, s := range steps {
		mark := "ok"
		if !s.Succeeded {
			mark = "failed"
		}
		parts = append(parts, s.Name+" "+mark)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
