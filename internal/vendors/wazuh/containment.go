package wazuh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// agentIDPattern is the Wazuh agent id format: three or more digits,
// zero-padded ("001"). Agent "000" is the manager itself.
var agentIDPattern = regexp.MustCompile(`^[0-9]{3,}$`)

// agentFields is the select list of agent reads.
const agentFields = "id,name,ip,status,os.name,os.platform,os.version,version,lastKeepAlive"

// Values of the "action" argument and of alert.data.action that the
// isolation program reads.
const (
	ArgIsolate = "isolate"
	ArgRelease = "release"
)

// agentItem is the part of a GET /agents item the client reads.
type agentItem struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	IP     string `json:"ip"`
	Status string `json:"status"`
}

// IsID reports whether s is a Wazuh agent id other than the manager's.
func (c *Client) IsID(s string) bool {
	return agentIDPattern.MatchString(s) && strings.Trim(s, "0") != ""
}

// Resolve finds agents by id (agents_list), by name or by IP address with
// the filters of GET /agents. The manager (agent 000) is never returned.
func (c *Client) Resolve(ctx context.Context, target vendor.Target) ([]vendor.Endpoint, error) {
	eps, _, err := c.ResolveStatus(ctx, target)
	return eps, err
}

// ResolveStatus is Resolve, with the Status of a single match taken from
// the same GET /agents response: its select list is the one Status uses.
func (c *Client) ResolveStatus(ctx context.Context, target vendor.Target) ([]vendor.Endpoint, vendor.Outcome, error) {
	query := url.Values{"select": {agentFields}, "limit": {"100"}}
	switch target.Kind {
	case vendor.TargetID:
		if !c.IsID(target.Value) {
			return nil, vendor.Outcome{}, nil
		}
		query.Set("agents_list", target.Value)
	case vendor.TargetHostname:
		query.Set("name", target.Value)
	case vendor.TargetIP:
		query.Set("ip", target.Value)
	default:
		return nil, vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindWazuh, Op: "find agent", Detail: "unknown target kind " + string(target.Kind)}
	}

	items, raws, err := c.listAgents(ctx, "find agent", query)
	if err != nil {
		return nil, vendor.Outcome{}, err
	}

	// Agents usually register under the short host name, so a fully
	// qualified name that matches nothing is tried again as its first label.
	if short, _, fqdn := strings.Cut(target.Value, "."); len(items) == 0 && target.Kind == vendor.TargetHostname && fqdn && short != "" {
		query.Set("name", short)
		if items, raws, err = c.listAgents(ctx, "find agent", query); err != nil {
			return nil, vendor.Outcome{}, err
		}
	}

	var out []vendor.Endpoint
	var status vendor.Outcome
	for i, item := range items {
		if item.ID == "000" {
			continue
		}
		out = append(out, item.endpoint())
		status = vendor.Outcome{Endpoint: item.endpoint(), Raw: raws[i]}
	}
	if len(out) != 1 {
		status = vendor.Outcome{}
	}
	return out, status, nil
}

// listAgents runs GET /agents and returns its items and their raw JSON.
// Unknown ids in agents_list (failed item 1701) are simply absent.
func (c *Client) listAgents(ctx context.Context, op string, query url.Values) ([]agentItem, []json.RawMessage, error) {
	resp, err := c.call(ctx, vendorhttp.Request{Op: op, Method: http.MethodGet, Path: "/agents", Query: query, Idempotent: true})
	if err != nil {
		return nil, nil, err
	}
	env, err := decodeEnvelope(op, resp)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range env.Data.FailedItems {
		if f.Error.Code != codeAgentNotFound {
			return nil, nil, failure(op, f)
		}
	}

	var raws []json.RawMessage
	if len(env.Data.AffectedItems) > 0 {
		if err := json.Unmarshal(env.Data.AffectedItems, &raws); err != nil {
			return nil, nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindWazuh, Op: op, Status: resp.Status, Detail: "affected_items is not a list"}
		}
	}
	items := make([]agentItem, 0, len(raws))
	for _, raw := range raws {
		var item agentItem
		if err := json.Unmarshal(raw, &item); err != nil || item.ID == "" {
			return nil, nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindWazuh, Op: op, Status: resp.Status, Detail: "an agent item has no id"}
		}
		items = append(items, item)
	}
	return items, raws, nil
}

func (a agentItem) endpoint() vendor.Endpoint {
	return vendor.Endpoint{
		Vendor: vendor.KindWazuh, AgentID: a.ID, Hostname: a.Name, IP: a.IP,
		Online: a.Status == "active", Isolation: vendor.Unknown,
	}
}

// Status reads the agent's connection status, name, IP address, operating
// system and version. Wazuh keeps no isolation state, so Isolation is
// Unknown; the engine overlays the state it tracks.
func (c *Client) Status(ctx context.Context, ep vendor.Endpoint) (vendor.Outcome, error) {
	if !c.IsID(ep.AgentID) {
		return vendor.Outcome{}, notFound("read agent", ep.AgentID)
	}
	items, raws, err := c.listAgents(ctx, "read agent", url.Values{"agents_list": {ep.AgentID}, "select": {agentFields}})
	if err != nil {
		return vendor.Outcome{}, err
	}
	if len(items) == 0 {
		return vendor.Outcome{}, notFound("read agent", ep.AgentID)
	}
	return vendor.Outcome{Endpoint: items[0].endpoint(), Raw: raws[0]}, nil
}

