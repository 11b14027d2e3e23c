package cortex

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Values of is_isolated in a get_endpoint reply.
const (
	AgentIsolated                     = "AGENT_ISOLATED"
	AgentUnisolated                   = "AGENT_UNISOLATED"
	AgentPendingIsolation             = "AGENT_PENDING_ISOLATION"
	AgentPendingIsolationCancellation = "AGENT_PENDING_ISOLATION_CANCELLATION"
)

// Values of endpoint_status in a get_endpoint reply.
const (
	StatusConnected    = "CONNECTED"
	StatusDisconnected = "DISCONNECTED"
	StatusLost         = "LOST"
	StatusUninstalled  = "UNINSTALLED"
)

// MapIsolation maps is_isolated to the normalised isolation state.
func MapIsolation(isIsolated string) vendor.Isolation {
	switch isIsolated {
	case AgentIsolated:
		return vendor.Isolated
	case AgentUnisolated:
		return vendor.NotIsolated
	case AgentPendingIsolation:
		return vendor.Isolating
	case AgentPendingIsolationCancellation:
		return vendor.Releasing
	}
	return vendor.Unknown
}

// toEndpoint converts a get_endpoint record.
func toEndpoint(r EndpointRecord) vendor.Endpoint {
	ep := vendor.Endpoint{
		Vendor:    vendor.KindCortex,
		AgentID:   r.EndpointID,
		Hostname:  r.EndpointName,
		Online:    r.EndpointStatus == StatusConnected,
		Isolation: MapIsolation(r.IsIsolated),
	}
	if len(r.IP) > 0 {
		ep.IP = strings.TrimSpace(r.IP[0])
	}
	return ep
}

// Resolve looks target up with get_endpoint: by endpoint_id_list, hostname
// or ip_list. It returns at most MaxSearchResults endpoints, and an empty
// slice when none match.
func (c *Client) Resolve(ctx context.Context, target vendor.Target) ([]vendor.Endpoint, error) {
	var field, value string
	switch target.Kind {
	case vendor.TargetID:
		field, value = "endpoint_id_list", strings.ToLower(target.Value)
	case vendor.TargetHostname:
		field, value = "hostname", target.Value
	case vendor.TargetIP:
		field, value = "ip_list", target.Value
	default:
		return nil, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindCortex, Op: "find endpoint", Detail: fmt.Sprintf("target kind %q is not supported: send an endpoint ID, host name or IP address", target.Kind)}
	}

	records, _, err := c.getEndpoints(ctx, "find endpoint", Filter{Field: field, Operator: "in", Value: []string{value}})
	if err != nil {
		return nil, err
	}
	endpoints := make([]vendor.Endpoint, 0, len(records))
	for _, r := range records {
		endpoints = append(endpoints, toEndpoint(r))
	}
	return endpoints, nil
}

func (c *Client) getEndpoints(ctx context.Context, op string, filters ...Filter) ([]EndpointRecord, json.RawMessage, error) {
	var reply GetEndpointReply
	req := GetEndpointRequest{Filters: filters, SearchFrom: 0, SearchTo: MaxSearchResults}
	raw, err := c.call(ctx, op, pathGetEndpoint, req, true, &reply)
	if err != nil {
		return nil, nil, err
	}
	return reply.Endpoints, raw, nil
}

// readEndpoint reads one endpoint by ID and returns its record as JSON.
func (c *Client) readEndpoint(ctx context.Context, op, id string) (EndpointRecord, json.RawMessage, error) {
	records, _, err := c.getEndpoints(ctx, op, Filter{Field: "endpoint_id_list", Operator: "in", Value: []string{id}})
	if err != nil {
		return EndpointRecord{}, nil, err
	}
	for _, r := range records {
		if strings.EqualFold(r.EndpointID, id) {
			raw, err := json.Marshal(r)
			if err != nil {
				return EndpointRecord{}, nil, fmt.Errorf("encode endpoint record: %w", err)
			}
			return r, raw, nil
		}
	}
	return EndpointRecord{}, nil, &vendor.Error{Kind: vendor.ErrNotFound, Vendor: vendor.KindCortex, Op: op, Detail: fmt.Sprintf("Cortex XDR has no endpoint with ID %q", id)}
}

