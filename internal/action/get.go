package action

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Get returns an action of the company with its history. An id of another
// company gets the same 404 *Error as an unknown id.
func (e *Engine) Get(ctx context.Context, companyID, actionID string) (*Record, error) {
	notFound := &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("Not Found: no action %s", quote(actionID))}
	r, err := e.loadRow(ctx, e.db.Read, actionID, false)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot read the action", Err: err}
	}
	if r == nil || r.CompanyID != companyID {
		return nil, notFound
	}
	hist, err := e.history(ctx, r)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot read the action's history", Err: err}
	}
	return &Record{
		ID: r.ID, CompanyID: r.CompanyID, Service: r.Service, Action: r.Action, Target: r.Target,
		Requester: r.Requester, State: r.State, VendorRef: r.VendorRef, Endpoint: r.Endpoint,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, History: hist,
	}, nil
}

// latestContainmentQuery reads the id of the latest isolate or release of a
// kind on an endpoint. Its literal action list repeats the WHERE clause of
// the partial index actions_containment, so that the planner uses that
// index. The bound action is always one of those two.
const latestContainmentQuery = `SELECT id FROM actions WHERE company_id = ? AND service = ? AND agent_id = ?
	AND action = ? AND action IN ('isolate', 'releaseisolate') AND NOT dry_run ORDER BY created_at DESC LIMIT 1`

// ConfirmExternal records a result that arrived out of band (a Wazuh
// integration event on the manager) for the company's latest unfinished
// action of that kind on the agent: confirmed when succeeded, failed
// otherwise. A repeat of the same event finds the action final and returns
// it unchanged.
func (e *Engine) ConfirmExternal(ctx context.Context, companyID string, svc vendor.Service, agentID string, act vendor.ActionKind, succeeded bool, detail string) (*Record, error) {
	if act != vendor.ActionIsolate && act != vendor.ActionRelease {
		return nil, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Bad Request: action %s cannot be confirmed by an event; use isolate or releaseisolate", quote(string(act)))}
	}
	if err := e.checkEventAgentID(ctx, companyID, svc, agentID); err != nil {
		return nil, err
	}

	// The update is conditional on the state the lookup read. The agent can
	// report before the gateway has recorded the manager's response, so the
	// dispatch may move the action from requested to dispatched in between;
	// the lookup then runs again and finds it dispatched. No poll confirms
	// a Wazuh action later, so an event dropped here would leave it to
	// expire.
	for range maxEventAttempts {
		r, err := e.unfinished(e.db.ShortContext(ctx), e.db.Read, companyID, svc, "agent_id", agentID, act)
		if err != nil {
			return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot read the action", Err: err}
		}
		if r == nil {
			return e.latestContainment(ctx, companyID, svc, agentID, act)
		}
		if e.afterEventLookup != nil {
			e.afterEventLookup()
		}

		moved, err := e.transition(ctx, r, r.State, eventChange(r, act, succeeded, detail))
		if err != nil {
			return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot record the result", Err: err}
		}
		if moved {
			return e.Get(ctx, companyID, r.ID)
		}
		e.log.Info("the action changed while an event was recorded; reading it again", "company", companyID, "action_id", r.ID, "state", r.State)
	}
	return nil, &Error{Status: http.StatusConflict, Message: fmt.Sprintf("Conflict: the %s action on agent %s kept changing while the event was recorded; send the event again", act, quote(agentID))}
}

// maxEventAttempts bounds the lookups of one event. Each further lookup
// follows a change of the action by another writer, and an action changes
// state at most a few times.
const maxEventAttempts = 4

// latestContainment returns the latest action of kind act on the agent,
// already final, for a repeated event, or a 404 *Error without one.
func (e *Engine) latestContainment(ctx context.Context, companyID string, svc vendor.Service, agentID string, act vendor.ActionKind) (*Record, error) {
	var id string
	err := e.db.Read.QueryRowContext(e.db.ShortContext(ctx), e.db.Rebind(latestContainmentQuery), companyID, string(svc), agentID, string(act)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("Not Found: no %s action on agent %s", act, quote(agentID))}
	}
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot read the action", Err: err}
	}
	return e.Get(ctx, companyID, id)
}

// eventChange is the update that an agent's result makes to action r.
func eventChange(r *row, act vendor.ActionKind, succeeded bool, detail string) change {
	st := Confirmed
	if !succeeded {
		st = Failed
	}
	text := "reported by the agent: " + strings.TrimSpace(detail)
	if detail == "" {
		text = "reported by the agent"
	}
	ep := r.Endpoint
	if ep != nil && succeeded {
		cp := *ep
		cp.Isolation = vendor.Isolated
		if act == vendor.ActionRelease {
			cp.Isolation = vendor.NotIsolated
		}
		ep = &cp
	}
	return change{State: st, Detail: text, Endpoint: ep}
}

// checkEventAgentID accepts only the vendor's own agent id in an event,
// checked like a request's agent_id: the agent reports itself by its id,
// never by a host name, an address, a list or a path. A company without
// the integration has no action to confirm, so its event gets the lookup's
// 404.
func (e *Engine) checkEventAgentID(ctx context.Context, companyID string, svc vendor.Service, agentID string) error {
	cc, err := e.client(ctx, companyID, svc, tenant.Revision{})
	if errors.Is(err, tenant.ErrNotConfigured) {
		return nil
	}
	if err != nil {
		return err
	}
	if cc.containment == nil {
		return &Error{Status: http.StatusFailedDependency, Message: fmt.Sprintf("Failed Dependency: the %s integration is not an endpoint product", svc)}
	}
	tgt, err := ParseTarget(cc.containment, agentID)
	if err != nil {
		return err
	}
	if tgt.Kind != vendor.TargetID {
		return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Bad Request: agent_id %s is not a %s agent id; an event names the agent by its id", quote(agentID), vendorName(cc.kind))}
	}
	return nil
}
