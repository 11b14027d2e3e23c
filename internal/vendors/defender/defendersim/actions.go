package defendersim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"
)

// machineAction is a simulated machine action. Its status follows from its
// age: Pending for the first half of the delay, InProgress for the second,
// then the final status.
type machineAction struct {
	ID        string
	Type      string // Isolate or Unisolate
	Scope     string // Full or Selective, for Isolate
	Comment   string
	MachineID string
	DNSName   string
	Created   time.Time
	Delay     time.Duration
	Final     string
}

// actionFields are the properties $filter accepts on machine actions ("List
// MachineActions API").
var actionFields = map[string]bool{"id": true, "status": true, "machineId": true, "type": true, "requestor": true, "creationDateTimeUtc": true}

func (a *machineAction) status(now time.Time) (string, time.Time) {
	age := now.Sub(a.Created)
	switch {
	case age < a.Delay/2:
		return "Pending", a.Created
	case age < a.Delay:
		return "InProgress", a.Created.Add(a.Delay / 2)
	}
	return a.Final, a.Created.Add(a.Delay)
}

func (a *machineAction) open(now time.Time) bool {
	st, _ := a.status(now)
	return st == "Pending" || st == "InProgress"
}

func (a *machineAction) json(now time.Time) map[string]any {
	st, updated := a.status(now)
	var scope any
	if a.Scope != "" {
		scope = a.Scope
	}
	return map[string]any{
		"id":                      a.ID,
		"type":                    a.Type,
		"scope":                   scope,
		"requestor":               ClientID,
		"requestorComment":        a.Comment,
		"status":                  st,
		"machineId":               a.MachineID,
		"computerDnsName":         a.DNSName,
		"creationDateTimeUtc":     a.Created.Format(time.RFC3339Nano),
		"lastUpdateDateTimeUtc":   updated.Format(time.RFC3339Nano),
		"cancellationRequestor":   nil,
		"cancellationComment":     nil,
		"cancellationDateTimeUtc": nil,
		"errorHResult":            0,
		"title":                   nil,
		"relatedFileInfo":         nil,
		"commands":                []any{},
		"externalId":              nil,
		"requestSource":           "PublicApi",
		"troubleshootInfo":        nil,
	}
}

func (a *machineAction) field(now time.Time) mssim.Getter {
	return func(name string) []string {
		switch name {
		case "id":
			return []string{a.ID}
		case "status":
			st, _ := a.status(now)
			return []string{st}
		case "machineId":
			return []string{a.MachineID}
		case "type":
			return []string{a.Type}
		case "requestor":
			return []string{ClientID}
		case "creationDateTimeUtc":
			return []string{a.Created.Format(time.RFC3339Nano)}
		}
		return nil
	}
}

// startAction serves POST /api/machines/{id}/isolate and .../unisolate. The
// body's property names are case-sensitive: Comment is required, and
// IsolationType (isolate only) is Full or Selective.
func (s *Server) startAction(w http.ResponseWriter, r *http.Request, key, verb string) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		mssim.WriteDefenderError(w, http.StatusBadRequest, "InvalidRequestBody", "Request body is incorrect")
		return
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil || body == nil {
		mssim.WriteDefenderError(w, http.StatusBadRequest, "InvalidRequestBody", "Request body is incorrect")
		return
	}
	var comment string
	if c, ok := body["Comment"]; !ok || json.Unmarshal(c, &comment) != nil || strings.TrimSpace(comment) == "" {
		mssim.WriteDefenderError(w, http.StatusBadRequest, "MissingRequiredParameter", "Parameter Comment is missing")
		return
	}
	scope := ""
	actionType := "Unisolate"
	if verb == "isolate" {
		actionType, scope = "Isolate", "Full"
		if t, ok := body["IsolationType"]; ok {
			if json.Unmarshal(t, &scope) != nil || (scope != "Full" && scope != "Selective") {
				mssim.WriteDefenderError(w, http.StatusBadRequest, "InvalidRequestBody", "Request body is incorrect")
				return
			}
		}
	}
	for name := range body {
		if name != "Comment" && !(verb == "isolate" && name == "IsolationType") {
			mssim.WriteDefenderError(w, http.StatusBadRequest, "InvalidRequestBody", "Request body is incorrect")
			return
		}
	}

	now := time.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(raw))
	m := s.lookup(key)
	if m == nil {
		machineNotFound(w, key)
		return
	}
	for _, a := range s.actions {
		if a.MachineID == m.ID && a.open(now) {
			mssim.WriteDefenderError(w, http.StatusBadRequest, "ActiveRequestAlreadyExists", "Action is already in progress")
			return
		}
	}

	a := &machineAction{
		ID: mssim.NewGUID(), Type: actionType, Scope: scope, Comment: comment,
		MachineID: m.ID, DNSName: m.DNSName, Created: now, Delay: s.cfg.PendingDelay, Final: s.cfg.FinalStatus,
	}
	s.actions = append(s.actions, a)
	body201 := a.json(now)
	body201["@odata.context"] = "https://api.security.microsoft.com/api/$metadata#MachineActions/$entity"
	mssim.WriteJSON(w, http.StatusCreated, body201)
}

// listActions serves GET /api/machineactions ($top up to 10,000), newest
// first.
func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	expr, top, skip, ok := parseQuery(w, r, actionFields, 10000)
	if !ok {
		return
	}

	now := time.Now().UTC()
	s.mu.Lock()
	value := []map[string]any{}
	for i := len(s.actions) - 1; i >= 0 && len(value) < top; i-- {
		a := s.actions[i]
		if expr != nil && !mssim.Eval(expr, a.field(now)) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		value = append(value, a.json(now))
	}
	s.mu.Unlock()
	mssim.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://api.security.microsoft.com/api/$metadata#MachineActions", "value": value})
}

// getAction serves GET /api/machineactions/{id}.
func (s *Server) getAction(w http.ResponseWriter, r *http.Request, id string) {
	now := time.Now().UTC()
	s.mu.Lock()
	var body map[string]any
	for _, a := range s.actions {
		if strings.EqualFold(a.ID, id) {
			body = a.json(now)
			body["@odata.context"] = "https://api.security.microsoft.com/api/$metadata#MachineActions/$entity"
		}
	}
	s.mu.Unlock()

	if body == nil {
		mssim.WriteDefenderError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("MachineAction %s was not found", id))
		return
	}
	mssim.WriteJSON(w, http.StatusOK, body)
}
