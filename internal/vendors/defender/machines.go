package defender

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

// Machine is the part of a Defender machine entity the client reads
// (Defender for Endpoint API, "Machine resource type").
type Machine struct {
	ID                    string     `json:"id"`
	ComputerDNSName       string     `json:"computerDnsName"`
	FirstSeen             *time.Time `json:"firstSeen"`
	LastSeen              *time.Time `json:"lastSeen"`
	OSPlatform            string     `json:"osPlatform"`
	LastIPAddress         string     `json:"lastIpAddress"`
	LastExternalIPAddress string     `json:"lastExternalIpAddress"`
	HealthStatus          string     `json:"healthStatus"`
	RiskScore             string     `json:"riskScore"`
	ExposureLevel         string     `json:"exposureLevel"`
	AADDeviceID           string     `json:"aadDeviceId"`
	MachineTags           []string   `json:"machineTags"`
}

// ParseMachine decodes a machine entity. A body without a valid id is
// rejected, because every later call addresses the machine by it.
func ParseMachine(body []byte) (Machine, error) {
	var m Machine
	if err := json.Unmarshal(body, &m); err != nil {
		return Machine{}, fmt.Errorf("invalid machine JSON: %w", err)
	}
	if !IsID(m.ID) {
		return Machine{}, fmt.Errorf("machine JSON has an invalid id %q", m.ID)
	}
	return m, nil
}

// ParseMachines decodes a machine collection ({"value":[...]}).
func ParseMachines(body []byte) ([]Machine, error) {
	var list struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("invalid machine list JSON: %w", err)
	}
	out := make([]Machine, 0, len(list.Value))
	for _, raw := range list.Value {
		m, err := ParseMachine(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// endpoint converts a machine. Online means healthStatus Active: the sensor
// reported recently.
func (m Machine) endpoint(isolation vendor.Isolation) vendor.Endpoint {
	return vendor.Endpoint{
		Vendor:    vendor.KindDefender,
		AgentID:   m.ID,
		Hostname:  m.ComputerDNSName,
		IP:        m.LastIPAddress,
		Online:    m.HealthStatus == "Active",
		Isolation: isolation,
	}
}

// IsID reports whether s is a Defender machine id: 40 hexadecimal
// characters (a SHA-1-sized value, "Machine resource type").
func IsID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// IsID implements vendor.Containment.
func (c *Client) IsID(s string) bool { return IsID(s) }

// Check performs the cheapest authenticated read, GET /machines?$top=1.
func (c *Client) Check() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.call(ctx, vendorhttp.Request{Op: "list machines", Method: http.MethodGet, Path: "/machines" + mslogin.EncodeQuery(mslogin.Param{Key: "$top", Value: "1"}), Idempotent: true})
	return err
}

// findByIPWindow is how far back findbyip accepts a timestamp ("Find
// devices by internal IP API": within the last 30 days).
const findByIPWindow = 30 * 24 * time.Hour

// Resolve finds the machines matching target. It looks them up by id, by
// computerDnsName (fully qualified, or a short name matched against the
// first label), or by IP: first lastIpAddress, then findbyip at the current
// time, which finds devices seen with that internal IP within 15 minutes.
func (c *Client) Resolve(ctx context.Context, target vendor.Target) ([]vendor.Endpoint, error) {
	var machines []Machine
	var err error
	switch target.Kind {
	case vendor.TargetID:
		machines, err = c.resolveID(ctx, target.Value)
	case vendor.TargetHostname:
		machines, err = c.resolveHostname(ctx, target.Value)
	case vendor.TargetIP:
		machines, err = c.resolveIP(ctx, target.Value)
	default:
		return nil, &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindDefender, Op: "find machine", Detail: fmt.Sprintf("unknown target kind %q", target.Kind)}
	}
	if err != nil {
		return nil, err
	}

	out := make([]vendor.Endpoint, 0, len(machines))
	for _, m := range machines {
		out = append(out, m.endpoint(vendor.Unknown))
	}
	return out, nil
}

