package defender

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

// MachineAction is a Defender machine action ("MachineAction resource
// type"). Status is one of Pending, InProgress, Succeeded, Failed, TimeOut
// and Cancelled.
type MachineAction struct {
	ID                    string    `json:"id"`
	Type                  string    `json:"type"`  // Isolate, Unisolate, ...
	Scope                 string    `json:"scope"` // Full or Selective for Isolate
	Requestor             string    `json:"requestor"`
	RequestorComment      string    `json:"requestorComment"`
	Status                string    `json:"status"`
	MachineID             string    `json:"machineId"`
	ComputerDNSName       string    `json:"computerDnsName"`
	CreationDateTimeUTC   time.Time `json:"creationDateTimeUtc"`
	LastUpdateDateTimeUTC time.Time `json:"lastUpdateDateTimeUtc"`
}

// Machine action statuses.
const (
	StatusPending    = "Pending"
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
	StatusTimeOut    = "TimeOut"
	StatusCancelled  = "Cancelled"
)

// Open reports whether the action has not reached a final status.
func (a MachineAction) Open() bool { return a.Status == StatusPending || a.Status == StatusInProgress }

// ParseMachineAction decodes a machine action and checks its id and status.
func ParseMachineAction(body []byte) (MachineAction, error) {
	var a MachineAction
	if err := json.Unmarshal(body, &a); err != nil {
		return MachineAction{}, fmt.Errorf("invalid machine action JSON: %w", err)
	}
	if !guidPattern.MatchString(a.ID) {
		return MachineAction{}, fmt.Errorf("machine action JSON has an invalid id %q", a.ID)
	}
	switch a.Status {
	case StatusPending, StatusInProgress, StatusSucceeded, StatusFailed, StatusTimeOut, StatusCancelled:
	default:
		return MachineAction{}, fmt.Errorf("machine action %s has an unknown status %q", a.ID, a.Status)
	}
	return a, nil
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Isolation types of the isolate request body.
const (
	IsolationFull      = "Full"
	IsolationSelective = "Selective"
)

// maxComment bounds the comment sent with an action.
const maxComment = 1000

// isolateBody and releaseBody are the request bodies, with the API's
// case-sensitive property names ("Isolate machine API", "Release device
// from isolation API").
type isolateBody struct {
	Comment       string `json:"Comment"`
	IsolationType string `json:"IsolationType"`
}

type releaseBody struct {
	Comment string `json:"Comment"`
}

// isolationType normalises the requested type. Empty means Full.
func isolationType(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "full":
		return IsolationFull, nil
	case "selective":
		return IsolationSelective, nil
	}
	return "", fmt.Errorf("IsolationType %q is invalid: use Full or Selective", v)
}

func comment(verb string, opts vendor.Options) string {
	text := opts.Comment
	if text == "" {
		text = fmt.Sprintf("%s by SmartPT", verb)
		if opts.ActionID != "" {
			text += " (action " + opts.ActionID + ")"
		}
		if opts.Requester != "" {
			text += " at the request of " + opts.Requester
		}
	}
	if len(text) > maxComment {
		text = text[:maxComment]
	}
	return text
}

// Isolate asks Defender to isolate the machine. It reads the machine's
// isolation actions first: an isolated machine is AlreadyInState, and a
// pending isolation is returned as the pending outcome instead of a second
// request. A pending release is a conflict.
func (c *Client) Isolate(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	typ, err := isolationType(opts.IsolationType)
	if err != nil {
		return vendor.Outcome{}, invalid("isolate machine", err.Error())
	}
	body, _ := json.Marshal(isolateBody{Comment: comment("Isolated", opts), IsolationType: typ})
	return c.act(ctx, ep, opts, "Isolate", "/isolate", body)
}

// Release asks Defender to lift isolation, with the same checks as Isolate.
func (c *Client) Release(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	body, _ := json.Marshal(releaseBody{Comment: comment("Released from isolation", opts)})
	return c.act(ctx, ep, opts, "Unisolate", "/unisolate", body)
}

