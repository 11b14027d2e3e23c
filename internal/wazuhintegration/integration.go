package wazuhintegration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/smartpt/smartpt/internal/wazuhar"
)

// EventsPath is the gateway route that receives isolation results.
const EventsPath = "/v1/wazuh/events"

// maxAlertBytes bounds the alert file integratord writes.
const maxAlertBytes = 4 << 20

// Event is the body posted to EventsPath.
type Event struct {
	AgentID string `json:"agent_id"`
	Action  string `json:"action"`
	Result  string `json:"result"`
	Detail  string `json:"detail"`
	AlertID string `json:"alert_id"`
}

// ErrNotForUs is returned for an alert that is not a smartpt-isolation
// result; such alerts are ignored without a call.
var ErrNotForUs = errors.New("not a SmartPT event")

// Run is one run of the integratord custom integration, with the three
// arguments wazuh-integratord passes.
type Run struct {
	AlertFile  string // the alert, as integratord writes it
	CompanyKey string // integratord's <api_key>
	HookURL    string // integratord's <hook_url>: the SmartPT API base URL
	Poster     *Poster
}

// Forward posts the alert's result to the gateway when it is a
// smartpt-isolation result. It returns ErrNotForUs, without a call, for any
// other alert. The returned Event holds what was read even on an error.
func (r *Run) Forward(ctx context.Context) (Event, error) {
	ev, err := r.event()
	if err != nil {
		return ev, err
	}
	if r.CompanyKey == "" {
		return ev, fmt.Errorf("the integration has no <api_key>: set it to the company key")
	}
	base := strings.TrimSuffix(strings.TrimRight(r.HookURL, "/"), EventsPath)
	if err := CheckBaseURL(base, "hook_url"); err != nil {
		return ev, err
	}

	body, _ := json.Marshal(ev)
	res, err := r.Poster.Post(ctx, base+EventsPath, r.CompanyKey, IdempotencyKey("event", ev.AlertID, ev.AgentID, ev.Action), body)
	if err != nil {
		return ev, err
	}
	if res.Status < 200 || res.Status > 299 {
		return ev, fmt.Errorf("the gateway responded %d to the %s result of agent %s: %s", res.Status, ev.Action, ev.AgentID, truncate(res.Body, 500))
	}
	return ev, nil
}

// event reads the alert file and extracts the result event. The agent id is
// the alert's agent.id, which the manager sets for the agent that sent the
// log line. An alert whose line names another agent is rejected.
func (r *Run) event() (Event, error) {
	var ev Event
	f, err := os.Open(r.AlertFile)
	if err != nil {
		return ev, fmt.Errorf("read alert file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAlertBytes+1))
	if err != nil {
		return ev, fmt.Errorf("read alert file: %w", err)
	}
	if len(data) > maxAlertBytes {
		return ev, fmt.Errorf("alert file %s is larger than %d bytes", r.AlertFile, maxAlertBytes)
	}
	alert, err := wazuhar.DecodeAlert(data)
	if err != nil {
		return ev, err
	}

	if alert.DataField("program") != wazuhar.IsolationProgram {
		return ev, ErrNotForUs
	}
	if !isActiveResponseLog(alert.Location) {
		return ev, fmt.Errorf("alert %s has a smartpt-isolation line from %q, not from active-responses.log; ignored", alert.ID, alert.Location)
	}

	ev = Event{
		AgentID: alert.Agent.ID,
		Action:  alert.DataField("action"),
		Result:  alert.DataField("result"),
		Detail:  alert.DataField("detail"),
		AlertID: alert.ID,
	}
	switch {
	case !agentIDPattern.MatchString(ev.AgentID) || strings.Trim(ev.AgentID, "0") == "":
		return ev, fmt.Errorf("alert %s has agent.id %q, which is not an agent", alert.ID, truncate(ev.AgentID, 40))
	case ev.Action != wazuhar.ActionIsolate && ev.Action != wazuhar.ActionRelease:
		return ev, fmt.Errorf("alert %s has action %q, expected isolate or releaseisolate", alert.ID, truncate(ev.Action, 40))
	case ev.Result != wazuhar.ResultSuccess && ev.Result != wazuhar.ResultFailure:
		return ev, fmt.Errorf("alert %s has result %q, expected success or failure", alert.ID, truncate(ev.Result, 40))
	}
	if claimed := alert.DataField("agent"); claimed != "" && claimed != ev.AgentID {
		return ev, fmt.Errorf("alert %s comes from agent %s but its line names agent %s; ignored", alert.ID, ev.AgentID, truncate(claimed, 40))
	}
	ev.Detail = truncate(ev.Detail, 1000)
	return ev, nil
}

// isActiveResponseLog reports whether location is the agent's
// active-responses.log (logs/active-responses.log on Linux,
// active-response\active-responses.log on Windows).
func isActiveResponseLog(location string) bool {
	location = strings.ReplaceAll(location, `\`, "/")
	return strings.HasSuffix(location, "/active-responses.log")
}

// agentIDPattern is the form of a Wazuh agent id: three or more digits.
var agentIDPattern = regexp.MustCompile(`^[0-9]{3,}$`)

func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
