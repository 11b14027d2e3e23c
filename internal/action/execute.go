package action

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Execute runs one request. Errors are *Error.
//
// A write (isolate, release, block, unblock) passes the guardrails and is
// stored as an action in state requested before any vendor write. Writes
// are serialised per target. Concurrent identical requests share one vendor
// call, and an identical request while one is unfinished gets that action's
// id with Deduplicated set. A write of the opposite kind while one is
// pending at the vendor (a release while an isolate is pending) is queued:
// it is sent when the pending action reaches a final state, so the target
// ends in the state last asked for.
func (e *Engine) Execute(ctx context.Context, req Request) (*Result, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	var (
		res *Result
		err error
	)
	if req.IdempotencyKey != "" {
		res, err = e.executeIdempotent(ctx, req)
	} else {
		res, err = e.execute(ctx, req)
	}
	return res, outOfTime(req.Action, err)
}

func checkRequest(req Request) error {
	if req.CompanyID == "" {
		return &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: request has no company"}
	}
	if _, ok := failureText[req.Action]; !ok {
		return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Bad Request: unknown action %s", quote(string(req.Action)))}
	}
	if strings.TrimSpace(req.Requester) == "" {
		return &Error{Status: http.StatusBadRequest, Message: "Bad Request: Missing 'Email' parameter"}
	}
	if req.Target == "" {
		field := "agent_id"
		if isUserAction(req.Action) {
			field = "upn"
		}
		return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Bad Request: Missing '%s' parameter", field)}
	}
	if req.IsolationType != "" && req.IsolationType != "Full" && req.IsolationType != "Selective" {
		return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Bad Request: isolation_type %s must be Full or Selective", quote(req.IsolationType))}
	}
	return nil
}

func isUserAction(a vendor.ActionKind) bool {
	switch a {
	case vendor.ActionBlock, vendor.ActionUnblock, vendor.ActionUStatus, vendor.ActionReport:
		return true
	}
	return false
}

func isWrite(a vendor.ActionKind) bool {
	switch a {
	case vendor.ActionIsolate, vendor.ActionRelease, vendor.ActionBlock, vendor.ActionUnblock:
		return true
	}
	return false
}

func opposite(a vendor.ActionKind) vendor.ActionKind {
	switch a {
	case vendor.ActionIsolate:
		return vendor.ActionRelease
	case vendor.ActionRelease:
		return vendor.ActionIsolate
	case vendor.ActionBlock:
		return vendor.ActionUnblock
	case vendor.ActionUnblock:
		return vendor.ActionBlock
	}
	return ""
}

// execute coalesces concurrent identical writes of this process into one
// run; the others get its result marked Deduplicated.
//
// The run outlives a caller that goes away, so that the others waiting on
// it get its result and a vendor call already made is recorded. It keeps
// the caller's deadline for the steps before the vendor write, and dispatch
// sets its own. The caller waits at most until its own context ends, so the
// API's action timeout always holds.
func (e *Engine) execute(ctx context.Context, req Request) (*Result, error) {
	if !isWrite(req.Action) || req.DryRun {
		return e.run(ctx, req)
	}
	key := strings.Join([]string{req.CompanyID, string(req.Service), string(req.Action), req.Target, req.Comment, req.IsolationType, req.UnlockCode}, "\x00")
	var leader atomic.Bool
	ch := e.flight.DoChan(key, func() (any, error) {
		leader.Store(true)
		runCtx, cancel := detach(ctx)
		defer cancel()
		return e.run(runCtx, req)
	})

	var out singleflight.Result
	select {
	case out = <-ch:
	case <-ctx.Done():
		timeout := &Error{
			Status:  http.StatusGatewayTimeout,
			Message: "Gateway Timeout: " + failureText[req.Action],
			Detail:  "the action is still running and its record completes in the background; send the request again to get its action_id",
			Err:     ctx.Err(),
		}
		if !leader.Load() {
			e.reject(ctx, req, sharedFailure(timeout))
		}
		return nil, timeout
	}

	if out.Err != nil {
		if !leader.Load() {
			// This request shared the run of an identical one, which holds
			// the records; the audit trail still gets this request.
			e.reject(ctx, req, sharedFailure(out.Err))
		}
		return nil, out.Err
	}
	res := out.Val.(*Result)
	if leader.Load() {
		return res, nil
	}
	dup := *res
	dup.Deduplicated = true
	dup.UnlockCode = ""
	return &dup, nil
}

