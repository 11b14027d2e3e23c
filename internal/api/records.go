package api

import (
	"net/http"

	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// maxActionIDChars is the longest action id looked up. Longer ids get 404
// without a call to the engine.
const maxActionIDChars = 64

// getAction serves GET /v1/actions/{id}: the company's action with its
// history. The engine returns 404 for an id of another company.
func (s *Server) getAction(w http.ResponseWriter, r *http.Request, company tenant.Company) {
	id := r.PathValue("id")
	if !validActionID(id) {
		writeJSON(w, http.StatusNotFound, errorBody{Message: "Not Found: no action with that id"})
		return
	}
	infoFrom(r.Context()).ActionID = id

	record, err := s.cfg.Executor.Get(r.Context(), company.ID, id)
	if err != nil {
		s.writeEngineError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recordResponse{StatusCode: http.StatusOK, Record: record})
}

func validActionID(id string) bool {
	if id == "" || len(id) > maxActionIDChars {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Body fields of POST /v1/wazuh/events.
var wazuhEventFields = map[string]fieldKind{
	fieldAgentID: kindString,
	fieldAction:  kindString,
	"result":     kindString,
	"detail":     kindString,
	"alert_id":   kindString,
}

// wazuhEvent serves POST /v1/wazuh/events: the outcome of an isolation or a
// release that the Wazuh agent reported back through the manager's
// integration program. Wazuh's active response API accepts a command and
// never reports whether it ran, so this event is what confirms the action.
func (s *Server) wazuhEvent(w http.ResponseWriter, r *http.Request, company tenant.Company) {
	const route = "/v1/wazuh/events"
	info := infoFrom(r.Context())

	values, berr := readObject(w, r, wazuhEventFields, route)
	if berr != nil {
		writeBodyError(w, berr)
		return
	}

	agentID := stringField(values, fieldAgentID)
	if agentID == "" {
		writeBodyError(w, badRequest("Missing 'agent_id' parameter"))
		return
	}
	if berr := checkTarget(fieldAgentID, agentID); berr != nil {
		writeBodyError(w, berr)
		return
	}

	name := stringField(values, fieldAction)
	if name == "" {
		writeBodyError(w, badRequest("Missing 'action' parameter"))
		return
	}
	act := vendor.ActionKind(name)
	if act != vendor.ActionIsolate && act != vendor.ActionRelease {
		writeBodyError(w, badRequest("Unknown action '%s'; valid actions: isolate, releaseisolate", shown(name)))
		return
	}
	info.Action = name

	result := stringField(values, "result")
	if result == "" {
		writeBodyError(w, badRequest("Missing 'result' parameter"))
		return
	}
	if result != "success" && result != "failure" {
		writeBodyError(w, badRequest("Invalid 'result' parameter '%s'; valid values: success, failure", shown(result)))
		return
	}

	detail := stringField(values, "detail")
	if berr := checkComment(detail); berr != nil {
		writeBodyError(w, badRequest("Invalid 'detail' parameter: use at most %d characters without control characters other than tab or line break", maxCommentChars))
		return
	}
	if alertID := stringField(values, "alert_id"); alertID != "" {
		if berr := checkTarget("alert_id", alertID); berr != nil {
			writeBodyError(w, berr)
			return
		}
		if detail == "" {
			detail = "Wazuh alert " + alertID
		} else {
			detail += " (Wazuh alert " + alertID + ")"
		}
	}

	ctx, cancel := s.engineContext(r)
	defer cancel()
	record, err := s.cfg.Executor.ConfirmExternal(ctx, company.ID, vendor.ServiceWazuh, agentID, act, result == "success", detail)
	if err != nil {
		s.writeEngineError(w, r, err)
		return
	}
	info.ActionID = record.ID
	writeJSON(w, http.StatusOK, recordResponse{StatusCode: http.StatusOK, Record: record})
}