func (c *Client) act(ctx context.Context, ep vendor.Endpoint, opts vendor.Options, actionType, suffix string, body []byte) (vendor.Outcome, error) {
	op := "isolate machine"
	want, moving, other := vendor.Isolated, vendor.Isolating, "Unisolate"
	if actionType == "Unisolate" {
		op, want, moving, other = "release machine", vendor.NotIsolated, vendor.Releasing, "Isolate"
	}
	if !IsID(ep.AgentID) {
		return vendor.Outcome{}, invalid(op, fmt.Sprintf("machine id %q is not 40 hexadecimal characters", ep.AgentID))
	}

	// Read the current state: Defender rejects a second request for a
	// machine with an open action with 400 ActiveRequestAlreadyExists.
	status, err := c.Status(ctx, ep)
	if err != nil {
		return vendor.Outcome{}, err
	}
	latest := c.latestOpen(status)
	switch {
	case status.Endpoint.Isolation == want:
		status.AlreadyInState = true
		return status, nil
	case latest != nil && latest.Type == actionType:
		return pendingOutcome(status.Endpoint, *latest, moving, status.Raw), nil
	case latest != nil && latest.Type == other:
		return vendor.Outcome{}, conflict(op, *latest)
	}

	resp, err := c.call(ctx, vendorhttp.Request{Op: op, Method: http.MethodPost, Path: "/machines/" + url.PathEscape(ep.AgentID) + suffix, Body: body})
	if ve, ok := vendor.AsError(err); ok && ve.Code == "ActiveRequestAlreadyExists" {
		// Another request started an action between the read and the
		// POST: return that action if it is the same kind.
		c.logger.Info("machine has an active request, reading its latest action", "action_id", opts.ActionID, "machine_id", ep.AgentID)
		actions, lerr := c.isolationActions(ctx, ep.AgentID)
		if lerr != nil {
			return vendor.Outcome{}, lerr
		}
		for _, a := range actions {
			if a.Open() && a.Type == actionType {
				return pendingOutcome(ep, a, moving, nil), nil
			}
			if a.Open() {
				return vendor.Outcome{}, conflict(op, a)
			}
		}
		ve.Kind = vendor.ErrConflict
		return vendor.Outcome{}, ve
	}
	if err != nil {
		return vendor.Outcome{}, err
	}

	action, err := ParseMachineAction(resp.Body)
	if err != nil {
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindDefender, Op: op, Status: resp.Status, Detail: err.Error()}
	}
	c.logger.Info("machine action created", "action_id", opts.ActionID, "machine_id", ep.AgentID, "machine_action", action.ID, "type", action.Type, "status", action.Status)

	out := pendingOutcome(status.Endpoint, action, moving, resp.Body)
	if action.Status == StatusSucceeded {
		out.Pending, out.Endpoint.Isolation = false, want
	}
	if !status.Endpoint.Online {
		out.Warnings = append(out.Warnings, "the machine's sensor is not active, so the action stays pending until the machine reports again, or times out")
	}
	return out, nil
}

func pendingOutcome(ep vendor.Endpoint, a MachineAction, moving vendor.Isolation, raw json.RawMessage) vendor.Outcome {
	ep.Isolation = moving
	if raw == nil {
		raw, _ = json.Marshal(a)
	}
	return vendor.Outcome{Endpoint: ep, VendorRef: a.ID, Pending: a.Open(), Raw: raw}
}

func conflict(op string, a MachineAction) *vendor.Error {
	return &vendor.Error{
		Kind: vendor.ErrConflict, Vendor: vendor.KindDefender, Op: op, Code: "ActiveRequestAlreadyExists",
		Detail: fmt.Sprintf("machine action %s (%s) is still %s: wait until it finishes, then retry", a.ID, a.Type, a.Status),
	}
}

// statusRaw is the raw result of Status: the machine and its latest
// isolation action.
type statusRaw struct {
	Machine      json.RawMessage `json:"machine"`
	LatestAction *MachineAction  `json:"latestIsolationAction"`
}

// Status reads the machine and its isolation actions. The state is that of
// the newest open action (isolating or releasing), else of the newest
// succeeded one (isolated or not_isolated), else not_isolated.
func (c *Client) Status(ctx context.Context, ep vendor.Endpoint) (vendor.Outcome, error) {
	if !IsID(ep.AgentID) {
		return vendor.Outcome{}, invalid("get machine", fmt.Sprintf("machine id %q is not 40 hexadecimal characters", ep.AgentID))
	}
	m, machineRaw, err := c.getMachine(ctx, ep.AgentID)
	if err != nil {
		return vendor.Outcome{}, err
	}
	actions, err := c.isolationActions(ctx, ep.AgentID)
	if err != nil {
		return vendor.Outcome{}, err
	}

	raw := statusRaw{Machine: machineRaw}
	if len(actions) > 0 {
		raw.LatestAction = &actions[0]
	}
	body, _ := json.Marshal(raw)
	return vendor.Outcome{Endpoint: m.endpoint(isolationState(actions)), Raw: body}, nil
}

// isolationState derives the state from actions sorted newest first.
func isolationState(actions []MachineAction) vendor.Isolation {
	for _, a := range actions {
		switch {
		case a.Open() && a.Type == "Isolate":
			return vendor.Isolating
		case a.Open() && a.Type == "Unisolate":
			return vendor.Releasing
		case a.Status == StatusSucceeded && a.Type == "Isolate":
			return vendor.Isolated
		case a.Status == StatusSucceeded && a.Type == "Unisolate":
			return vendor.NotIsolated
		}
	}
	return vendor.NotIsolated
}