// detach returns a context that is not canceled with ctx but ends at ctx's
// deadline, if it has one.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	out := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(out, deadline)
	}
	return context.WithCancel(out)
}

// sharedFailure words the failure of an identical request's run for the
// audit trail of a request that waited on it.
func sharedFailure(err error) error {
	var ae *Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("an identical request sent at the same time failed: %w", err)
	}
	cp := *ae
	cp.Detail = strings.TrimSpace("an identical request sent at the same time did not complete; " + ae.Detail)
	return &cp
}

func (e *Engine) run(ctx context.Context, req Request) (*Result, error) {
	cc, err := e.client(ctx, req.CompanyID, req.Service, req.Integration)
	if err != nil {
		return nil, err
	}
	if isUserAction(req.Action) {
		if cc.directory == nil {
			return nil, &Error{Status: http.StatusFailedDependency, Message: fmt.Sprintf("Failed Dependency: the %s integration is not a user directory", req.Service)}
		}
		return e.runUser(ctx, req, cc)
	}
	if cc.containment == nil {
		return nil, &Error{Status: http.StatusFailedDependency, Message: fmt.Sprintf("Failed Dependency: the %s integration is not an endpoint product", req.Service)}
	}
	return e.runEndpoint(ctx, req, cc)
}

// runEndpoint handles isolate, releaseisolate and status.
func (e *Engine) runEndpoint(ctx context.Context, req Request, cc *cachedClient) (*Result, error) {
	c := cc.containment
	tgt, err := ParseTarget(c, req.Target)
	if err != nil {
		e.reject(ctx, req, err)
		return nil, err
	}

	// A cheap check before any vendor read: the same write on the same
	// agent_id text is already unfinished.
	if isWrite(req.Action) && !req.DryRun {
		if r, err := e.unfinishedTarget(ctx, req); err != nil {
			return nil, internalError(req.Action, err)
		} else if r != nil {
			return dedupResult(r), nil
		}
	}

	start := time.Now()
	ep, read, err := e.resolve(ctx, c, cc.kind, req, tgt)
	if err != nil {
		e.reject(ctx, req, err)
		return nil, err
	}

	if req.Action == vendor.ActionStatus {
		return e.endpointStatus(ctx, req, cc, ep, read, start)
	}

	if req.Action == vendor.ActionIsolate {
		if err := e.checkProtected(ctx, req.CompanyID, req.Target, ep.AgentID, ep.Hostname, ep.IP); err != nil {
			e.reject(ctx, req, err)
			return nil, err
		}
	}

	r := &row{
		ID: newID(), CompanyID: req.CompanyID, Service: req.Service, Kind: cc.kind, Action: req.Action,
		Target: req.Target, AgentID: ep.AgentID, Requester: req.Requester, ClientAddr: req.ClientAddr,
		RequestID: req.RequestID, Route: req.Route, State: Requested, Endpoint: &ep,
		Options: storedOptions{Comment: req.Comment, IsolationType: req.IsolationType},
	}
	if req.DryRun {
		return e.dryRun(ctx, req, r, c.Plan(req.Action, ep, e.options(r, "")))
	}
	if req.UnlockCode != "" {
		if r.UnlockCode, err = e.seal(req.UnlockCode); err != nil {
			return nil, internalError(req.Action, err)
		}
	}

	unlock := e.locks.Lock(req.CompanyID + "/" + string(req.Service) + "/" + ep.AgentID)
	defer unlock()

	admitted, err := e.admit(ctx, req, r)
	if err != nil || admitted.result != nil {
		return admitted.result, err
	}
	if r.QueuedBehind != "" {
		return &Result{
			ActionID: r.ID, State: Requested, Endpoint: &ep,
			Warnings: []string{fmt.Sprintf("action %s on this endpoint is still pending at the vendor; this %s is sent when it completes", r.QueuedBehind, req.Action)},
		}, nil
	}
	return e.dispatch(ctx, c, r, req.UnlockCode)
}

