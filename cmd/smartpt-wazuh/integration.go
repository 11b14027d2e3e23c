package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/smartpt/smartpt/internal/wazuhar"
)

// EventsPath is the gateway route that receives isolation results.
const EventsPath = "/v1/wazuh/events"

// maxAlertBytes bounds the alert file integratord writes.
const maxAlertBytes = 4 << 20

// resultEvent is the body posted to EventsPath.
type resultEvent struct {
	AgentID string `json:"agent_id"`
	Action  string `json:"action"`
	Result  string `json:"result"`
	Detail  string `json:"detail"`
	AlertID string `json:"alert_id"`
}

// integrationRun is one run of the integratord custom integration.
type integrationRun struct {
	alertFile  string
	companyKey string // integratord's <api_key>
	hookURL    string // integratord's <hook_url>: the SmartPT API base URL
	poster     *poster
}

// run forwards the alert when it is a smartpt-isolation result. It returns
// errNotForUs, without a call, for any other alert.
func (r *integrationRun) run(ctx context.Context) (resultEvent, error) {
	ev, err := r.event()
	if err != nil {
		return ev, err
	}
	if r.companyKey == "" {
		return ev, fmt.Errorf("the integration has no <api_key>: set it to the company key")
	}
	base := strings.TrimSuffix(strings.TrimRight(r.hookURL, "/"), EventsPath)
	if err := checkBaseURL(base, "hook_url"); err != nil {
		return ev, err
	}

	body, _ := json.Marshal(ev)
	res, err := r.poster.post(ctx, base+EventsPath, r.companyKey, idempotencyKey("event", ev.AlertID, ev.AgentID, ev.Action), body)
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
func (r *integrationRun) event() (resultEvent, error) {
	var ev resultEvent
	f, err := os.Open(r.alertFile)
	if err != nil {
		return ev, fmt.Errorf("read alert file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAlertBytes+1))
	if err != nil {
		return ev, fmt.Errorf("read alert file: %w", err)
	}
	if len(data) > maxAlertBytes {
		return ev, fmt.Errorf("alert file %s is larger than %d bytes", r.alertFile, maxAlertBytes)
	}
	alert, err := wazuhar.DecodeAlert(data)
	if err != nil {
		return ev, err
	}

	if alert.DataField("program") != wazuhar.IsolationProgram {
		return ev, errNotForUs
	}
	if !isActiveResponseLog(alert.Location) {
		return ev, fmt.Errorf("alert %s has a smartpt-isolation line from %q, not from active-responses.log; ignored", alert.ID, alert.Location)
	}

	ev = resultEvent{
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