// latestOpen returns the newest open action of a Status outcome.
func (c *Client) latestOpen(status vendor.Outcome) *MachineAction {
	var raw statusRaw
	if json.Unmarshal(status.Raw, &raw) != nil || raw.LatestAction == nil || !raw.LatestAction.Open() {
		return nil
	}
	return raw.LatestAction
}

// isolationActions lists the machine's Isolate and Unisolate actions,
// newest first. The API filters on machineId and type. The order is set
// here, so that it does not depend on the API's default order.
func (c *Client) isolationActions(ctx context.Context, machineID string) ([]MachineAction, error) {
	filter := "machineId eq " + mslogin.QuoteString(machineID) + " and (type eq 'Isolate' or type eq 'Unisolate')"
	resp, err := c.call(ctx, vendorhttp.Request{
		Op: "list machine actions", Method: http.MethodGet,
		Path:       "/machineactions" + mslogin.EncodeQuery(mslogin.Param{Key: "$filter", Value: filter}),
		Idempotent: true,
	})
	if err != nil {
		return nil, err
	}
	actions, err := ParseMachineActions(resp.Body)
	if err != nil {
		return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindDefender, Op: "list machine actions", Status: resp.Status, Detail: err.Error()}
	}
	sort.SliceStable(actions, func(i, j int) bool { return actions[i].CreationDateTimeUTC.After(actions[j].CreationDateTimeUTC) })
	return actions, nil
}

// ParseMachineActions decodes a machine action collection.
func ParseMachineActions(body []byte) ([]MachineAction, error) {
	var list struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("invalid machine action list JSON: %w", err)
	}
	out := make([]MachineAction, 0, len(list.Value))
	for _, raw := range list.Value {
		a, err := ParseMachineAction(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Confirm reads a machine action once: Pending and InProgress are not
// final, Succeeded is final success, Failed, TimeOut and Cancelled are
// final failure.
func (c *Client) Confirm(ctx context.Context, ep vendor.Endpoint, action vendor.ActionKind, vendorRef string) (vendor.Confirmation, error) {
	if !guidPattern.MatchString(vendorRef) {
		return vendor.Confirmation{}, invalid("get machine action", fmt.Sprintf("machine action id %q is not a GUID", vendorRef))
	}
	resp, err := c.call(ctx, vendorhttp.Request{Op: "get machine action", Method: http.MethodGet, Path: "/machineactions/" + url.PathEscape(vendorRef), Idempotent: true})
	if err != nil {
		return vendor.Confirmation{}, err
	}
	a, err := ParseMachineAction(resp.Body)
	if err != nil {
		return vendor.Confirmation{}, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindDefender, Op: "get machine action", Status: resp.Status, Detail: err.Error()}
	}
	if ep.AgentID != "" && !strings.EqualFold(a.MachineID, ep.AgentID) {
		return vendor.Confirmation{}, invalid("get machine action", fmt.Sprintf("machine action %s belongs to machine %s, not %s", a.ID, a.MachineID, ep.AgentID))
	}

	moving, done := vendor.Isolating, vendor.Isolated
	if action == vendor.ActionRelease {
		moving, done = vendor.Releasing, vendor.NotIsolated
	}
	conf := vendor.Confirmation{Detail: a.Status, Raw: resp.Body}
	switch a.Status {
	case StatusPending, StatusInProgress:
		conf.State = moving
	case StatusSucceeded:
		conf.Final, conf.Succeeded, conf.State = true, true, done
	default:
		// NOTE: after a failed action the machine's state is not known
		// from the action alone. Status reads it from the action history.
		conf.Final, conf.State = true, vendor.Unknown
	}
	return conf, nil
}

// Plan implements vendor.Containment.
func (c *Client) Plan(action vendor.ActionKind, ep vendor.Endpoint, opts vendor.Options) []vendor.Call {
	machine := c.apiBase + "/machines/" + url.PathEscape(ep.AgentID)
	filter := "machineId eq " + mslogin.QuoteString(ep.AgentID) + " and (type eq 'Isolate' or type eq 'Unisolate')"
	status := []vendor.Call{
		{Method: http.MethodGet, URL: machine},
		{Method: http.MethodGet, URL: c.apiBase + "/machineactions" + mslogin.EncodeQuery(mslogin.Param{Key: "$filter", Value: filter})},
	}
	switch action {
	case vendor.ActionIsolate:
		typ, err := isolationType(opts.IsolationType)
		if err != nil {
			return status
		}
		body, _ := json.Marshal(isolateBody{Comment: comment("Isolated", opts), IsolationType: typ})
		return append(status, vendor.Call{Method: http.MethodPost, URL: machine + "/isolate", Body: body})
	case vendor.ActionRelease:
		body, _ := json.Marshal(releaseBody{Comment: comment("Released from isolation", opts)})
		return append(status, vendor.Call{Method: http.MethodPost, URL: machine + "/unisolate", Body: body})
	case vendor.ActionStatus:
		return status
	}
	return nil
}