// resolve finds exactly one endpoint for tgt. For a status request to a
// connector that implements vendor.StatusResolver, it also returns the
// endpoint's status from the same vendor call. Otherwise read is nil.
func (e *Engine) resolve(ctx context.Context, c vendor.Containment, kind vendor.Kind, req Request, tgt vendor.Target) (vendor.Endpoint, *vendor.Outcome, error) {
	var (
		eps  []vendor.Endpoint
		read *vendor.Outcome
		err  error
	)
	if sr, ok := c.(vendor.StatusResolver); ok && req.Action == vendor.ActionStatus {
		var out vendor.Outcome
		eps, out, err = sr.ResolveStatus(ctx, tgt)
		if len(eps) == 1 {
			read = &out
		}
	} else {
		eps, err = c.Resolve(ctx, tgt)
	}
	if err != nil {
		return vendor.Endpoint{}, nil, mapVendorError(req.Action, kind, req.Target, err)
	}
	switch len(eps) {
	case 0:
		return vendor.Endpoint{}, nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("Not Found: endpoint %s is not known to %s", quote(req.Target), vendorName(kind))}
	case 1:
		return eps[0], read, nil
	}
	names := make([]string, 0, len(eps))
	for _, ep := range eps {
		names = append(names, ep.AgentID+" ("+ep.Hostname+")")
	}
	return vendor.Endpoint{}, nil, &Error{
		Status:     http.StatusConflict,
		Message:    fmt.Sprintf("Conflict: endpoint %s matches %d endpoints in %s; send the agent id of one of them", quote(req.Target), len(eps), vendorName(kind)),
		Detail:     "candidates: " + strings.Join(names, ", "),
		Candidates: eps,
	}
}

type admission struct {
	result *Result // set when the request is settled without a new action
}

// admit stores r in state requested, after the database-level checks: an
// unfinished identical write (deduplicated), an unfinished opposite write
// (r is queued behind it), and the company's hourly cap.
func (e *Engine) admit(ctx context.Context, req Request, r *row) (admission, error) {
	now := time.Now().UTC()
	var out admission
	err := e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// A run ended by a deadlock runs again: start from a clean slate.
		out = admission{}
		r.QueuedBehind, r.LeaseUntil, r.NextCheckAt = "", time.Time{}, time.Time{}

		sameID, otherID, err := e.unfinishedIDs(ctx, tx, r.CompanyID, r.Service, r.AgentID, r.Action)
		if err != nil {
			return err
		}
		if sameID != "" {
			same, err := e.loadRow(ctx, tx, sameID, false)
			if err != nil {
				return err
			}
			if same == nil {
				return fmt.Errorf("unfinished action %s disappeared inside the transaction", sameID)
			}
			// A queued opposite write stored later would undo this request,
			// so it is superseded before it is ever sent.
			if err := e.supersedeQueued(ctx, tx, r, same); err != nil {
				return err
			}
			out.result = dedupResult(same)
			return nil
		}
		r.QueuedBehind = otherID

		if r.Action == vendor.ActionIsolate || r.Action == vendor.ActionBlock {
			if gerr := e.checkCap(ctx, tx, r.CompanyID, true); gerr != nil {
				out.result = nil
				return gerr
			}
		}

		if r.QueuedBehind != "" {
			r.NextCheckAt = now.Add(e.cfg.PollMin)
		} else {
			r.LeaseUntil = now.Add(e.cfg.DispatchTimeout + e.cfg.LeaseSlack)
			r.NextCheckAt = r.LeaseUntil
		}
		detail := ""
		if r.QueuedBehind != "" {
			detail = "queued behind pending action " + r.QueuedBehind
		}
		if err := e.insertRow(ctx, tx, r, detail); err != nil {
			return err
		}
		if r.QueuedBehind != "" {
			return e.enqueueTx(ctx, tx, r.ID, r.NextCheckAt)
		}
		return nil
	})

	var ae *Error
	switch {
	case errors.As(err, &ae):
		e.reject(ctx, req, ae)
		return out, ae
	case err != nil && store.IsUniqueViolation(err):
		// Another replica stored the same write first.
		same, rerr := e.unfinished(e.db.ShortContext(ctx), e.db.Read, r.CompanyID, r.Service, "agent_id", r.AgentID, r.Action)
		if rerr == nil && same != nil {
			return admission{result: dedupResult(same)}, nil
		}
		return out, internalError(req.Action, err)
	case err != nil:
		return out, internalError(req.Action, err)
	}
	return out, nil
}

