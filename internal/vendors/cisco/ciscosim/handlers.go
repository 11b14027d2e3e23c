package ciscosim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxItemsPerPage is the largest and default page of /v1/computers.
const maxItemsPerPage = 500

// listParams are the query parameters /v1/computers accepts. The API
// rejects any other with 400.
var listParams = map[string]bool{"hostname[]": true, "internal_ip": true, "external_ip": true, "group_guid[]": true, "limit": true, "offset": true}

func (s *Server) listComputers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for name := range q {
		if !listParams[name] {
			writeError(w, r, http.StatusBadRequest, "Bad Request", "Unexpected parameter: "+name)
			return
		}
	}
	limit, offset := maxItemsPerPage, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxItemsPerPage {
			writeError(w, r, http.StatusBadRequest, "Bad Request", "limit must be 1 to 500")
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, http.StatusBadRequest, "Bad Request", "offset must be a non-negative integer")
			return
		}
		offset = n
	}
	hostnames := q["hostname[]"]
	internalIP := q.Get("internal_ip")

	s.mu.Lock()
	s.advance()
	var matches []map[string]any
	for _, guid := range s.order {
		c := s.computers[guid]
		if len(hostnames) > 0 && !hostnameMatches(c.Hostname, hostnames) {
			continue
		}
		if internalIP != "" && !contains(c.InternalIPs, internalIP) {
			continue
		}
		matches = append(matches, computerJSON(r, c))
	}
	s.mu.Unlock()

	total := len(matches)
	page := []map[string]any{}
	if offset < total {
		end := offset + limit
		if end > total {
			end = total
		}
		page = matches[offset:end]
	}
	links := map[string]string{"self": selfLink(r)}
	if offset+limit < total {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("limit", strconv.Itoa(limit))
		next.Set("offset", strconv.Itoa(offset+limit))
		u := *r.URL
		u.RawQuery = next.Encode()
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		links["next"] = scheme + "://" + r.Host + u.RequestURI()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"version": "v1.2.0",
		"metadata": map[string]any{
			"links":   links,
			"results": map[string]int{"total": total, "current_item_count": len(page), "index": offset, "items_per_page": limit},
		},
		"data": page,
	})
}

// hostnameMatches matches case-insensitively on a prefix of the host name.
// NOTE: Cisco documents hostname[] without saying whether it matches
// partially. A prefix match is assumed, so clients must check the host
// names they get back.
func hostnameMatches(hostname string, wanted []string) bool {
	for _, w := range wanted {
		if strings.HasPrefix(strings.ToLower(hostname), strings.ToLower(w)) {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if strings.TrimSpace(s) == v {
			return true
		}
	}
	return false
}

func computerJSON(r *http.Request, c *computerState) map[string]any {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	self := scheme + "://" + r.Host + "/v1/computers/" + c.GUID
	addrs := []map[string]string{}
	for i, ip := range c.InternalIPs {
		addrs = append(addrs, map[string]string{"mac": "02:00:00:00:00:" + strconv.FormatInt(int64(i+16), 16), "ip": ip})
	}
	return map[string]any{
		"connector_guid":    c.GUID,
		"hostname":          c.Hostname,
		"active":            c.Active,
		"links":             map[string]string{"computer": self, "trajectory": self + "/trajectory"},
		"connector_version": "8.4.2.30285",
		"operating_system":  "Windows 11 Enterprise",
		"internal_ips":      c.InternalIPs,
		"network_addresses": addrs,
		"faults":            []any{},
		"isolation":         map[string]any{"available": !c.IsolationUnavailable, "status": c.status},
		"orbital":           map[string]string{"status": "not_enabled"},
	}
}

func (s *Server) getComputer(w http.ResponseWriter, r *http.Request, guid string) {
	s.mu.Lock()
	s.advance()
	c, ok := s.computers[guid]
	var body map[string]any
	if ok {
		body = computerJSON(r, c)
	}
	s.mu.Unlock()
	if !ok {
		// NOTE: the detail text of this 404 is not documented.
		writeError(w, r, http.StatusNotFound, "Not Found", "Computer not found for connector_guid: "+guid)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": "v1.2.0", "metadata": map[string]any{"links": map[string]string{"self": selfLink(r)}}, "data": body})
}

// isolation serves GET, OPTIONS, PUT and DELETE on the isolation
// sub-resource (Cisco Secure Endpoint API v1: PUT returns 409 when the
// computer is isolated already; isolation must be allowed by the policy).
func (s *Server) isolation(w http.ResponseWriter, r *http.Request, guid string) {
	var req struct {
		Comment    *string `json:"comment"`
		UnlockCode *string `json:"unlock_code"`
	}
	if r.Method == http.MethodPut || r.Method == http.MethodDelete {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16+1))
		if err != nil || len(body) > 1<<16 {
			writeError(w, r, http.StatusBadRequest, "Bad Request", "request body is too large")
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeError(w, r, http.StatusBadRequest, "Bad Request", "invalid JSON body: "+err.Error())
				return
			}
		}
		if r.Method == http.MethodDelete && req.UnlockCode != nil {
			writeError(w, r, http.StatusBadRequest, "Bad Request", "Unexpected parameter: unlock_code")
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	c, ok := s.computers[guid]
	if !ok {
		writeError(w, r, http.StatusNotFound, "Not Found", "Computer not found for connector_guid: "+guid)
		return
	}

	switch r.Method {
	case http.MethodOptions:
		if c.IsolationUnavailable {
			writeError(w, r, http.StatusMethodNotAllowed, "Method Not Allowed", "Isolation is not allowed by the computer's policy")
			return
		}
		w.Header().Set("Allow", "GET, PUT, DELETE, OPTIONS")
		w.WriteHeader(http.StatusOK)
		return

	case http.MethodPut:
		if c.IsolationUnavailable {
			writeError(w, r, http.StatusMethodNotAllowed, "Method Not Allowed", "Isolation is not allowed by the computer's policy")
			return
		}
		if c.status != "not_isolated" {
			// NOTE: the detail text of this 409 is not documented.
			writeError(w, r, http.StatusConflict, "Conflict", "Computer isolation is already "+c.status)
			return
		}
		c.status = "pending_start"
		c.pendingUntil = s.cfg.Now().Add(s.cfg.PendingDelay)
		c.unlockCode, c.comment = "", ""
		if req.UnlockCode != nil {
			c.unlockCode = *req.UnlockCode
		}
		if req.Comment != nil {
			c.comment = *req.Comment
		}

	case http.MethodDelete:
		if c.status != "isolated" {
			// NOTE: Cisco does not document DELETE on a computer that is not
			// isolated; a 409 like PUT's is assumed.
			writeError(w, r, http.StatusConflict, "Conflict", "Computer isolation is "+c.status)
			return
		}
		c.status = "pending_stop"
		c.pendingUntil = s.cfg.Now().Add(s.cfg.PendingDelay)
		if req.Comment != nil {
			c.comment = *req.Comment
		}
	}

	data := map[string]any{"available": !c.IsolationUnavailable, "status": c.status}
	if c.status != "not_isolated" {
		data["unlock_code"] = c.unlockCode
		data["comment"] = c.comment
		data["isolated_by"] = "SmartPT API client"
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": "v1.2.0", "metadata": map[string]any{"links": map[string]string{"self": selfLink(r)}}, "data": data})
}
