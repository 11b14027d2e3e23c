package cisco

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Isolation statuses of the /isolation sub-resource.
const (
	StatusNotIsolated  = "not_isolated"
	StatusPendingStart = "pending_start"
	StatusIsolated     = "isolated"
	StatusPendingStop  = "pending_stop"
)

// MapIsolation maps an isolation status to the normalised state.
func MapIsolation(status string) vendor.Isolation {
	switch status {
	case StatusNotIsolated:
		return vendor.NotIsolated
	case StatusPendingStart:
		return vendor.Isolating
	case StatusIsolated:
		return vendor.Isolated
	case StatusPendingStop:
		return vendor.Releasing
	}
	return vendor.Unknown
}

// Paging of /v1/computers lookups: PageSize computers per request, at most
// MaxPages requests per lookup.
const (
	PageSize = 100
	MaxPages = 10
)

// toEndpoint converts a computer record. Online is the record's active flag,
// because the API reports no live connection state.
func toEndpoint(c Computer) vendor.Endpoint {
	ep := vendor.Endpoint{Vendor: vendor.KindCisco, AgentID: c.ConnectorGUID, Hostname: c.Hostname, Online: c.Active, Isolation: vendor.Unknown}
	for _, ip := range c.InternalIPs {
		if ip = strings.TrimSpace(ip); ip != "" {
			ep.IP = ip
			break
		}
	}
	if c.Isolation != nil {
		ep.Isolation = MapIsolation(c.Isolation.Status)
	}
	return ep
}

func computerPath(guid string) string { return "/v1/computers/" + url.PathEscape(guid) }

// Resolve finds computers by connector GUID (GET /v1/computers/{guid}), host
// name (hostname[]) or internal IP (internal_ip). The API may match host
// names partially, so only computers whose host name equals the target, or
// whose short name (before the first dot) does, are returned.
func (c *Client) Resolve(ctx context.Context, target vendor.Target) ([]vendor.Endpoint, error) {
	const op = "find computer"
	switch target.Kind {
	case vendor.TargetID:
		comp, found, err := c.getComputer(ctx, op, strings.ToLower(target.Value))
		if err != nil || !found {
			return nil, err
		}
		return []vendor.Endpoint{toEndpoint(comp)}, nil

	case vendor.TargetHostname:
		comps, err := c.listComputers(ctx, op, url.Values{"hostname[]": {target.Value}})
		if err != nil {
			return nil, err
		}
		var out []vendor.Endpoint
		for _, comp := range comps {
			if hostnameMatches(comp.Hostname, target.Value) {
				out = append(out, toEndpoint(comp))
			}
		}
		return out, nil

	case vendor.TargetIP:
		addr, err := netip.ParseAddr(target.Value)
		if err != nil {
			return nil, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindCisco, Op: op, Detail: fmt.Sprintf("%q is not an IP address", target.Value)}
		}
		comps, err := c.listComputers(ctx, op, url.Values{"internal_ip": {addr.String()}})
		if err != nil {
			return nil, err
		}
		var out []vendor.Endpoint
		for _, comp := range comps {
			if hasIP(comp, addr) {
				out = append(out, toEndpoint(comp))
			}
		}
		return out, nil
	}
	return nil, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindCisco, Op: op, Detail: fmt.Sprintf("target kind %q is not supported: send a connector GUID, host name or IP address", target.Kind)}
}

func hostnameMatches(hostname, want string) bool {
	if strings.EqualFold(hostname, want) {
		return true
	}
	short, _, _ := strings.Cut(hostname, ".")
	return !strings.Contains(want, ".") && strings.EqualFold(short, want)
}

func hasIP(comp Computer, addr netip.Addr) bool {
	candidates := append([]string(nil), comp.InternalIPs...)
	for _, na := range comp.NetworkAddresses {
		candidates = append(candidates, na.IP)
	}
	for _, s := range candidates {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && a == addr {
			return true
		}
	}
	return false
}