// unfinishedTarget returns the newest unfinished write of req's kind whose
// target text is req's, or nil, and supersedes a queued opposite write
// stored after it (see supersedeQueued).
//
// On SQLite the lookup runs in a transaction on the write connection,
// together with the supersession when there is one. A read connection
// starts each read transaction with an empty page cache once another
// connection has committed, which under load is every time: the lookup on
// one took 15 % of the gateway's CPU under an isolate load. On PostgreSQL
// it is a pool read, and only a supersession takes a transaction.
func (e *Engine) unfinishedTarget(ctx context.Context, req Request) (*row, error) {
	lookup := func(ctx context.Context, q queryer) (*row, error) {
		return e.unfinished(ctx, q, req.CompanyID, req.Service, "target", req.Target, req.Action)
	}
	if e.db.Dialect != store.SQLite {
		r, err := lookup(e.db.ShortContext(ctx), e.db.Read)
		if err != nil || r == nil {
			return r, err
		}
		err = e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return e.supersedeQueued(ctx, tx, r, r) })
		return r, err
	}

	var found *row
	err := e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		r, err := lookup(ctx, tx)
		found = r
		if err != nil || r == nil {
			return err
		}
		return e.supersedeQueued(ctx, tx, r, r)
	})
	return found, err
}

// supersedeQueued fails a queued, never sent write of the opposite kind
// that was stored after the unfinished write same.
func (e *Engine) supersedeQueued(ctx context.Context, tx *sql.Tx, r, same *row) error {
	q, err := e.unfinished(ctx, tx, r.CompanyID, r.Service, "agent_id", r.AgentID, opposite(r.Action))
	if err != nil || q == nil || q.QueuedBehind == "" || !q.LeaseUntil.IsZero() {
		return err
	}
	_, err = e.transitionTx(ctx, tx, q, Requested, change{State: Failed, Detail: fmt.Sprintf("superseded before it was sent: a later %s asked for the opposite while action %s was pending", r.Action, same.ID)})
	return err
}

