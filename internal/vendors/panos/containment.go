package panos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Paging of "show object registered-ip": PageSize entries per request, at
// most MaxPages requests (100,000 registered IPs) per status read.
const (
	PageSize = 500
	MaxPages = 200
)

// Resolve returns the endpoint for an IP address (or an allowed CIDR
// network) with its quarantine state. A host name is rejected as invalid
// input (400), because a firewall keeps no host inventory and the caller
// can correct the request by sending the IP address.
func (c *Client) Resolve(ctx context.Context, target vendor.Target) ([]vendor.Endpoint, error) {
	const op = "find endpoint"
	if target.Kind == vendor.TargetHostname {
		return nil, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindPANOS, Op: op,
			Detail: fmt.Sprintf("PAN-OS quarantines IP addresses and keeps no host inventory, so host name %q cannot be looked up: send the endpoint's IP address", target.Value)}
	}
	ip, err := ParseTarget(target.Value, c.opts.allowCIDR)
	if err != nil {
		return nil, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindPANOS, Op: op, Detail: err.Error()}
	}
	tagged, _, err := c.isTagged(ctx, op, ip)
	if err != nil {
		return nil, err
	}
	return []vendor.Endpoint{endpoint(ip, tagged)}, nil
}

// endpoint describes a quarantine target. Online is always true: the
// firewall enforces the tag whether or not the host is up.
func endpoint(ip string, tagged bool) vendor.Endpoint {
	state := vendor.NotIsolated
	if tagged {
		state = vendor.Isolated
	}
	return vendor.Endpoint{Vendor: vendor.KindPANOS, AgentID: ip, IP: ip, Online: true, Isolation: state}
}

// Isolate registers the endpoint's IP with the quarantine tag, with the
// timeout_seconds setting when it is not zero.
func (c *Client) Isolate(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	return c.change(ctx, ep, opts, true)
}

// Release unregisters the quarantine tag from the endpoint's IP.
func (c *Client) Release(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	return c.change(ctx, ep, opts, false)
}

func (c *Client) change(ctx context.Context, ep vendor.Endpoint, opts vendor.Options, register bool) (vendor.Outcome, error) {
	op := "quarantine IP"
	if !register {
		op = "release IP"
	}
	ip, err := ParseTarget(ep.AgentID, c.opts.allowCIDR)
	if err != nil {
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindPANOS, Op: op, Detail: err.Error()}
	}

	// Read the current state first, so a repeated request is reported as such.
	tagged, raw, err := c.isTagged(ctx, op, ip)
	if err != nil {
		return vendor.Outcome{}, err
	}
	if tagged == register {
		return vendor.Outcome{Endpoint: endpoint(ip, tagged), AlreadyInState: true, Raw: raw}, nil
	}

	cmd, err := BuildUIDMessage(register, ip, c.opts.tag, c.opts.timeout)
	if err != nil {
		return vendor.Outcome{}, err
	}
	resp, err := c.send(ctx, op, url.Values{"type": {"user-id"}, "cmd": {string(cmd)}})
	if err != nil {
		// An unregister of a mapping that expired in between fails per entry:
		// read the state again before reporting an error.
		if ve, ok := vendor.AsError(err); ok && !register && (ve.Kind == vendor.ErrInvalid || ve.Kind == vendor.ErrUnavailable) {
			if now, raw, rerr := c.isTagged(ctx, op, ip); rerr == nil && !now {
				return vendor.Outcome{Endpoint: endpoint(ip, false), AlreadyInState: true, Raw: raw}, nil
			}
		}
		return vendor.Outcome{}, err
	}

	c.logger.Info("User-ID registration changed", "op", op, "ip", ip, "tag", c.opts.tag, "action", opts.ActionID)
	return vendor.Outcome{Endpoint: endpoint(ip, register), Raw: rawResult(op, ip, c.opts.tag, resp)}, nil
}

