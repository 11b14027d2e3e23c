package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/wazuhar"
	"github.com/smartpt/smartpt/internal/wazuhintegration"
)

// arProgram is the name in this program's check_keys and log lines.
const arProgram = "smartpt-wazuh"

// Actions the ar command can request, with the SmartPT route of each.
var arRoutes = map[string]string{
	"isolate":        "/wazuh/agents",
	"releaseisolate": "/wazuh/agents",
	"AzureADBlock":   "/azuread/users",
	"AzureADUnblock": "/azuread/users",
}

var agentIDPattern = regexp.MustCompile(`^[0-9]{3,}$`)

// userFields are the alert fields that can name the user of an Entra
// action, in the order they are tried: Windows security events, decoders
// that set dstuser, and the Office 365 module.
var userFields = [][]string{
	{"win", "eventdata", "targetUserName"},
	{"dstuser"},
	{"office365", "UserId"},
}

// arRun is one run of "smartpt-wazuh ar".
type arRun struct {
	in        *bufio.Reader
	out       io.Writer
	cfg       config
	action    string // from the command line; empty means from extra_args
	replyWait time.Duration
	poster    *wazuhintegration.Poster
	logPath   string
}

// arTarget is the validated subject of the API call.
type arTarget struct {
	action string
	agent  string // for endpoint actions
	upn    string // for Entra actions
}

// run performs the Active Response protocol, then the API call, and
// returns the exit status.
func (r *arRun) run(ctx context.Context) int {
	line, err := wazuhar.ReadLine(r.in, wazuhar.MaxLineBytes)
	if err != nil {
		return r.fail(arTarget{}, "invalid input format: read stdin: "+err.Error())
	}
	msg, err := wazuhar.Parse(line)
	if err != nil {
		return r.fail(arTarget{}, err.Error())
	}
	if msg.Command == wazuhar.CommandDelete {
		// The API actions are not undone by a timer: a timed isolation would
		// need a release the analyst did not ask for.
		return 0
	}
	alert, err := wazuhar.DecodeAlert(msg.Parameters.Alert)
	if err != nil {
		return r.fail(arTarget{}, "invalid alert: "+err.Error())
	}
	target, err := r.target(msg, alert)
	if err != nil {
		return r.fail(target, err.Error())
	}

	// The keys name the subject and the action, so that wazuh-execd replies
	// abort while the same request is in its timeout list.
	subject := target.agent
	if subject == "" {
		subject = target.upn
	}
	if err := wazuhar.WriteCheckKeys(r.out, arProgram, []string{subject, target.action}); err != nil {
		return r.fail(target, "write check_keys: "+err.Error())
	}
	reply, err := r.awaitReply()
	if err != nil {
		return r.fail(target, err.Error())
	}
	if reply == wazuhar.CommandAbort {
		return 0
	}

	body := map[string]string{"action": target.action, "Email": r.cfg.Requester}
	if target.agent != "" {
		body["agent_id"] = target.agent
	} else {
		body["upn"] = target.upn
	}
	data, _ := json.Marshal(body)
	alertRef := alert.ID
	if alertRef == "" {
		alertRef = string(msg.Parameters.Alert)
	}
	key := wazuhintegration.IdempotencyKey("ar", alertRef, target.action, subject)

	res, err := r.poster.Post(ctx, r.cfg.URL+arRoutes[target.action], r.cfg.CompanyKey, key, data)
	if err != nil {
		return r.fail(target, err.Error())
	}
	if res.Status < 200 || res.Status > 299 {
		return r.fail(target, fmt.Sprintf("the API responded %d: %s", res.Status, truncate(res.Body, 500)))
	}
	r.log(target, wazuhar.ResultSuccess, fmt.Sprintf("the API accepted %s (HTTP %d)", target.action, res.Status))
	return 0
}

// target validates the action and its subject. The agent id comes only
// from the alert's agent.id, which the manager sets, and never from log
// text an attacker may control.
func (r *arRun) target(msg *wazuhar.Message, alert wazuhar.Alert) (arTarget, error) {
	t := arTarget{action: r.action}
	if t.action == "" && len(msg.Parameters.ExtraArgs) > 0 {
		t.action = msg.Parameters.ExtraArgs[0]
	}
	if _, ok := arRoutes[t.action]; !ok {
		return t, fmt.Errorf("action %q is not isolate, releaseisolate, AzureADBlock or AzureADUnblock: pass it as the argument or the first extra_args", t.action)
	}

	if strings.HasPrefix(t.action, "AzureAD") {
		for _, path := range userFields {
			if v := alert.DataField(path...); v != "" {
				t.upn = v
				break
			}
		}
		if t.upn == "" {
			return t, errors.New("the alert names no user (data.win.eventdata.targetUserName, data.dstuser or data.office365.UserId)")
		}
		if addr, err := mail.ParseAddress(t.upn); err != nil || addr.Address != t.upn || strings.ContainsAny(t.upn, " <>\"") {
			return t, fmt.Errorf("user %q from the alert is not a user principal name such as user@example.com", truncate(t.upn, 100))
		}
		return t, nil
	}

	t.agent = alert.Agent.ID
	switch {
	case t.agent == "":
		return t, errors.New("the alert has no agent.id")
	case !agentIDPattern.MatchString(t.agent):
		return t, fmt.Errorf("agent.id %q is not a Wazuh agent id", truncate(t.agent, 40))
	case strings.Trim(t.agent, "0") == "":
		return t, errors.New("agent.id is 000, the manager itself, which is never isolated")
	}
	return t, nil
}

func (r *arRun) awaitReply() (string, error) {
	type result struct {
		command string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		line, err := wazuhar.ReadLine(r.in, wazuhar.MaxLineBytes)
		if err != nil {
			done <- result{err: fmt.Errorf("no reply from wazuh-execd to check_keys: %w", err)}
			return
		}
		c, err := wazuhar.ParseControl(line)
		done <- result{command: c.Command, err: err}
	}()
	timer := time.NewTimer(r.replyWait)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.command, res.err
	case <-timer.C:
		return "", fmt.Errorf("no continue or abort from wazuh-execd within %s; the API was not called", r.replyWait)
	}
}

func (r *arRun) fail(t arTarget, detail string) int {
	r.log(t, wazuhar.ResultFailure, detail)
	return 1
}

// arLogLine is one line of this program in active-responses.log.
type arLogLine struct {
	Program   string `json:"program"`
	Timestamp string `json:"timestamp"`
	Action    string `json:"action,omitempty"`
	AgentID   string `json:"agent_id,omitempty"`
	UPN       string `json:"upn,omitempty"`
	Result    string `json:"result"`
	Detail    string `json:"detail"`
}

func (r *arRun) log(t arTarget, result, detail string) {
	appendJSONLine(r.logPath, arLogLine{
		Program: arProgram, Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		Action: t.action, AgentID: t.agent, UPN: t.upn, Result: result, Detail: detail,
	})
}

func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
