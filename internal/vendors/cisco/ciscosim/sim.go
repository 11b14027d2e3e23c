// Package ciscosim simulates, over real HTTP, the Cisco Secure Endpoint API
// v1 resources the cisco client uses. It checks Basic authentication and
// enforces the hourly rate limit with X-RateLimit-* headers. It serves
// /v1/computers with filters and paging, and the /isolation sub-resource
// with its pending_start and pending_stop phases, in the vendor's envelopes.
//
// It is test and demo infrastructure. It decodes requests with its own
// types, not the client's.
package ciscosim

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultPendingDelay = 2 * time.Second
	DefaultRateLimit    = 3000
	DefaultRateWindow   = time.Hour
)

// Config sets the accepted credentials, the rate limit and the timing.
type Config struct {
	ClientID string
	APIKey   string

	RateLimit    int           // requests per RateWindow per client ID; zero means DefaultRateLimit
	RateWindow   time.Duration // zero means DefaultRateWindow
	PendingDelay time.Duration // zero means DefaultPendingDelay
	Now          func() time.Time
}

// Computer is one simulated computer.
type Computer struct {
	GUID        string
	Hostname    string
	InternalIPs []string
	Active      bool

	// IsolationUnavailable is true when the computer's policy does not allow
	// isolation: GET shows available false and PUT returns 405.
	IsolationUnavailable bool
}

type computerState struct {
	Computer
	status       string
	unlockCode   string
	comment      string
	pendingUntil time.Time
}

// Fault is a canned response to the next request of one route.
type Fault struct {
	Status      int
	Body        string
	ContentType string // empty means application/json
}

// Server is the simulator. It implements http.Handler.
type Server struct {
	cfg Config

	mu          sync.Mutex
	computers   map[string]*computerState // guarded by mu; key: connector GUID
	order       []string                  // guarded by mu
	windowStart time.Time                 // guarded by mu; start of the current rate window
	used        int                       // guarded by mu; requests in the current window
	faults      map[string][]Fault        // guarded by mu; key: route such as "PUT isolation"
	calls       map[string]int            // guarded by mu; authenticated requests per route
}

// New returns a simulator with no computers.
func New(cfg Config) *Server {
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.PendingDelay <= 0 {
		cfg.PendingDelay = DefaultPendingDelay
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, computers: map[string]*computerState{}, faults: map[string][]Fault{}, calls: map[string]int{}}
}

// AddComputer adds or replaces a computer, not isolated.
func (s *Server) AddComputer(c Computer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.computers[c.GUID]; !ok {
		s.order = append(s.order, c.GUID)
	}
	s.computers[c.GUID] = &computerState{Computer: c, status: "not_isolated"}
}

// IsolationStatus returns a computer's isolation status and unlock code.
func (s *Server) IsolationStatus(guid string) (status, unlockCode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	if c, ok := s.computers[guid]; ok {
		return c.status, c.unlockCode
	}
	return "", ""
}

// FailNext makes the next authenticated request of route fail with f. Routes
// are "GET computers", "GET computer", "GET isolation", "PUT isolation" and
// "DELETE isolation".
func (s *Server) FailNext(route string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], f)
}

// Calls returns how many authenticated requests reached route.
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// ServeHTTP authenticates, applies the rate limit and routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clientID, apiKey, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(clientID), []byte(s.cfg.ClientID)) != 1 || subtle.ConstantTimeCompare([]byte(apiKey), []byte(s.cfg.APIKey)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"version": nil, "data": map[string]any{}, "errors": []apiError{{401, "Unauthorized", []string{"Unknown API key or Client ID"}}}})
		return
	}

	if !s.spend(w) {
		writeError(w, r, http.StatusTooManyRequests, "Too Many Requests", "API rate limit exceeded for this client ID")
		return
	}

	route, guid := s.route(r)
	if route == "" {
		writeError(w, r, http.StatusNotFound, "Not Found", "Unknown resource "+r.URL.Path)
		return
	}

	s.mu.Lock()
	s.calls[route]++
	var fault *Fault
	if queue := s.faults[route]; len(queue) > 0 {
		fault = &queue[0]
		s.faults[route] = queue[1:]
	}
	s.mu.Unlock()
	if fault != nil {
		ct := fault.ContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(fault.Status)
		_, _ = io.WriteString(w, fault.Body)
		return
	}

	switch route {
	case "GET computers":
		s.listComputers(w, r)
	case "GET computer":
		s.getComputer(w, r, guid)
	default:
		s.isolation(w, r, guid)
	}
}

// route names the resource of r; guid is the connector GUID in the path.
func (s *Server) route(r *http.Request) (route, guid string) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/computers")
	if !ok {
		return "", ""
	}
	rest = strings.Trim(rest, "/")
	parts := strings.Split(rest, "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		return "GET computers", ""
	case len(parts) == 1 && r.Method == http.MethodGet:
		return "GET computer", parts[0]
	case len(parts) == 2 && parts[1] == "isolation":
		switch r.Method {
		case http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodOptions:
			return r.Method + " isolation", parts[0]
		}
	}
	return "", ""
}

// spend counts one request against the hourly budget and sets the
// X-RateLimit-* headers. It reports false when the budget is spent.
func (s *Server) spend(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.cfg.Now()
	if s.windowStart.IsZero() || !now.Before(s.windowStart.Add(s.cfg.RateWindow)) {
		s.windowStart, s.used = now, 0
	}
	allowed := s.used < s.cfg.RateLimit
	if allowed {
		s.used++
	}

	reset := s.windowStart.Add(s.cfg.RateWindow)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.cfg.RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.cfg.RateLimit-s.used))
	h.Set("X-RateLimit-Reset", strconv.Itoa(int(reset.Sub(now).Round(time.Second)/time.Second)))
	h.Set("X-RateLimit-ResetDate", reset.UTC().Format(time.RFC3339))
	return allowed
}

// advance completes pending phases whose delay has passed. Callers hold mu.
func (s *Server) advance() {
	now := s.cfg.Now()
	for _, c := range s.computers {
		if c.pendingUntil.IsZero() || now.Before(c.pendingUntil) {
			continue
		}
		switch c.status {
		case "pending_start":
			c.status = "isolated"
		case "pending_stop":
			c.status = "not_isolated"
			c.unlockCode, c.comment = "", ""
		}
		c.pendingUntil = time.Time{}
	}
}

type apiError struct {
	ErrorCode   int      `json:"error_code"`
	Description string   `json:"description"`
	Details     []string `json:"details"`
}

func selfLink(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the v1 error envelope.
func writeError(w http.ResponseWriter, r *http.Request, status int, description, detail string) {
	writeJSON(w, status, map[string]any{
		"version":  "v1.2.0",
		"metadata": map[string]any{"links": map[string]string{"self": selfLink(r)}},
		"data":     map[string]any{},
		"errors":   []apiError{{status, description, []string{detail}}},
	})
}

// ConnectorGUID derives the simulated connector GUID of a host name: a
// name-based UUID (version 5, SHA-1) in lowercase, so every run of the demo
// names the same host with the same GUID.
func ConnectorGUID(hostname string) string {
	sum := sha1.Sum([]byte("cisco-secure-endpoint:" + strings.ToLower(hostname)))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
