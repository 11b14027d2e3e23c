package defendersim

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"
)

// machine is a simulated onboarded device.
type machine struct {
	ID           string
	DNSName      string
	IP           string
	HealthStatus string
	FirstSeen    time.Time
	LastSeen     time.Time
}

// machineFields are the properties $filter accepts on machines ("List
// machines API": computerDnsName, id, lastIpAddress, healthStatus,
// osPlatform and others, and startswith on computerDnsName).
var machineFields = map[string]bool{"computerDnsName": true, "id": true, "lastIpAddress": true, "healthStatus": true, "osPlatform": true}

// seed adds one machine per demo host. The last host is Inactive, so that
// the demo shows an offline machine.
func (s *Server) seed() {
	now := time.Now().UTC()
	for _, h := range simharness.DemoHosts() {
		m := &machine{
			ID:           MachineID(h.Hostname),
			DNSName:      h.Hostname + "." + DemoDomain,
			IP:           h.IPv4,
			HealthStatus: "Active",
			FirstSeen:    now.Add(-90 * 24 * time.Hour),
			LastSeen:     now.Add(-time.Duration(h.Index) * time.Minute),
		}
		if h.Index == simharness.DemoHostCount {
			m.HealthStatus, m.LastSeen = "Inactive", now.Add(-10*24*time.Hour)
		}
		s.machines = append(s.machines, m)
	}
}

func (m *machine) json() map[string]any {
	return map[string]any{
		"id":                    m.ID,
		"computerDnsName":       m.DNSName,
		"firstSeen":             m.FirstSeen.Format(time.RFC3339Nano),
		"lastSeen":              m.LastSeen.Format(time.RFC3339Nano),
		"osPlatform":            "Windows11",
		"version":               "23H2",
		"osProcessor":           "x64",
		"lastIpAddress":         m.IP,
		"lastExternalIpAddress": "198.51.100.7",
		"osBuild":               22631,
		"healthStatus":          m.HealthStatus,
		"rbacGroupId":           140,
		"rbacGroupName":         "Demo",
		"riskScore":             "Low",
		"exposureLevel":         "Medium",
		"isAadJoined":           true,
		"aadDeviceId":           mssim.NewGUID(),
		"machineTags":           []string{"demo"},
	}
}

func (m *machine) field(name string) []string {
	switch name {
	case "id":
		return []string{m.ID}
	case "computerDnsName":
		return []string{m.DNSName}
	case "lastIpAddress":
		return []string{m.IP}
	case "healthStatus":
		return []string{m.HealthStatus}
	case "osPlatform":
		return []string{"Windows11"}
	}
	return nil
}

// lookup finds a machine by id or computer name ("Get machine by ID API":
// by device ID or computer name). Call with s.mu held.
func (s *Server) lookup(key string) *machine {
	for _, m := range s.machines {
		if strings.EqualFold(m.ID, key) || strings.EqualFold(m.DNSName, key) {
			return m
		}
	}
	return nil
}

func machineNotFound(w http.ResponseWriter, key string) {
	mssim.WriteDefenderError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("Machine %s was not found", key))
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	m := s.lookup(key)
	var body map[string]any
	if m != nil {
		body = m.json()
		body["@odata.context"] = "https://api.security.microsoft.com/api/$metadata#Machines/$entity"
	}
	s.mu.Unlock()

	if m == nil {
		machineNotFound(w, key)
		return
	}
	mssim.WriteJSON(w, http.StatusOK, body)
}