// getComputer reads one computer; found is false on 404.
func (c *Client) getComputer(ctx context.Context, op, guid string) (Computer, bool, error) {
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: computerPath(guid)})
	if err != nil {
		return Computer{}, false, err
	}
	if resp.Status == http.StatusNotFound {
		return Computer{}, false, nil
	}
	if resp.Status != http.StatusOK {
		return Computer{}, false, statusError(op, resp)
	}
	var comp Computer
	if _, err := ParseEnvelope(resp.Body, &comp); err != nil {
		return Computer{}, false, unreadable(op, resp.Status, err)
	}
	return comp, true, nil
}

// listComputers follows metadata.links.next for at most MaxPages pages. A
// next link must point at the configured API host, so credentials never
// leave it.
func (c *Client) listComputers(ctx context.Context, op string, query url.Values) ([]Computer, error) {
	query.Set("limit", fmt.Sprint(PageSize))
	path := "/v1/computers"

	var all []Computer
	for page := 0; page < MaxPages; page++ {
		resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path, query: query})
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, statusError(op, resp)
		}
		var comps []Computer
		env, err := ParseEnvelope(resp.Body, &comps)
		if err != nil {
			return nil, unreadable(op, resp.Status, err)
		}
		all = append(all, comps...)

		next := env.Metadata.Links.Next
		if next == "" || len(comps) == 0 {
			return all, nil
		}
		u, err := url.Parse(next)
		if err != nil || u.Scheme+"://"+u.Host != c.baseURL || !strings.HasPrefix(u.Path, "/v1/computers") {
			return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindCisco, Op: op, Detail: fmt.Sprintf("the next-page link %q does not point at %s", next, c.baseURL)}
		}
		path, query = u.EscapedPath(), u.Query()
	}
	c.logger.Warn("computer lookup stopped at the page limit", "op", op, "pages", MaxPages, "computers", len(all))
	return all, nil
}

func unreadable(op string, status int, err error) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindCisco, Op: op, Status: status, Detail: "Cisco Secure Endpoint sent a response that could not be read: " + err.Error()}
}

// getIsolation reads the isolation sub-resource and returns it with the raw
// body, unlock code removed.
func (c *Client) getIsolation(ctx context.Context, op, guid string) (Isolation, json.RawMessage, error) {
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: computerPath(guid) + "/isolation"})
	if err != nil {
		return Isolation{}, nil, err
	}
	if resp.Status != http.StatusOK {
		e := statusError(op, resp)
		if e.Kind == vendor.ErrNotFound {
			e.Detail = fmt.Sprintf("Cisco Secure Endpoint has no computer with connector GUID %q (%s)", guid, e.Detail)
		}
		return Isolation{}, nil, e
	}
	var iso Isolation
	if _, err := ParseEnvelope(resp.Body, &iso); err != nil {
		return Isolation{}, nil, unreadable(op, resp.Status, err)
	}
	return iso, RawWithoutUnlockCode(resp.Body), nil
}

func (c *Client) outcome(ep vendor.Endpoint, status string, raw json.RawMessage) vendor.Outcome {
	ep.Vendor = vendor.KindCisco
	ep.Isolation = MapIsolation(status)
	return vendor.Outcome{Endpoint: ep, Raw: raw, Pending: status == StatusPendingStart || status == StatusPendingStop}
}

