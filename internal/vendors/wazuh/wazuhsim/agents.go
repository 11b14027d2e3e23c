package wazuhsim

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
)

// agent is one agent in the real item shape of GET /agents.
type agent struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	IP                string   `json:"ip"`
	RegisterIP        string   `json:"registerIP"`
	Status            string   `json:"status"`
	StatusCode        int      `json:"status_code"`
	OS                agentOS  `json:"os"`
	Version           string   `json:"version"`
	LastKeepAlive     string   `json:"lastKeepAlive"`
	DateAdd           string   `json:"dateAdd"`
	Group             []string `json:"group"`
	Manager           string   `json:"manager"`
	NodeName          string   `json:"node_name"`
	GroupConfigStatus string   `json:"group_config_status"`
	ConfigSum         string   `json:"configSum"`
	MergedSum         string   `json:"mergedSum"`

	arDisabled bool // active response disabled in the agent's ossec.conf
}

type agentOS struct {
	Arch     string `json:"arch"`
	Codename string `json:"codename,omitempty"`
	Major    string `json:"major"`
	Minor    string `json:"minor,omitempty"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
	Uname    string `json:"uname"`
	Version  string `json:"version"`
}

// demoAgent returns demo host h as agent h.Index, active. Every fourth host
// runs Windows Server, the others Ubuntu.
func demoAgent(h simharness.Host) *agent {
	os := agentOS{Arch: "x86_64", Codename: "Jammy Jellyfish", Major: "22", Minor: "04", Name: "Ubuntu", Platform: "ubuntu",
		Uname: "Linux |" + h.Hostname + " |5.15.0-91-generic |#101-Ubuntu SMP |x86_64", Version: "22.04.3 LTS"}
	if h.Index > 0 && h.Index%4 == 0 {
		os = agentOS{Arch: "x86_64", Major: "10", Minor: "0", Name: "Microsoft Windows Server 2022 Standard", Platform: "windows",
			Uname: "Microsoft Windows Server 2022 Standard", Version: "10.0.20348.2113"}
	}
	return &agent{
		ID: fmt.Sprintf("%03d", h.Index), Name: h.Hostname, IP: h.IPv4, RegisterIP: "any",
		Status: "active", OS: os, Version: "Wazuh v4.14.7",
		LastKeepAlive: time.Now().UTC().Format(time.RFC3339), DateAdd: "2026-01-05T09:00:00Z",
		Group: []string{"default"}, Manager: "wazuh-manager", NodeName: "node01",
		GroupConfigStatus: "synced", ConfigSum: "ab73af41699f13fdd81903b5f23d8d00", MergedSum: "9a016508cea1e997ab8569f5cfab30f5",
	}
}

// SetAgentStatus sets an agent's connection status: active, pending,
// never_connected or disconnected.
func (s *Sim) SetAgentStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.agents {
		if a.ID == id {
			a.Status = status
			a.StatusCode = map[string]int{"active": 0, "pending": 3, "never_connected": 2, "disconnected": 1}[status]
		}
	}
}

// SetActiveResponseDisabled marks an agent whose ossec.conf disables active
// response, which PUT /active-response reports as error 1750.
func (s *Sim) SetActiveResponseDisabled(id string, disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.agents {
		if a.ID == id {
			a.arDisabled = disabled
		}
	}
}

var (
	agentIDPattern  = regexp.MustCompile(`^[0-9]{3,}$`)
	agentParameters = map[string]bool{
		"agents_list": true, "name": true, "ip": true, "status": true, "select": true, "limit": true, "offset": true,
		"pretty": true, "wait_for_complete": true, "sort": true, "search": true, "q": true,
	}
	selectFields = map[string]bool{
		"id": true, "name": true, "ip": true, "registerIP": true, "status": true, "status_code": true, "os": true,
		"version": true, "lastKeepAlive": true, "dateAdd": true, "group": true, "manager": true, "node_name": true,
		"group_config_status": true, "configSum": true, "mergedSum": true,
	}
	agentStatuses = map[string]bool{"active": true, "pending": true, "never_connected": true, "disconnected": true}
)

// handleAgents implements GET /agents with agents_list, name, ip, status,
// select, limit and offset. Unknown ids in agents_list come back as
// failed_items with code 1701, as the spec's examples show.
func (s *Sim) handleAgents(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	var extra []string
	for key := range q {
		if !agentParameters[key] {
			extra = append(extra, key)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		badRequest(w, "Extra query parameter(s) "+strings.Join(extra, ", ")+" not in spec", 0)
		return
	}

	ids, ok := splitList(q.Get("agents_list"))
	for _, id := range ids {
		if !agentIDPattern.MatchString(id) {
			badRequest(w, fmt.Sprintf("'%s' is not a 'numbers'", id), 0)
			return
		}
	}
	statuses, _ := splitList(q.Get("status"))
	for _, st := range statuses {
		if !agentStatuses[st] {
			badRequest(w, fmt.Sprintf("'%s' is not one of ['active', 'pending', 'never_connected', 'disconnected']", st), 0)
			return
		}
	}
	fields, _ := splitList(q.Get("select"))
	for _, f := range fields {
		if !selectFields[strings.SplitN(f, ".", 2)[0]] {
			badRequest(w, "Select field not valid: "+f, 1724)
			return
		}
	}
	limit, offset := 500, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			badRequest(w, fmt.Sprintf("'%s' is not a valid limit: use 1 to 100000", v), 0)
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			badRequest(w, fmt.Sprintf("'%s' is not a valid offset", v), 0)
			return
		}
		offset = n
	}

	s.mu.Lock()
	var matched []*agent
	found := map[string]bool{}
	for _, a := range s.listedAgents(ids, ok) {
		found[a.ID] = true
		if name := q.Get("name"); name != "" && a.Name != name {
			continue
		}
		if ip := q.Get("ip"); ip != "" && a.IP != ip {
			continue
		}
		if len(statuses) > 0 && !slices.Contains(statuses, a.Status) {
			continue
		}
		matched = append(matched, a)
	}
	total := len(matched)
	if offset > len(matched) {
		offset = len(matched)
	}
	matched = matched[offset:]
	if len(matched) > limit {
		matched = matched[:limit]
	}
	items := make([]map[string]any, 0, len(matched))
	for _, a := range matched {
		items = append(items, selectAgent(a, fields))
	}
	s.mu.Unlock()

	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	failed := []any{}
	if len(missing) > 0 {
		failed = append(failed, failedItem(1701, missing))
	}

	code, message := 0, "All selected agents information was returned"
	switch {
	case len(missing) > 0 && total == 0:
		code, message = 1, "No agent information was returned"
	case len(missing) > 0:
		code, message = 2, "Some agents information was not returned"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"data": map[string]any{
			"affected_items": items, "total_affected_items": total,
			"failed_items": failed, "total_failed_items": len(missing),
		},
		"message": message,
		"error":   code,
	})
}

// listedAgents returns the agents named in ids, in the order of s.agents,
// or every agent when listed is false. An agent named twice is returned
// once, and an unknown id is left out. The caller holds mu.
func (s *Sim) listedAgents(ids []string, listed bool) []*agent {
	if !listed {
		return s.agents
	}
	positions := make([]int, 0, len(ids))
	for _, id := range ids {
		if i, ok := s.agentIndex[id]; ok {
			positions = append(positions, i)
		}
	}
	slices.Sort(positions)
	positions = slices.Compact(positions)
	agents := make([]*agent, len(positions))
	for n, i := range positions {
		agents[n] = s.agents[i]
	}
	return agents
}

// selectAgent returns a as a JSON object with only fields (all when empty);
// "id" is always included, as the real API does.
func selectAgent(a *agent, fields []string) map[string]any {
	full := map[string]any{
		"id": a.ID, "name": a.Name, "ip": a.IP, "registerIP": a.RegisterIP, "status": a.Status,
		"status_code": a.StatusCode, "os": a.OS, "version": a.Version, "lastKeepAlive": a.LastKeepAlive,
		"dateAdd": a.DateAdd, "group": a.Group, "manager": a.Manager, "node_name": a.NodeName,
		"group_config_status": a.GroupConfigStatus, "configSum": a.ConfigSum, "mergedSum": a.MergedSum,
	}
	if len(fields) == 0 {
		return full
	}
	out := map[string]any{"id": a.ID}
	for _, f := range fields {
		top, sub, nested := strings.Cut(f, ".")
		if !nested {
			out[top] = full[top]
			continue
		}
		if top == "os" {
			osFields, _ := out["os"].(map[string]any)
			if osFields == nil {
				osFields = map[string]any{}
				out["os"] = osFields
			}
			osFields[sub] = osField(a.OS, sub)
		}
	}
	return out
}

func osField(o agentOS, name string) string {
	return map[string]string{
		"arch": o.Arch, "codename": o.Codename, "major": o.Major, "minor": o.Minor, "name": o.Name,
		"platform": o.Platform, "uname": o.Uname, "version": o.Version,
	}[name]
}

// splitList splits a comma-separated query value; ok is false when the
// value is empty.
func splitList(v string) ([]string, bool) {
	if v == "" {
		return nil, false
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, true
}

// failedItem builds one entry of failed_items, with the messages of
// wazuh/wazuh v4.14.7 framework/wazuh/core/exception.py.
func failedItem(code int, ids []string) map[string]any {
	e := errorTexts[code]
	return map[string]any{
		"error": map[string]any{"code": code, "message": e.message, "remediation": e.remediation},
		"id":    ids,
	}
}

var errorTexts = map[int]struct{ message, remediation string }{
	1701: {"Agent does not exist", "Please, use `GET /agents?select=id,name` to find all available agents"},
	1703: {"Action not available for Manager (agent 000)", "Please, use `GET /agents?select=id,name` to find all available agents"},
	1707: {"Cannot send request, agent is not active", "Please, check non-active agents connection and try again. Visit https://documentation.wazuh.com/4.14/user-manual/registering/index.html and https://documentation.wazuh.com/4.14/user-manual/agents/agent-connection.html"},
	1750: {"Could not send restart command, active-response is disabled in the agent", "You can activate it in agents' `WAZUH_HOME/etc/ossec.conf`"},
}