// Status reads whether the endpoint's IP carries the quarantine tag.
func (c *Client) Status(ctx context.Context, ep vendor.Endpoint) (vendor.Outcome, error) {
	const op = "read quarantine state"
	ip, err := ParseTarget(ep.AgentID, c.opts.allowCIDR)
	if err != nil {
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindPANOS, Op: op, Detail: err.Error()}
	}
	tagged, raw, err := c.isTagged(ctx, op, ip)
	if err != nil {
		return vendor.Outcome{}, err
	}
	return vendor.Outcome{Endpoint: endpoint(ip, tagged), Raw: raw}, nil
}

// Confirm reads the state again. PAN-OS applies a registration before it
// responds, so the engine rarely needs this.
func (c *Client) Confirm(ctx context.Context, ep vendor.Endpoint, action vendor.ActionKind, _ string) (vendor.Confirmation, error) {
	out, err := c.Status(ctx, ep)
	if err != nil {
		return vendor.Confirmation{}, err
	}
	want := vendor.Isolated
	if action == vendor.ActionRelease {
		want = vendor.NotIsolated
	}
	state := out.Endpoint.Isolation
	return vendor.Confirmation{Final: true, Succeeded: state == want, State: state, Detail: string(state), Raw: out.Raw}, nil
}

// isTagged pages through the IPs registered with the quarantine tag and
// reports whether ip is one of them.
func (c *Client) isTagged(ctx context.Context, op, ip string) (bool, json.RawMessage, error) {
	for page := 0; page < MaxPages; page++ {
		cmd, err := BuildShowRegisteredIP(c.opts.tag, PageSize, page*PageSize+1)
		if err != nil {
			return false, nil, err
		}
		resp, err := c.send(ctx, op, url.Values{"type": {"op"}, "cmd": {string(cmd)}})
		if err != nil {
			return false, nil, err
		}
		if resp.Result == nil {
			break
		}
		for _, e := range resp.Result.Entries {
			if !sameTarget(e.IP, ip) {
				continue
			}
			for _, t := range e.Tags {
				if t == c.opts.tag {
					return true, stateJSON(ip, c.opts.tag, true), nil
				}
			}
		}
		if len(resp.Result.Entries) < PageSize {
			break
		}
	}
	return false, stateJSON(ip, c.opts.tag, false), nil
}

// stateJSON is the action_result of a state read.
func stateJSON(ip, tag string, tagged bool) json.RawMessage {
	raw, _ := json.Marshal(map[string]any{"ip": ip, "tag": tag, "registered": tagged})
	return raw
}

// rawResult is the action_result of a change: the target and the firewall's
// response, whose XML carries no credential.
func rawResult(op, ip, tag string, resp *Response) json.RawMessage {
	raw, _ := json.Marshal(map[string]any{"op": op, "ip": ip, "tag": tag, "status": resp.Status, "message": resp.Text()})
	return raw
}

// Plan returns the requests of action on ep, without the API key.
func (c *Client) Plan(action vendor.ActionKind, ep vendor.Endpoint, _ vendor.Options) []vendor.Call {
	show, _ := BuildShowRegisteredIP(c.opts.tag, PageSize, 1)
	calls := []vendor.Call{c.planCall("op", show)}

	ip, err := ParseTarget(ep.AgentID, c.opts.allowCIDR)
	if err != nil {
		return calls
	}
	switch action {
	case vendor.ActionIsolate, vendor.ActionRelease:
		cmd, err := BuildUIDMessage(action == vendor.ActionIsolate, ip, c.opts.tag, c.opts.timeout)
		if err == nil {
			calls = append(calls, c.planCall("user-id", cmd))
		}
	}
	return calls
}

func (c *Client) planCall(requestType string, cmd []byte) vendor.Call {
	form := map[string]string{"type": requestType, "cmd": string(cmd), "vsys": c.opts.vsys}
	if c.opts.target != "" {
		form["target"] = c.opts.target
	}
	body, _ := json.Marshal(form)
	return vendor.Call{Method: "POST", URL: c.opts.baseURL + apiPath, Body: body}
}