// Isolate reads the isolation state first: isolated is AlreadyInState,
// pending_start is Pending without a second request, pending_stop is
// ErrConflict, and a policy without isolation is ErrForbidden. Otherwise it
// PUTs a comment and an unlock code (opts.UnlockCode, or a generated one)
// and returns the code in Outcome.UnlockCode.
func (c *Client) Isolate(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	const op = "isolate computer"
	iso, raw, err := c.getIsolation(ctx, op, ep.AgentID)
	if err != nil {
		return vendor.Outcome{}, err
	}
	switch iso.Status {
	case StatusIsolated:
		out := c.outcome(ep, iso.Status, raw)
		out.AlreadyInState = true
		return out, nil
	case StatusPendingStart:
		out := c.outcome(ep, iso.Status, raw)
		out.Warnings = append(out.Warnings, "isolation of this computer is already starting; no second request was sent")
		return out, nil
	case StatusPendingStop:
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrConflict, Vendor: vendor.KindCisco, Op: op, Detail: "isolation of this computer is being stopped: retry when the computer reports not_isolated"}
	}
	if !iso.Available {
		return vendor.Outcome{}, notAllowed(op, http.StatusOK)
	}

	code := opts.UnlockCode
	if code == "" {
		if code, err = NewUnlockCode(); err != nil {
			return vendor.Outcome{}, err
		}
	} else if err := ValidateUnlockCode(code); err != nil {
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindCisco, Op: op, Detail: err.Error()}
	}

	resp, err := c.do(ctx, request{op: op, method: http.MethodPut, path: computerPath(ep.AgentID) + "/isolation",
		body: IsolationRequest{Comment: comment("Isolated", opts), UnlockCode: code}})
	if err != nil {
		return vendor.Outcome{}, err
	}
	switch {
	case resp.Status == http.StatusConflict:
		// Isolated in between: report the state the computer is in now.
		iso, raw, err := c.getIsolation(ctx, op, ep.AgentID)
		if err != nil {
			return vendor.Outcome{}, err
		}
		if iso.Status == StatusIsolated || iso.Status == StatusPendingStart {
			out := c.outcome(ep, iso.Status, raw)
			out.AlreadyInState = iso.Status == StatusIsolated
			return out, nil
		}
		return vendor.Outcome{}, statusError(op, resp)
	case resp.Status == http.StatusMethodNotAllowed:
		return vendor.Outcome{}, notAllowed(op, resp.Status)
	case resp.Status < 200 || resp.Status > 299:
		return vendor.Outcome{}, statusError(op, resp)
	}

	var after Isolation
	if _, err := ParseEnvelope(resp.Body, &after); err != nil {
		return vendor.Outcome{}, unreadable(op, resp.Status, err)
	}
	status := after.Status
	if status == "" {
		status = StatusPendingStart
	}
	out := c.outcome(ep, status, RawWithoutUnlockCode(resp.Body))
	out.UnlockCode = code
	c.logger.Info("isolation requested", "connector_guid", ep.AgentID, "status", status, "action", opts.ActionID)
	return out, nil
}

func notAllowed(op string, status int) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrForbidden, Vendor: vendor.KindCisco, Op: op, Status: status,
		Detail: "isolation is not allowed for this computer: enable Endpoint Isolation in its policy (Advanced Settings > Endpoint Isolation)"}
}

// Release reads the isolation state first: not_isolated is AlreadyInState,
// pending_stop is Pending without a second request, and pending_start is
// ErrConflict. Otherwise it sends DELETE with a comment.
func (c *Client) Release(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	const op = "release computer"
	iso, raw, err := c.getIsolation(ctx, op, ep.AgentID)
	if err != nil {
		return vendor.Outcome{}, err
	}
	switch iso.Status {
	case StatusNotIsolated:
		out := c.outcome(ep, iso.Status, raw)
		out.AlreadyInState = true
		return out, nil
	case StatusPendingStop:
		out := c.outcome(ep, iso.Status, raw)
		out.Warnings = append(out.Warnings, "isolation of this computer is already stopping; no second request was sent")
		return out, nil
	case StatusPendingStart:
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrConflict, Vendor: vendor.KindCisco, Op: op, Detail: "isolation of this computer is still starting: retry when the computer reports isolated"}
	}

	resp, err := c.do(ctx, request{op: op, method: http.MethodDelete, path: computerPath(ep.AgentID) + "/isolation",
		body: IsolationRequest{Comment: comment("Released", opts)}})
	if err != nil {
		return vendor.Outcome{}, err
	}
	if resp.Status == http.StatusConflict {
		iso, raw, err := c.getIsolation(ctx, op, ep.AgentID)
		if err != nil {
			return vendor.Outcome{}, err
		}
		if iso.Status == StatusNotIsolated || iso.Status == StatusPendingStop {
			out := c.outcome(ep, iso.Status, raw)
			out.AlreadyInState = iso.Status == StatusNotIsolated
			return out, nil
		}
		return vendor.Outcome{}, statusError(op, resp)
	}
	if resp.Status < 200 || resp.Status > 299 {
		return vendor.Outcome{}, statusError(op, resp)
	}

	var after Isolation
	if _, err := ParseEnvelope(resp.Body, &after); err != nil {
		return vendor.Outcome{}, unreadable(op, resp.Status, err)
	}
	status := after.Status
	if status == "" {
		status = StatusPendingStop
	}
	c.logger.Info("isolation stop requested", "connector_guid", ep.AgentID, "status", status, "action", opts.ActionID)
	return c.outcome(ep, status, RawWithoutUnlockCode(resp.Body)), nil
}