// Isolate reads the endpoint first, as Palo Alto's own XSOAR integration
// does, because the API returns err_code 500 for a repeated request:
//   - already isolated: AlreadyInState, no call;
//   - isolation pending: Pending, no second call;
//   - release pending or agent uninstalled: ErrConflict;
//   - agent disconnected or lost: the action is sent with a warning that it
//     stays pending until the agent connects.
func (c *Client) Isolate(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	return c.change(ctx, ep, opts, vendor.ActionIsolate)
}

// Release lifts isolation with the same pre-check as Isolate, mirrored.
func (c *Client) Release(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	return c.change(ctx, ep, opts, vendor.ActionRelease)
}

func (c *Client) change(ctx context.Context, ep vendor.Endpoint, opts vendor.Options, action vendor.ActionKind) (vendor.Outcome, error) {
	op, path, want, pending, opposite := "isolate endpoint", pathIsolate, AgentIsolated, AgentPendingIsolation, AgentPendingIsolationCancellation
	if action == vendor.ActionRelease {
		op, path, want, pending, opposite = "release endpoint", pathUnisolate, AgentUnisolated, AgentPendingIsolationCancellation, AgentPendingIsolation
	}

	// Read the current state.
	rec, raw, err := c.readEndpoint(ctx, op, ep.AgentID)
	if err != nil {
		return vendor.Outcome{}, err
	}
	current := toEndpoint(rec)
	out := vendor.Outcome{Endpoint: current, Raw: raw}

	// Decide from the state whether a call is needed.
	switch {
	case rec.EndpointStatus == StatusUninstalled:
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrConflict, Vendor: vendor.KindCortex, Op: op, Detail: fmt.Sprintf("the Cortex XDR agent of endpoint %s is uninstalled, so it cannot take the action", rec.EndpointID)}
	case rec.IsIsolated == want:
		out.AlreadyInState = true
		return out, nil
	case rec.IsIsolated == pending:
		out.Pending = true
		out.Warnings = append(out.Warnings, fmt.Sprintf("endpoint %s already has this action pending (%s); no second request was sent", rec.EndpointID, rec.IsIsolated))
		return out, nil
	case rec.IsIsolated == opposite:
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrConflict, Vendor: vendor.KindCortex, Op: op, Detail: fmt.Sprintf("endpoint %s has the opposite action pending (%s): retry when it completes", rec.EndpointID, rec.IsIsolated)}
	}
	if rec.EndpointStatus == StatusDisconnected || rec.EndpointStatus == StatusLost {
		out.Warnings = append(out.Warnings, fmt.Sprintf("endpoint %s is %s: the action stays pending until its agent connects", rec.EndpointID, rec.EndpointStatus))
	}

	// Send the action for this one endpoint.
	var reply ActionReply
	raw, err = c.call(ctx, op, path, IsolateRequest{EndpointID: rec.EndpointID}, false, &reply)
	if err != nil {
		return vendor.Outcome{}, err
	}
	out.Raw = raw
	out.VendorRef = reply.actionID()
	out.Pending = true
	if action == vendor.ActionIsolate {
		out.Endpoint.Isolation = vendor.Isolating
	} else {
		out.Endpoint.Isolation = vendor.Releasing
	}
	c.logger.Info("action sent", "op", op, "endpoint_id", rec.EndpointID, "action_id", out.VendorRef, "action", opts.ActionID)
	return out, nil
}

// Status reads the endpoint's isolation and connection state.
func (c *Client) Status(ctx context.Context, ep vendor.Endpoint) (vendor.Outcome, error) {
	rec, raw, err := c.readEndpoint(ctx, "read endpoint status", ep.AgentID)
	if err != nil {
		return vendor.Outcome{}, err
	}
	out := vendor.Outcome{Endpoint: toEndpoint(rec), Raw: raw}
	if rec.EndpointStatus != StatusConnected {
		out.Warnings = append(out.Warnings, fmt.Sprintf("the agent is %s, so the reported state may be stale", rec.EndpointStatus))
	}
	return out, nil
}

// Action statuses of actions/get_action_status (Cortex XDR API, "Get Action
// Status").
const (
	ActionPending               = "PENDING"
	ActionInProgress            = "IN_PROGRESS"
	ActionPendingAbort          = "PENDING_ABORT"
	ActionCompletedSuccessfully = "COMPLETED_SUCCESSFULLY"
)

