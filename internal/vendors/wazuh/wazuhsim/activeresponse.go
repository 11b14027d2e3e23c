package wazuhsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// arConfCommands are the commands of a default etc/shared/ar.conf: the
// configured name with its timeout appended.
var arConfCommands = map[string]bool{
	"restart-wazuh0": true, "restart-ossec0": true, "firewall-drop0": true, "firewall-drop5": true,
	"host-deny0": true, "route-null0": true, "netsh0": true, "win_route-null0": true,
}

// customCommand is the format of a "!" command: a script file name in
// active-response/bin.
var customCommand = regexp.MustCompile(`^![A-Za-z0-9._-]+$`)

// arBody is ActiveResponseBody of the spec.
type arBody struct {
	Command   *string          `json:"command"`
	Arguments []string         `json:"arguments"`
	Alert     *json.RawMessage `json:"alert"`
}

// handleActiveResponse implements PUT /active-response. Once the request is
// valid the response is 200, and the per-agent outcome is in the body:
// "error" 0 (sent to all), 1 (to none) or 2 (to some), with failed_items
// grouped by error code (wazuh/wazuh v4.14.7
// framework/wazuh/active_response.py and its tavern tests).
func (s *Sim) handleActiveResponse(w http.ResponseWriter, r *http.Request, user string) {
	if s.opts.ReadOnlyUsers[user] {
		writeJSON(w, http.StatusForbidden, map[string]any{
			"title":       "Permission Denied",
			"detail":      "Permission denied: Resource type: agent:id",
			"remediation": "Please, make sure you have permissions to execute the current request. For more information on how to set up permissions, please visit https://documentation.wazuh.com/4.14/user-manual/api/rbac/configuration.html",
			"error":       4000,
		})
		return
	}

	q := r.URL.Query()
	for key := range q {
		if key != "agents_list" && key != "pretty" && key != "wait_for_complete" {
			badRequest(w, "Extra query parameter(s) "+key+" not in spec", 0)
			return
		}
	}

	body, err := decodeARBody(w, r)
	if err != nil {
		badRequest(w, err.Error(), 0)
		return
	}
	command := *body.Command
	switch {
	case command == "":
		badRequest(w, "Active response - command not specified", 1650)
		return
	case strings.HasPrefix(command, "!") && !customCommand.MatchString(command):
		badRequest(w, fmt.Sprintf("'%s' is not a 'active_response_command'", command), 0)
		return
	case !strings.HasPrefix(command, "!") && !arConfCommands[command]:
		badRequest(w, "Active response - Command not available", 1652)
		return
	}

	ids, listed := splitList(q.Get("agents_list"))
	for _, id := range ids {
		if !agentIDPattern.MatchString(id) && id != "*" {
			badRequest(w, fmt.Sprintf("'%s' is not a 'numbers'", id), 0)
			return
		}
	}

	s.mu.Lock()
	s.arRequests++
	s.lastAR = ActiveResponseRequest{AgentsList: q.Get("agents_list"), Command: command, Arguments: body.Arguments}
	if body.Alert != nil {
		s.lastAR.Alert = *body.Alert
	}
	if !listed || slices.Contains(ids, "*") {
		ids = nil
		for _, a := range s.agents {
			if a.ID != "000" {
				ids = append(ids, a.ID)
			}
		}
	}
	var affected []*agent
	failedByCode := map[int][]string{}
	for _, id := range ids {
		a := s.agentByID(id)
		switch {
		case id == "000":
			failedByCode[1703] = append(failedByCode[1703], id)
		case a == nil:
			failedByCode[1701] = append(failedByCode[1701], id)
		case a.Status != "active":
			failedByCode[1707] = append(failedByCode[1707], id)
		case a.arDisabled:
			failedByCode[1750] = append(failedByCode[1750], id)
		default:
			affected = append(affected, a)
		}
	}
	s.mu.Unlock()

	affectedIDs := []string{}
	for _, a := range affected {
		affectedIDs = append(affectedIDs, a.ID)
		s.dispatch(a.ID, command, body)
	}
	failed := []any{}
	totalFailed := 0
	for _, code := range []int{1701, 1703, 1707, 1750} {
		if len(failedByCode[code]) > 0 {
			failed = append(failed, failedItem(code, failedByCode[code]))
			totalFailed += len(failedByCode[code])
		}
	}

	code, message := 0, "AR command was sent to all agents"
	switch {
	case len(affected) == 0:
		code, message = 1, "AR command was not sent to any agent"
	case totalFailed > 0:
		code, message = 2, "AR command was not sent to some agents"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"data": map[string]any{
			"affected_items": affectedIDs, "total_affected_items": len(affectedIDs),
			"failed_items": failed, "total_failed_items": totalFailed,
		},
		"message": message,
		"error":   code,
	})
}

// decodeARBody reads and validates the request body: a JSON object with a
// string "command", optional "arguments" (strings) and optional "alert"
// (an object), and nothing else.
func decodeARBody(w http.ResponseWriter, r *http.Request) (*arBody, error) {
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
		return nil, fmt.Errorf("Request body is too large or unreadable")
	}
	dec := json.NewDecoder(&raw)
	dec.DisallowUnknownFields()
	var body arBody
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("Invalid request body: %v", err)
	}
	if body.Command == nil {
		return nil, fmt.Errorf("'command' is a required property")
	}
	if body.Alert != nil && !bytes.HasPrefix(bytes.TrimSpace(*body.Alert), []byte("{")) {
		return nil, fmt.Errorf("'alert' is not of type 'object'")
	}
	return &body, nil
}

// agentByID returns the agent with id, or nil. The caller holds mu.
func (s *Sim) agentByID(id string) *agent {
	i, ok := s.agentIndex[id]
	if !ok {
		return nil
	}
	return s.agents[i]
}

// ActiveResponseRequest is a valid PUT /active-response as received.
type ActiveResponseRequest struct {
	AgentsList string
	Command    string
	Arguments  []string
	Alert      json.RawMessage
}

// LastActiveResponse returns the last valid PUT /active-response request.
func (s *Sim) LastActiveResponse() ActiveResponseRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAR
}

// ActiveResponseRequests returns how many valid PUT /active-response
// requests the simulator has received.
func (s *Sim) ActiveResponseRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arRequests
}