// Status reads the isolation sub-resource.
func (c *Client) Status(ctx context.Context, ep vendor.Endpoint) (vendor.Outcome, error) {
	iso, raw, err := c.getIsolation(ctx, "read isolation status", ep.AgentID)
	if err != nil {
		return vendor.Outcome{}, err
	}
	out := c.outcome(ep, iso.Status, raw)
	out.Pending = false
	if !iso.Available && iso.Status == StatusNotIsolated {
		out.Warnings = append(out.Warnings, "isolation is not available for this computer under its current policy")
	}
	return out, nil
}

// Confirm polls the isolation status once. For isolate, isolated is final
// success and pending_start is not final; for release, not_isolated is final
// success and pending_stop is not final. Any other status is final failure:
// the computer went the other way.
func (c *Client) Confirm(ctx context.Context, ep vendor.Endpoint, action vendor.ActionKind, _ string) (vendor.Confirmation, error) {
	iso, raw, err := c.getIsolation(ctx, "confirm isolation status", ep.AgentID)
	if err != nil {
		return vendor.Confirmation{}, err
	}
	done, waiting := StatusIsolated, StatusPendingStart
	if action == vendor.ActionRelease {
		done, waiting = StatusNotIsolated, StatusPendingStop
	}
	conf := vendor.Confirmation{State: MapIsolation(iso.Status), Detail: iso.Status, Raw: raw}
	switch iso.Status {
	case done:
		conf.Final, conf.Succeeded = true, true
	case waiting:
	default:
		conf.Final = true
	}
	return conf, nil
}

// comment builds the isolation comment from the gateway's action and the
// requester, followed by the caller's comment without control characters.
// NOTE: the API documents no length limit for comment; none is applied.
func comment(verb string, opts vendor.Options) string {
	text := verb + " by SmartPT"
	if opts.ActionID != "" {
		text += " (action " + opts.ActionID + ")"
	}
	if opts.Requester != "" {
		text += " at the request of " + opts.Requester
	}
	if extra := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, opts.Comment)); extra != "" {
		text += ": " + extra
	}
	return text
}

// Unlock codes are drawn from letters and digits that cannot be misread on a
// screen (no 0/O, 1/l/I).
const (
	unlockAlphabet = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
	unlockLength   = 12
)

// NewUnlockCode returns a random unlock code of 12 characters, about 69 bits.
func NewUnlockCode() (string, error) {
	out := make([]byte, unlockLength)
	max := big.NewInt(int64(len(unlockAlphabet)))
	for i := range out {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate unlock code: %w", err)
		}
		out[i] = unlockAlphabet[n.Int64()]
	}
	return string(out), nil
}

// ValidateUnlockCode checks a caller's unlock code: 4 to 64 letters, digits,
// hyphens or underscores, so it can be typed on the machine.
// NOTE: Cisco does not document the accepted characters or length; this
// range is an assumption.
func ValidateUnlockCode(code string) error {
	if len(code) < 4 || len(code) > 64 {
		return fmt.Errorf("unlock code must be 4 to 64 characters long, got %d", len(code))
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("unlock code may contain only letters, digits, hyphens and underscores")
		}
	}
	return nil
}

// Plan returns the calls of action on ep, without credentials.
func (c *Client) Plan(action vendor.ActionKind, ep vendor.Endpoint, opts vendor.Options) []vendor.Call {
	isoURL := c.baseURL + computerPath(ep.AgentID) + "/isolation"
	calls := []vendor.Call{{Method: http.MethodGet, URL: isoURL}}
	switch action {
	case vendor.ActionIsolate:
		body, _ := json.Marshal(IsolationRequest{Comment: comment("Isolated", opts), UnlockCode: "<unlock code: generated or from the request, never shown>"})
		calls = append(calls, vendor.Call{Method: http.MethodPut, URL: isoURL, Body: body})
	case vendor.ActionRelease:
		body, _ := json.Marshal(IsolationRequest{Comment: comment("Released", opts)})
		calls = append(calls, vendor.Call{Method: http.MethodDelete, URL: isoURL, Body: body})
	}
	return calls
}