// unfinished returns the newest unfinished write act whose column (agent_id
// or target) equals value, or nil. The literal list of write actions repeats
// the WHERE clause of the partial indexes actions_unfinished_agent and
// actions_unfinished_target, so that the planner can use them; act is always
// one of those actions.
func (e *Engine) unfinished(ctx context.Context, q queryer, companyID string, svc vendor.Service, column, value string, act vendor.ActionKind) (*row, error) {
	r, err := scanRow(q.QueryRowContext(ctx, e.db.Rebind(unfinishedQuery(column)), companyID, string(svc), value, string(act)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// unfinishedPairQuery reads the id and kind of the newest unfinished write
// of each of two kinds on one agent: unfinishedQuery("agent_id") for each
// kind, reading two columns, in one statement. Each half keeps the equality
// on action and the LIMIT of unfinishedQuery, so that it reads one entry of
// the partial index actions_unfinished_agent. A version with
// "action IN (?, ?)" and no LIMIT made isolations on PostgreSQL 15 fall
// from 369 to 153 a second over three 10-second benchmark runs as the
// table grew, with that query running in most pg_stat_activity samples.
var unfinishedPairQuery = "SELECT id, action FROM (" + unfinishedIDQuery + ") AS same_kind UNION ALL SELECT id, action FROM (" +
	unfinishedIDQuery + ") AS other_kind"

// unfinishedIDQuery is unfinishedQuery("agent_id") reading two columns.
const unfinishedIDQuery = `SELECT id, action FROM actions WHERE company_id = ? AND service = ? AND agent_id = ?
	AND action = ? AND state IN ('requested', 'dispatched') AND NOT dry_run
	AND action IN ('isolate', 'releaseisolate', 'AzureADBlock', 'AzureADUnblock') ORDER BY created_at DESC LIMIT 1`

// unfinishedIDs returns the ids of the newest unfinished write of kind act
// on the agent and of the newest of the opposite kind, "" where there is
// none. It does with one query what two calls of unfinished do, and reads
// two columns instead of whole rows.
func (e *Engine) unfinishedIDs(ctx context.Context, q queryer, companyID string, svc vendor.Service, agentID string, act vendor.ActionKind) (same, other string, err error) {
	rows, err := q.QueryContext(ctx, e.db.Rebind(unfinishedPairQuery),
		companyID, string(svc), agentID, string(act), companyID, string(svc), agentID, string(opposite(act)))
	if err != nil {
		return "", "", fmt.Errorf("read unfinished writes on agent %s: %w", agentID, err)
	}
	defer rows.Close()

	for rows.Next() {
		var id, kind string
		if err := rows.Scan(&id, &kind); err != nil {
			return "", "", fmt.Errorf("read unfinished writes on agent %s: %w", agentID, err)
		}
		switch {
		case kind == string(act) && same == "":
			same = id
		case kind != string(act) && other == "":
			other = id
		}
	}
	if err := rows.Err(); err != nil {
		return "", "", fmt.Errorf("read unfinished writes on agent %s: %w", agentID, err)
	}
	return same, other, nil
}

// unfinishedQuery returns the SQL of unfinished, by agent_id or by target.
func unfinishedQuery(column string) string {
	return "SELECT " + rowColumns + " FROM actions WHERE company_id = ? AND service = ? AND " + column + ` = ?
		AND action = ? AND state IN ('requested', 'dispatched') AND NOT dry_run
		AND action IN ('isolate', 'releaseisolate', 'AzureADBlock', 'AzureADUnblock') ORDER BY created_at DESC LIMIT 1`
}

func dedupResult(r *row) *Result {
	return &Result{ActionID: r.ID, State: r.State, Endpoint: r.Endpoint, VendorResult: r.Result, Deduplicated: true}
}

// options builds the vendor options of a stored action.
func (e *Engine) options(r *row, unlockCode string) vendor.Options {
	return vendor.Options{
		ActionID:      r.ID,
		Requester:     r.Requester,
		Comment:       r.Options.Comment,
		IsolationType: r.Options.IsolationType,
		UnlockCode:    unlockCode,
	}
}

// dispatch sends a stored, requested write to the vendor and records the
// outcome. The vendor call runs under its own deadline, so a caller that
// disconnects does not cut it short.
func (e *Engine) dispatch(ctx context.Context, c vendor.Containment, r *row, unlockCode string) (*Result, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.DispatchTimeout)
	defer cancel()

	start := time.Now()
	var out vendor.Outcome
	var err error
	if r.Action == vendor.ActionIsolate {
		out, err = c.Isolate(dctx, *r.Endpoint, e.options(r, unlockCode))
	} else {
		out, err = c.Release(dctx, *r.Endpoint, e.options(r, unlockCode))
	}
	took := time.Since(start)
	ctx = context.WithoutCancel(ctx)

	if err != nil {
		return nil, e.dispatchFailed(ctx, r, err, took)
	}

	ep := out.Endpoint
	if ep.AgentID == "" {
		ep = *r.Endpoint
	}
	sealed := ""
	if out.UnlockCode != "" {
		if sealed, err = e.seal(out.UnlockCode); err != nil {
			e.log.Error("cannot seal the unlock code; it is returned but not stored", "company", r.CompanyID, "action_id", r.ID, "error", err)
		}
	}
	res := &Result{ActionID: r.ID, Endpoint: &ep, VendorResult: out.Raw, UnlockCode: out.UnlockCode, AlreadyInState: out.AlreadyInState, Warnings: out.Warnings}

	if out.Pending && !out.AlreadyInState {
		now := time.Now().UTC()
		deadline, next := now.Add(e.cfg.ConfirmDeadline), now.Add(e.cfg.PollMin)
		if out.AwaitEvent {
			// No poll can confirm it, so no job is scheduled: the event
			// confirms it, or the sweep finds it once its deadline has
			// passed (by up to SweepSlack + SweepInterval) and a job
			// expires it.
			next = deadline
		}
		ref := out.VendorRef
		err = e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			moved, err := e.transitionTx(ctx, tx, r, Requested, change{
				State: Dispatched, Detail: "accepted by the vendor; confirming", VendorRef: &ref, Endpoint: &ep,
				Result: out.Raw, UnlockCode: sealed, Deadline: &deadline, NextCheckAt: &next, Took: took,
			})
			if err != nil || !moved {
				return err
			}
			if out.AwaitEvent {
				return nil
			}
			return e.enqueueTx(ctx, tx, r.ID, next)
		})
		res.State = Dispatched
	} else {
		detail := "done"
		if out.AlreadyInState {
			detail = "the endpoint was already in the requested state"
		}
		ref := out.VendorRef
		_, err = e.transition(ctx, r, Requested, change{State: Confirmed, Detail: detail, VendorRef: &ref, Endpoint: &ep, Result: out.Raw, UnlockCode: sealed, Took: took})
		res.State = Confirmed
	}
	if err != nil {
		// The vendor acted but the record failed: the sweeper finds the
		// action when its lease ends and settles it by reading the target.
		e.log.Error("vendor call done but not recorded", "company", r.CompanyID, "action_id", r.ID, "error", err)
		return nil, unrecorded(r, err)
	}
	e.log.Info("action dispatched", "company", r.CompanyID, "action_id", r.ID, "vendor", r.Kind, "action", r.Action, "state", res.State)
	return res, nil
}