func (c *Client) resolveID(ctx context.Context, id string) ([]Machine, error) {
	if !IsID(id) {
		return nil, invalid("find machine", fmt.Sprintf("machine id %q is not 40 hexadecimal characters", id))
	}
	m, _, err := c.getMachine(ctx, id)
	if ve, ok := vendor.AsError(err); ok && ve.Kind == vendor.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []Machine{m}, nil
}

func (c *Client) resolveHostname(ctx context.Context, name string) ([]Machine, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err := validateHostname(name); err != nil {
		return nil, invalid("find machine", err.Error())
	}

	if strings.Contains(name, ".") {
		return c.listMachines(ctx, "computerDnsName eq "+mslogin.QuoteString(name))
	}

	// A short name: list the names that start with it, then keep those
	// whose first label is the name (or that have no domain at all).
	candidates, err := c.listMachines(ctx, "startswith(computerDnsName,"+mslogin.QuoteString(name)+")")
	if err != nil {
		return nil, err
	}
	var out []Machine
	for _, m := range candidates {
		first, _, _ := strings.Cut(m.ComputerDNSName, ".")
		if strings.EqualFold(first, name) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (c *Client) resolveIP(ctx context.Context, ip string) ([]Machine, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, invalid("find machine", fmt.Sprintf("%q is not an IP address", ip))
	}
	ip = addr.Unmap().String()

	machines, err := c.listMachines(ctx, "lastIpAddress eq "+mslogin.QuoteString(ip))
	if err != nil || len(machines) > 0 {
		return machines, err
	}

	// NOTE: the timestamp is now, so findbyip matches devices seen with the
	// IP within the last 15 minutes only.
	stamp := c.now().UTC().Truncate(time.Second).Format(time.RFC3339)
	path := "/machines/findbyip(ip=" + url.PathEscape(mslogin.QuoteString(ip)) + ",timestamp=" + url.PathEscape(stamp) + ")"
	resp, err := c.call(ctx, vendorhttp.Request{Op: "find machines by IP", Method: http.MethodGet, Path: path, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return parseList(resp, "find machines by IP")
}

// validateHostname accepts DNS labels of letters, digits, "-" and "_".
func validateHostname(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("host name %q must have 1 to 253 characters", name)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host name %q has an empty label or one longer than 63 characters", name)
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return fmt.Errorf("host name %q contains %q: use letters, digits, - and _", name, ch)
			}
		}
	}
	return nil
}

func (c *Client) listMachines(ctx context.Context, filter string) ([]Machine, error) {
	path := "/machines" + mslogin.EncodeQuery(mslogin.Param{Key: "$filter", Value: filter})
	resp, err := c.call(ctx, vendorhttp.Request{Op: "list machines", Method: http.MethodGet, Path: path, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return parseList(resp, "list machines")
}

func parseList(resp *vendorhttp.Response, op string) ([]Machine, error) {
	machines, err := ParseMachines(resp.Body)
	if err != nil {
		return nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindDefender, Op: op, Status: resp.Status, Detail: err.Error()}
	}
	return machines, nil
}

func (c *Client) getMachine(ctx context.Context, id string) (Machine, json.RawMessage, error) {
	resp, err := c.call(ctx, vendorhttp.Request{Op: "get machine", Method: http.MethodGet, Path: "/machines/" + url.PathEscape(id), Idempotent: true})
	if err != nil {
		return Machine{}, nil, err
	}
	m, err := ParseMachine(resp.Body)
	if err != nil {
		return Machine{}, nil, &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindDefender, Op: "get machine", Status: resp.Status, Detail: err.Error()}
	}
	return m, resp.Body, nil
}

// call sends one request and returns the response when its status is 2xx,
// or *vendor.Error otherwise.
func (c *Client) call(ctx context.Context, req vendorhttp.Request) (*vendorhttp.Response, error) {
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Accept", "application/json")
	if req.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := mslogin.EnsureToken(ctx, c.auth); err != nil {
		return nil, err
	}
	resp, err := c.api.Do(ctx, req)
	if err != nil {
		return nil, vendor.FromTransport(vendor.KindDefender, req.Op, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, mslogin.MapError(vendor.KindDefender, req.Op, resp)
	}
	return resp, nil
}

func invalid(op, detail string) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrInvalid, Vendor: vendor.KindDefender, Op: op, Detail: detail}
}