// Confirm polls actions/get_action_status for vendorRef, the group action
// ID. PENDING, IN_PROGRESS and PENDING_ABORT are not final;
// COMPLETED_SUCCESSFULLY is final success; every other status (FAILED,
// TIMEOUT, EXPIRED, ABORTED, CANCELLED, COMPLETED_PARTIAL) is final failure.
// Without a vendorRef (the action was already pending when requested), it
// reads is_isolated instead.
func (c *Client) Confirm(ctx context.Context, ep vendor.Endpoint, action vendor.ActionKind, vendorRef string) (vendor.Confirmation, error) {
	want, inFlight := vendor.Isolated, vendor.Isolating
	if action == vendor.ActionRelease {
		want, inFlight = vendor.NotIsolated, vendor.Releasing
	}

	groupID, err := strconv.ParseInt(strings.TrimSpace(vendorRef), 10, 64)
	if vendorRef == "" || err != nil {
		return c.confirmByState(ctx, ep, want)
	}

	var reply ActionStatusReply
	raw, err := c.call(ctx, "read action status", pathActionStatus, ActionStatusRequest{GroupActionID: groupID}, true, &reply)
	if err != nil {
		return vendor.Confirmation{}, err
	}

	status, ok := statusFor(reply.Data, ep.AgentID)
	if !ok {
		return vendor.Confirmation{State: inFlight, Detail: "no status yet for this endpoint", Raw: raw}, nil
	}
	conf := vendor.Confirmation{Detail: status, Raw: raw}
	switch status {
	case ActionPending, ActionInProgress, ActionPendingAbort:
		conf.State = inFlight
	case ActionCompletedSuccessfully:
		conf.Final, conf.Succeeded, conf.State = true, true, want
	default:
		conf.Final = true
		conf.State = vendor.Unknown
		if rec, _, err := c.readEndpoint(ctx, "read endpoint status", ep.AgentID); err == nil {
			conf.State = MapIsolation(rec.IsIsolated)
		}
	}
	return conf, nil
}

// statusFor finds the status of endpoint id, ignoring case. A reply with a
// single entry is taken as this endpoint's, because the API documents the key
// both as agent ID and as endpoint ID.
func statusFor(data map[string]string, id string) (string, bool) {
	for k, v := range data {
		if strings.EqualFold(k, id) {
			return v, true
		}
	}
	if len(data) == 1 {
		for _, v := range data {
			return v, true
		}
	}
	return "", false
}

func (c *Client) confirmByState(ctx context.Context, ep vendor.Endpoint, want vendor.Isolation) (vendor.Confirmation, error) {
	rec, raw, err := c.readEndpoint(ctx, "read endpoint status", ep.AgentID)
	if err != nil {
		return vendor.Confirmation{}, err
	}
	state := MapIsolation(rec.IsIsolated)
	conf := vendor.Confirmation{State: state, Detail: rec.IsIsolated, Raw: raw}
	if state == want {
		conf.Final, conf.Succeeded = true, true
	}
	return conf, nil
}

// Plan returns the calls of action on ep without sending them.
func (c *Client) Plan(action vendor.ActionKind, ep vendor.Endpoint, _ vendor.Options) []vendor.Call {
	read := c.planCall(pathGetEndpoint, GetEndpointRequest{
		Filters:  []Filter{{Field: "endpoint_id_list", Operator: "in", Value: []string{ep.AgentID}}},
		SearchTo: MaxSearchResults,
	})
	switch action {
	case vendor.ActionIsolate:
		return []vendor.Call{read, c.planCall(pathIsolate, IsolateRequest{EndpointID: ep.AgentID})}
	case vendor.ActionRelease:
		return []vendor.Call{read, c.planCall(pathUnisolate, IsolateRequest{EndpointID: ep.AgentID})}
	}
	return []vendor.Call{read}
}

func (c *Client) planCall(path string, requestData any) vendor.Call {
	body, _ := json.Marshal(map[string]any{"request_data": requestData})
	return vendor.Call{Method: "POST", URL: c.baseURL + path, Body: body}
}