// dispatchFailed records a failed vendor write. When the write was sent and
// no response arrived, the vendor may have acted, so the action stays
// requested with its lease ended and a confirmation job settles it by
// reading the target's state. A write that was never sent (the rate budget
// or the circuit breaker rejected it) failed for certain.
func (e *Engine) dispatchFailed(ctx context.Context, r *row, err error, took time.Duration) error {
	mapped := mapVendorError(r.Action, r.Kind, r.Target, err)
	ve, ok := vendor.AsError(err)
	uncertain := ok && ve.Status == 0 && !ve.NotSent && (ve.Kind == vendor.ErrTimeout || ve.Kind == vendor.ErrUnavailable)

	if uncertain {
		now := time.Now().UTC()
		rerr := e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			moved, err := e.transitionTx(ctx, tx, r, Requested, change{State: Requested, Detail: "no response from the vendor: " + mapped.Detail, LeaseUntil: &now, NextCheckAt: &now})
			if err != nil || !moved {
				return err
			}
			return e.enqueueTx(ctx, tx, r.ID, now)
		})
		if rerr != nil {
			e.log.Error("cannot record a vendor call without answer", "company", r.CompanyID, "action_id", r.ID, "error", rerr)
		}
		mapped.Detail = strings.TrimSpace(mapped.Detail + fmt.Sprintf("; action %s is being settled by reading the endpoint's state", r.ID))
		mapped.ActionID = r.ID
		return mapped
	}

	if _, rerr := e.transition(ctx, r, Requested, change{State: Failed, Detail: mapped.Message + ": " + mapped.Detail, Took: took}); rerr != nil {
		e.log.Error("cannot record a failed vendor call", "company", r.CompanyID, "action_id", r.ID, "error", rerr)
	} else {
		mapped.ActionID = r.ID
	}
	e.log.Warn("vendor rejected the action", "company", r.CompanyID, "action_id", r.ID, "vendor", r.Kind, "status", mapped.Status)
	return mapped
}

// endpointStatus reads the endpoint's state and records the read. read is
// the state that resolve already got from the vendor, or nil; start is when
// the request's first vendor call began.
//
// A read changes nothing at the vendor, so it is stored once, when it has
// ended: the action row in its final state with the history and audit
// events of both transitions (requested at start, then confirmed or
// failed), in one transaction, before the response is sent. So every answered read is on
// record; a read cut short by a crash disclosed nothing and leaves no row.
func (e *Engine) endpointStatus(ctx context.Context, req Request, cc *cachedClient, ep vendor.Endpoint, read *vendor.Outcome, start time.Time) (*Result, error) {
	r := &row{
		ID: newID(), CompanyID: req.CompanyID, Service: req.Service, Kind: cc.kind, Action: req.Action,
		Target: req.Target, AgentID: ep.AgentID, Requester: req.Requester, ClientAddr: req.ClientAddr,
		RequestID: req.RequestID, Route: req.Route, State: Requested, Endpoint: &ep,
	}

	var out vendor.Outcome
	var err error
	if read != nil {
		out = *read
	} else {
		out, err = cc.containment.Status(ctx, ep)
	}
	took := time.Since(start)
	if err != nil {
		mapped := mapVendorError(req.Action, cc.kind, req.Target, err)
		if rerr := e.insertFinishedRead(context.WithoutCancel(ctx), r, start, Failed, mapped.Message+": "+mapped.Detail, took); rerr != nil {
			e.log.Error("cannot record a failed status read", "company", req.CompanyID, "action_id", r.ID, "error", rerr)
		} else {
			mapped.ActionID = r.ID
		}
		return nil, mapped
	}

	got := out.Endpoint
	if got.AgentID == "" {
		got = ep
	}
	vendorState := got.Isolation
	overlay := func(ctx context.Context, q queryer) string {
		got.Isolation = vendorState
		if err := e.overlayIsolation(ctx, q, req.CompanyID, req.Service, &got); err != nil {
			e.log.Warn("cannot read tracked isolation state", "company", req.CompanyID, "error", err)
		}
		r.Endpoint = &got
		return "isolation " + string(got.Isolation)
	}

	// On SQLite the tracked isolation is read in the transaction that
	// stores the read, on the write connection, whose page cache stays
	// valid. A read connection starts every read transaction with an
	// empty page cache once another connection has committed, which
	// under load is every time. On PostgreSQL, where each statement in
	// the transaction is a round trip on the committer's connection, it
	// is read from the pool first.
	var inTx func(ctx context.Context, q queryer) string
	if e.db.Dialect == store.SQLite {
		inTx = overlay
	} else {
		overlay(e.db.ShortContext(ctx), e.db.Read)
	}
	if err := e.insertFinishedReadWith(context.WithoutCancel(ctx), r, start, Confirmed, "isolation "+string(got.Isolation), took, inTx); err != nil {
		return nil, internalError(req.Action, err)
	}
	return &Result{ActionID: r.ID, State: Confirmed, Endpoint: &got, VendorResult: out.Raw, Warnings: out.Warnings}, nil
}

