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
	hist, err := e.history(ctx, r.ID)
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
	r, err := e.unfinished(ctx, e.db.Read, companyID, svc, "agent_id", agentID, act)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot read the action", Err: err}
	}
	if r == nil {
		// A repeat: the latest action of that kind, already final.
		var id string
		qerr := e.db.Read.QueryRowContext(ctx, e.db.Rebind(latestContainmentQuery), companyID, string(svc), agentID, string(act)).Scan(&id)
		if errors.Is(qerr, sql.ErrNoRows) {
			return nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("Not Found: no %s action on agent %s", act, quote(agentID))}
		}
		if qerr != nil {
			return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot read the action", Err: qerr}
		}
		return e.Get(ctx, companyID, id)
	}

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
	if _, err := e.transition(ctx, r, r.State, change{State: st, Detail: text, Endpoint: ep}); err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "Internal Server Error: cannot record the result", Err: err}
	}
	return e.Get(ctx, companyID, r.ID)
}

// checkEventAgentID accepts only the vendor's own agent id in an event,
// checked like a request's agent_id: the agent reports itself by its id,
// never by a host name, an address, a list or a path. A company without
// the integration has no action to confirm, so its event gets the lookup's
// 404.
func (e *Engine) checkEventAgentID(ctx context.Context, companyID string, svc vendor.Service, agentID string) error {
	cc, err := e.client(ctx, companyID, svc)
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