// parseQuery reads $filter, $top and $skip. Any other query option, a
// field outside fields and a filter it cannot parse get 400 ODataError.
// NOTE: the real API accepts more options (such as $select); the simulator
// accepts only what the client sends.
func parseQuery(w http.ResponseWriter, r *http.Request, fields map[string]bool, maxTop int) (expr mssim.Expr, top, skip int, ok bool) {
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "$filter", "$top", "$skip":
		default:
			mssim.WriteDefenderError(w, http.StatusBadRequest, "ODataError", fmt.Sprintf("The query parameter '%s' is not supported.", key))
			return nil, 0, 0, false
		}
	}

	top = maxTop
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxTop {
			mssim.WriteDefenderError(w, http.StatusBadRequest, "ODataError", fmt.Sprintf("Invalid $top value '%s': use 0 to %d.", v, maxTop))
			return nil, 0, 0, false
		}
		top = n
	}
	if v := q.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			mssim.WriteDefenderError(w, http.StatusBadRequest, "ODataError", fmt.Sprintf("Invalid $skip value '%s': use a number of at least 0.", v))
			return nil, 0, 0, false
		}
		skip = n
	}

	raw := q.Get("$filter")
	if raw == "" {
		return nil, top, skip, true
	}
	expr, err := mssim.ParseFilter(raw)
	if err != nil {
		mssim.WriteDefenderError(w, http.StatusBadRequest, "ODataError", "Invalid filter clause: "+err.Error())
		return nil, 0, 0, false
	}
	for _, f := range mssim.Fields(expr) {
		if !fields[f] {
			mssim.WriteDefenderError(w, http.StatusBadRequest, "ODataError", fmt.Sprintf("Invalid filter clause: the property '%s' cannot be used in $filter.", f))
			return nil, 0, 0, false
		}
	}
	return expr, top, skip, true
}

// listMachines serves GET /api/machines ($top up to 10,000).
func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	expr, top, skip, ok := parseQuery(w, r, machineFields, 10000)
	if !ok {
		return
	}

	s.mu.Lock()
	value := []map[string]any{}
	for _, m := range s.machines {
		if len(value) == top {
			break
		}
		if expr != nil && !mssim.Eval(expr, m.field) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		value = append(value, m.json())
	}
	s.mu.Unlock()
	mssim.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://api.security.microsoft.com/api/$metadata#Machines", "value": value})
}

// findByIP serves GET /api/machines/findbyip(ip='x',timestamp=t). The
// timestamp must lie within the past 30 days ("Find devices by internal IP
// API"). A device matches when its last IP is ip.
func (s *Server) findByIP(w http.ResponseWriter, r *http.Request, segment string) {
	args, ok := strings.CutSuffix(strings.TrimPrefix(segment, "findbyip("), ")")
	ipArg, stampArg, found := strings.Cut(args, ",")
	ipLit, hasIP := strings.CutPrefix(ipArg, "ip=")
	stamp, hasStamp := strings.CutPrefix(stampArg, "timestamp=")
	if !ok || !found || !hasIP || !hasStamp || len(ipLit) < 2 || ipLit[0] != '\'' || ipLit[len(ipLit)-1] != '\'' {
		mssim.WriteDefenderError(w, http.StatusBadRequest, "InvalidInput", "Expected findbyip(ip='<address>',timestamp=<UTC date-time>).")
		return
	}
	addr, err := netip.ParseAddr(ipLit[1 : len(ipLit)-1])
	if err != nil {
		mssim.WriteDefenderError(w, http.StatusBadRequest, "InvalidInput", fmt.Sprintf("Invalid IP address %s.", ipLit))
		return
	}
	at, err := time.Parse(time.RFC3339, stamp)
	if err != nil || time.Since(at) > 30*24*time.Hour || time.Until(at) > 15*time.Minute {
		mssim.WriteDefenderError(w, http.StatusBadRequest, "InvalidInput", "The timestamp must be a UTC date-time within the past 30 days.")
		return
	}

	s.mu.Lock()
	value := []map[string]any{}
	for _, m := range s.machines {
		if m.IP == addr.String() {
			value = append(value, m.json())
		}
	}
	s.mu.Unlock()
	mssim.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://api.security.microsoft.com/api/$metadata#Machines", "value": value})
}

// SetIP changes a machine's last IP address, for tests of the IP lookup.
func (s *Server) SetIP(hostname, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.lookup(hostname + "." + DemoDomain); m != nil {
		m.IP = ip
	}
}

// AddMachine adds a machine with the given DNS name and IP, for tests of
// ambiguous names. It returns the machine id.
func (s *Server) AddMachine(dnsName, ip string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	m := &machine{ID: MachineID(dnsName), DNSName: dnsName, IP: ip, HealthStatus: "Active", FirstSeen: now, LastSeen: now}
	s.machines = append(s.machines, m)
	return m.ID
}