// trackedIsolationQuery reads the latest confirmed or pending isolate or
// release of an endpoint, through the partial index actions_containment.
const trackedIsolationQuery = `SELECT action, state FROM actions
	WHERE company_id = ? AND service = ? AND agent_id = ? AND action IN ('isolate', 'releaseisolate')
	AND state IN ('confirmed', 'dispatched') AND NOT dry_run ORDER BY created_at DESC LIMIT 1`

// overlayIsolation fills an Unknown isolation state (a vendor that cannot
// report it, such as Wazuh) from the latest isolate or release this gateway
// sent to the endpoint: confirmed gives isolated or not_isolated, pending
// gives isolating or releasing.
func (e *Engine) overlayIsolation(ctx context.Context, q queryer, companyID string, svc vendor.Service, ep *vendor.Endpoint) error {
	if ep.Isolation != vendor.Unknown && ep.Isolation != "" {
		return nil
	}
	var act, state string
	err := q.QueryRowContext(ctx, e.db.Rebind(trackedIsolationQuery), companyID, string(svc), ep.AgentID).Scan(&act, &state)
	if errors.Is(err, sql.ErrNoRows) {
		ep.Isolation = vendor.Unknown
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case act == string(vendor.ActionIsolate) && state == string(Confirmed):
		ep.Isolation = vendor.Isolated
	case act == string(vendor.ActionIsolate):
		ep.Isolation = vendor.Isolating
	case state == string(Confirmed):
		ep.Isolation = vendor.NotIsolated
	default:
		ep.Isolation = vendor.Releasing
	}
	return nil
}

// dryRun records a dry run and returns the calls the action would make.
func (e *Engine) dryRun(ctx context.Context, req Request, r *row, plan []vendor.Call) (*Result, error) {
	if req.Action == vendor.ActionIsolate || req.Action == vendor.ActionBlock {
		if err := e.checkCap(ctx, e.db.Read, req.CompanyID, false); err != nil {
			return nil, err
		}
	}
	r.DryRun = true
	r.State = Confirmed
	if err := e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return e.insertRow(ctx, tx, r, "dry run: no vendor call made")
	}); err != nil {
		return nil, internalError(req.Action, err)
	}
	return &Result{ActionID: r.ID, State: Confirmed, Endpoint: r.Endpoint, Plan: plan}, nil
}

// Reject implements Executor.
func (e *Engine) Reject(ctx context.Context, req Request, err error) { e.reject(ctx, req, err) }

// reject records a request refused before any action was stored.
func (e *Engine) reject(ctx context.Context, req Request, err error) {
	detail := err.Error()
	var ae *Error
	if errors.As(err, &ae) {
		detail = ae.Message
		if ae.Detail != "" {
			detail += " (" + ae.Detail + ")"
		}
	}
	_, aerr := e.audit.Append(context.WithoutCancel(ctx), audit.Event{
		CompanyID: req.CompanyID, Time: time.Now().UTC(), Type: "rejected", Requester: req.Requester,
		ClientAddr: req.ClientAddr, RequestID: req.RequestID, Route: req.Route, Action: string(req.Action),
		Target: req.Target, Result: "rejected", Detail: detail,
	})
	if aerr != nil {
		e.log.Error("cannot audit a rejected request", "company", req.CompanyID, "error", aerr)
	}
}

func (e *Engine) seal(v string) (string, error) {
	if e.sealer == nil {
		return "", errors.New("no sealer configured")
	}
	return e.sealer.Seal(v)
}
