package cortexsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/smartpt/smartpt/internal/vendors/cortex"
)

// maxActionEndpoints is the most endpoints one isolate or unisolate request
// may name (Cortex XDR API, "Isolate Endpoints": limit of 1000).
const maxActionEndpoints = 1000

// filterFields are the get_endpoint filter fields the simulator evaluates.
var filterFields = map[string]bool{"endpoint_id_list": true, "hostname": true, "ip_list": true, "endpoint_status": true, "isolate": true}

type filter struct {
	Field    string          `json:"field"`
	Operator string          `json:"operator"`
	Value    json.RawMessage `json:"value"`
}

// strictDecode decodes raw into out and rejects unknown fields, as the
// vendor's request validation does for misspelled members.
func strictDecode(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

func (s *Server) getEndpoint(w http.ResponseWriter, raw json.RawMessage) {
	var req struct {
		Filters    []filter        `json:"filters"`
		SearchFrom *int            `json:"search_from"`
		SearchTo   *int            `json:"search_to"`
		Sort       json.RawMessage `json:"sort"`
	}
	if err := strictDecode(raw, &req); err != nil {
		writeError(w, http.StatusBadRequest, 400, "Invalid request_data for get_endpoint", err.Error())
		return
	}
	from, to := 0, cortex.MaxSearchResults
	if req.SearchFrom != nil {
		from = *req.SearchFrom
	}
	if req.SearchTo != nil {
		to = *req.SearchTo
	}
	if from < 0 || to < from || to-from > cortex.MaxSearchResults {
		writeError(w, http.StatusBadRequest, 400, "search_from and search_to must give a range of at most 100 results", nil)
		return
	}

	type match struct {
		field  string
		values []string
	}
	var matches []match
	for _, f := range req.Filters {
		if !filterFields[f.Field] {
			writeError(w, http.StatusBadRequest, 400, "Unsupported filter field "+strconv.Quote(f.Field), nil)
			return
		}
		if f.Operator != "in" && f.Operator != "eq" {
			writeError(w, http.StatusBadRequest, 400, "Unsupported operator "+strconv.Quote(f.Operator)+" for field "+f.Field, nil)
			return
		}
		var values []string
		if err := json.Unmarshal(f.Value, &values); err != nil {
			var one string
			if err := json.Unmarshal(f.Value, &one); err != nil {
				writeError(w, http.StatusBadRequest, 400, "Filter value of "+f.Field+" must be a list of strings", nil)
				return
			}
			values = []string{one}
		}
		matches = append(matches, match{f.Field, values})
	}

	s.mu.Lock()
	s.advance()
	var found []cortex.EndpointRecord
	for _, id := range s.order {
		e := s.endpoints[id]
		ok := true
		for _, m := range matches {
			if !matchesFilter(e.Endpoint, m.field, m.values) {
				ok = false
				break
			}
		}
		if ok {
			found = append(found, record(e.Endpoint))
		}
	}
	s.mu.Unlock()

	total := len(found)
	if from > len(found) {
		from = len(found)
	}
	if to > len(found) {
		to = len(found)
	}
	page := found[from:to]
	if page == nil {
		page = []cortex.EndpointRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reply": cortex.GetEndpointReply{ResultCount: total, Endpoints: page}})
}

func matchesFilter(e Endpoint, field string, values []string) bool {
	for _, v := range values {
		switch field {
		case "endpoint_id_list":
			if strings.EqualFold(e.ID, v) {
				return true
			}
		case "hostname":
			if strings.EqualFold(e.Hostname, v) {
				return true
			}
		case "ip_list":
			for _, ip := range e.IPs {
				if ip == v {
					return true
				}
			}
		case "endpoint_status":
			if strings.EqualFold(e.Status, v) {
				return true
			}
		case "isolate":
			isolated := e.IsIsolated == cortex.AgentIsolated
			if v == "isolated" && isolated || v == "unisolated" && !isolated {
				return true
			}
		}
	}
	return false
}

func record(e Endpoint) cortex.EndpointRecord {
	return cortex.EndpointRecord{
		EndpointID:     e.ID,
		EndpointName:   e.Hostname,
		EndpointType:   "AGENT_TYPE_WORKSTATION",
		EndpointStatus: e.Status,
		OSType:         "AGENT_OS_WINDOWS",
		IP:             append([]string(nil), e.IPs...),
		IsIsolated:     e.IsIsolated,
	}
}

// act starts an isolate (isolate true) or unisolate group action. Endpoints
// that are uninstalled or not in the opposite settled state are skipped.
// When none is left, it returns err_code 500 "No endpoint was found for
// creating the requested action", as Cortex XDR does.
func (s *Server) act(w http.ResponseWriter, raw json.RawMessage, isolate bool) {
	var req struct {
		EndpointID *string  `json:"endpoint_id"`
		Filters    []filter `json:"filters"`
		IncidentID *string  `json:"incident_id"`
	}
	if err := strictDecode(raw, &req); err != nil {
		writeError(w, http.StatusBadRequest, 400, "Invalid request_data", err.Error())
		return
	}
	if req.EndpointID != nil && req.Filters != nil {
		writeError(w, http.StatusBadRequest, 400, "Send either endpoint_id or filters, not both", nil)
		return
	}

	var ids []string
	switch {
	case req.EndpointID != nil:
		ids = []string{*req.EndpointID}
	case len(req.Filters) == 1 && req.Filters[0].Field == "endpoint_id_list" && req.Filters[0].Operator == "in":
		if err := json.Unmarshal(req.Filters[0].Value, &ids); err != nil {
			writeError(w, http.StatusBadRequest, 400, "endpoint_id_list must be a list of strings", nil)
			return
		}
	default:
		writeError(w, http.StatusBadRequest, 400, "Send endpoint_id, or filters with one endpoint_id_list \"in\" filter", nil)
		return
	}
	if len(ids) == 0 || len(ids) > maxActionEndpoints {
		writeError(w, http.StatusBadRequest, 400, fmt.Sprintf("An action names 1 to %d endpoints", maxActionEndpoints), nil)
		return
	}

	from, to, verb := cortex.AgentUnisolated, cortex.AgentPendingIsolation, "ISOLATE"
	if !isolate {
		from, to, verb = cortex.AgentIsolated, cortex.AgentPendingIsolationCancellation, "UNISOLATE"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()

	var eligible []*endpointState
	for _, id := range ids {
		e, ok := s.endpoints[strings.ToLower(id)]
		if ok && e.IsIsolated == from && e.Status != cortex.StatusUninstalled {
			eligible = append(eligible, e)
		}
	}
	if len(eligible) == 0 {
		writeError(w, http.StatusInternalServerError, 500,
			"An error occurred while processing XDR public API - No endpoint was found for creating the requested action",
			"can't create group action id for "+verb)
		return
	}

	s.nextAction++
	id := s.nextAction
	action := &groupAction{statuses: map[string]string{}}
	until := s.cfg.Now().Add(s.cfg.PendingDelay)
	for _, e := range eligible {
		e.IsIsolated = to
		e.pendingUntil = until
		e.actionID = id
		action.statuses[e.ID] = cortex.ActionPending
	}
	s.actions[id] = action

	writeJSON(w, http.StatusOK, map[string]any{"reply": map[string]any{
		"action_id":       id,
		"status":          "1",
		"endpoints_count": strconv.Itoa(len(eligible)),
	}})
}

func (s *Server) actionStatus(w http.ResponseWriter, raw json.RawMessage) {
	var req struct {
		GroupActionID json.RawMessage `json:"group_action_id"`
	}
	if err := strictDecode(raw, &req); err != nil {
		writeError(w, http.StatusBadRequest, 400, "Invalid request_data for get_action_status", err.Error())
		return
	}
	id, err := strconv.ParseInt(string(req.GroupActionID), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, 400, "group_action_id must be an integer", nil)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	data := map[string]string{}
	if a, ok := s.actions[id]; ok {
		for k, v := range a.statuses {
			data[k] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reply": map[string]any{"data": data}})
}