func notFound(op, id string) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrNotFound, Vendor: vendor.KindWazuh, Op: op, Code: "1701", Detail: "Agent does not exist: " + id}
}

// Isolate runs the isolation program on the agent.
func (c *Client) Isolate(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	return c.run(ctx, ep, ArgIsolate, opts)
}

// Release runs the isolation program on the agent to lift isolation.
func (c *Client) Release(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	return c.run(ctx, ep, ArgRelease, opts)
}

// run sends PUT /active-response for one agent and reads the always-200
// body: the agent must be in affected_items, or its failed item gives the reason.
func (c *Client) run(ctx context.Context, ep vendor.Endpoint, action string, opts vendor.Options) (vendor.Outcome, error) {
	op := action + " agent"
	if !c.IsID(ep.AgentID) {
		return vendor.Outcome{}, notFound(op, ep.AgentID)
	}
	ref := opts.ActionID
	if ref == "" {
		ref = correlationID()
	}
	body, err := json.Marshal(c.requestBody(action, ref))
	if err != nil {
		return vendor.Outcome{}, err
	}

	// Not idempotent: a repeated PUT runs the program again, so a transport
	// failure is reported, never retried blindly.
	resp, err := c.call(ctx, vendorhttp.Request{
		Op: op, Method: http.MethodPut, Path: "/active-response",
		Query:  url.Values{"agents_list": {ep.AgentID}},
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
	})
	if err != nil {
		return vendor.Outcome{}, err
	}
	env, err := decodeEnvelope(op, resp)
	if err != nil {
		return vendor.Outcome{}, err
	}

	var affected []string
	_ = json.Unmarshal(env.Data.AffectedItems, &affected)
	if slices.Contains(affected, ep.AgentID) {
		state := vendor.Isolating
		if action == ArgRelease {
			state = vendor.Releasing
		}
		out := ep
		out.Vendor, out.Isolation = vendor.KindWazuh, state
		c.logger.Info("active response queued for agent", "agent", ep.AgentID, "action", action, "action_id", ref)
		return vendor.Outcome{Endpoint: out, VendorRef: ref, Pending: true, AwaitEvent: true, Raw: json.RawMessage(resp.Body)}, nil
	}

	for _, f := range env.Data.FailedItems {
		if slices.Contains(f.ID, ep.AgentID) || len(env.Data.FailedItems) == 1 {
			return vendor.Outcome{}, failure(op, f)
		}
	}
	return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindWazuh, Op: op, Status: resp.Status,
		Detail: "the manager did not list agent " + ep.AgentID + " as sent or failed: " + env.Message}
}

// ActiveResponse is the body of PUT /active-response (ActiveResponseBody in
// the Wazuh API spec).
type ActiveResponse struct {
	Command   string         `json:"command"`
	Arguments []string       `json:"arguments"`
	Alert     map[string]any `json:"alert"`
}

// requestBody builds the command for action. The program reads the same
// facts from alert.data and from the arguments, which become extra_args on
// the agent:
//
//	arguments: ["isolate", "allow=<ip or cidr>,...", "action_id=<id>"]
//	alert.data: {"action":"isolate","allow":[...],"smartpt_action_id":"<id>"}
//
// Release carries the same fields with action "release" and no allow-list.
func (c *Client) requestBody(action, ref string) ActiveResponse {
	args := []string{action}
	data := map[string]any{"action": action, "smartpt_action_id": ref}
	if action == ArgIsolate {
		args = append(args, "allow="+strings.Join(c.opts.allow, ","))
		data["allow"] = c.opts.allow
	}
	args = append(args, "action_id="+ref)
	return ActiveResponse{Command: "!" + c.opts.command, Arguments: args, Alert: map[string]any{"data": data}}
}

// Confirm cannot ask Wazuh whether the program ran: the API has no such
// call. It returns a non-final confirmation; the result arrives through the
// gateway's Wazuh event route.
func (c *Client) Confirm(_ context.Context, ep vendor.Endpoint, action vendor.ActionKind, _ string) (vendor.Confirmation, error) {
	state := vendor.Isolating
	if action == vendor.ActionRelease {
		state = vendor.Releasing
	}
	return vendor.Confirmation{
		Final:        false,
		State:        state,
		Detail:       "waiting for the smartpt-isolation result event of agent " + ep.AgentID,
		WaitForEvent: true,
	}, nil
}

// Plan returns the call that action would make.
func (c *Client) Plan(action vendor.ActionKind, ep vendor.Endpoint, opts vendor.Options) []vendor.Call {
	switch action {
	case vendor.ActionIsolate, vendor.ActionRelease:
		arg := ArgIsolate
		if action == vendor.ActionRelease {
			arg = ArgRelease
		}
		ref := opts.ActionID
		if ref == "" {
			ref = "<action id>"
		}
		body, _ := json.Marshal(c.requestBody(arg, ref))
		return []vendor.Call{{Method: http.MethodPut, URL: c.opts.baseURL + "/active-response?agents_list=" + url.QueryEscape(ep.AgentID), Body: body}}
	case vendor.ActionStatus:
		q := url.Values{"agents_list": {ep.AgentID}, "select": {agentFields}}
		return []vendor.Call{{Method: http.MethodGet, URL: c.opts.baseURL + "/agents?" + q.Encode()}}
	default:
		return nil
	}
}

// correlationID returns a random id for an action that has no gateway id.
func correlationID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "wz-" + hex.EncodeToString(b)
}
