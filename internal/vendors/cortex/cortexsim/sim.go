// Package cortexsim simulates the Cortex XDR public API endpoints the
// cortex client uses, over real HTTP: standard and advanced API key checks,
// request validation, endpoints with pending isolation phases, group actions
// and the vendor's {"reply":{"err_code",...}} error envelope.
//
// It is test and demo infrastructure. Facts it follows come from the Cortex
// XDR API reference ("Get Started with Cortex XDR APIs", "Isolate Endpoints",
// "Unisolate Endpoints", "Get Endpoint", "Get Action Status"). Cortex XDR
// documents no rate limit, so the simulator enforces none.
package cortexsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/vendors/cortex"
)

// DefaultPendingDelay is how long an isolate or unisolate stays pending when
// Config.PendingDelay is zero.
const DefaultPendingDelay = 2 * time.Second

// DefaultTimestampWindow bounds how far an advanced key's x-xdr-timestamp may
// be from the simulator's clock.
// NOTE: Cortex XDR does not document its tolerance; five minutes is assumed.
const DefaultTimestampWindow = 5 * time.Minute

// maxBodyBytes bounds a request body.
const maxBodyBytes = 1 << 20

// Config sets the accepted credentials and the timing of a simulator.
type Config struct {
	KeyID    string
	APIKey   string
	Advanced bool // accept only advanced-key requests; otherwise only standard

	PendingDelay    time.Duration
	TimestampWindow time.Duration
	Now             func() time.Time // the simulator's clock; nil means time.Now
}

// Endpoint is one simulated endpoint.
type Endpoint struct {
	ID         string
	Hostname   string
	IPs        []string
	Status     string // cortex.StatusConnected, ...
	IsIsolated string // cortex.AgentIsolated, ...
}

type endpointState struct {
	Endpoint
	pendingUntil time.Time // when the pending phase completes
	actionID     int64     // the group action of the pending phase
}

// groupAction is one isolate or unisolate request: a status per endpoint.
type groupAction struct {
	statuses map[string]string
}

// Fault is a canned response to the next request to one API path.
type Fault struct {
	Status int
	Body   string
}

// Server is the simulator. It implements http.Handler.
type Server struct {
	cfg Config

	mu         sync.Mutex
	endpoints  map[string]*endpointState // guarded by mu; key: endpoint ID
	order      []string                  // guarded by mu; insertion order of endpoints
	actions    map[int64]*groupAction    // guarded by mu
	nextAction int64                     // guarded by mu
	faults     map[string][]Fault        // guarded by mu; key: path such as "endpoints/isolate"
	calls      map[string]int            // guarded by mu; successful and failed calls per path
	denied     map[string]int            // guarded by mu; HTTP status (402 or 403) per path
}

// New returns a simulator with no endpoints.
func New(cfg Config) *Server {
	if cfg.PendingDelay <= 0 {
		cfg.PendingDelay = DefaultPendingDelay
	}
	if cfg.TimestampWindow <= 0 {
		cfg.TimestampWindow = DefaultTimestampWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{
		cfg:        cfg,
		endpoints:  map[string]*endpointState{},
		actions:    map[int64]*groupAction{},
		nextAction: 1000,
		faults:     map[string][]Fault{},
		calls:      map[string]int{},
		denied:     map[string]int{},
	}
}

// AddEndpoint adds or replaces an endpoint. Empty Status and IsIsolated
// default to CONNECTED and AGENT_UNISOLATED.
func (s *Server) AddEndpoint(ep Endpoint) {
	if ep.Status == "" {
		ep.Status = cortex.StatusConnected
	}
	if ep.IsIsolated == "" {
		ep.IsIsolated = cortex.AgentUnisolated
	}
	ep.ID = strings.ToLower(ep.ID)

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[ep.ID]; !ok {
		s.order = append(s.order, ep.ID)
	}
	s.endpoints[ep.ID] = &endpointState{Endpoint: ep}
}

// SetStatus changes an endpoint's endpoint_status, for example to simulate
// an agent that disconnects or reconnects.
func (s *Server) SetStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.endpoints[strings.ToLower(id)]; ok {
		e.Status = status
	}
}

// Endpoint returns the current state of an endpoint.
func (s *Server) Endpoint(id string) (Endpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	e, ok := s.endpoints[strings.ToLower(id)]
	if !ok {
		return Endpoint{}, false
	}
	return e.Endpoint, true
}

// FailNext makes the next request to path (for example
// "endpoints/isolate") fail with f instead of being processed.
func (s *Server) FailNext(path string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], f)
}

// Deny makes every request to path fail with status 402 (the licence lacks
// the API) or 403 (the key's role lacks the permission). Zero removes it.
func (s *Server) Deny(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[path] = status
}

// Calls returns how many requests reached path after authentication.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// ServeHTTP routes POST /public_api/v1/<api>/<call>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/public_api/v1/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/public_api/v1/") {
		writeError(w, http.StatusNotFound, 404, "Not Found", nil)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, 405, "Method Not Allowed: public API calls use POST", nil)
		return
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, 401, "Public API request unauthorized", nil)
		return
	}

	s.mu.Lock()
	s.calls[path]++
	denied := s.denied[path]
	var fault *Fault
	if queue := s.faults[path]; len(queue) > 0 {
		fault = &queue[0]
		s.faults[path] = queue[1:]
	}
	s.mu.Unlock()

	switch {
	case fault != nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault.Status)
		_, _ = io.WriteString(w, fault.Body)
		return
	case denied == http.StatusPaymentRequired:
		writeError(w, http.StatusPaymentRequired, 402, "User is not licensed for this API", nil)
		return
	case denied == http.StatusForbidden:
		writeError(w, http.StatusForbidden, 403, "The API key does not have the required permissions", nil)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		writeError(w, http.StatusBadRequest, 400, "Request body is too large or unreadable", nil)
		return
	}
	var env struct {
		RequestData json.RawMessage `json:"request_data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		writeError(w, http.StatusBadRequest, 400, "Invalid JSON in request body", err.Error())
		return
	}
	if len(env.RequestData) == 0 || string(env.RequestData) == "null" {
		writeError(w, http.StatusBadRequest, 400, "request_data is required", nil)
		return
	}

	switch path {
	case "endpoints/get_endpoint":
		s.getEndpoint(w, env.RequestData)
	case "endpoints/isolate":
		s.act(w, env.RequestData, true)
	case "endpoints/unisolate":
		s.act(w, env.RequestData, false)
	case "actions/get_action_status":
		s.actionStatus(w, env.RequestData)
	default:
		writeError(w, http.StatusNotFound, 404, "Unknown API "+strconv.Quote(path), nil)
	}
}

// authorized checks the x-xdr-auth-id and Authorization headers; for an
// advanced key also the nonce length, the timestamp window and the hash.
func (s *Server) authorized(r *http.Request) bool {
	if r.Header.Get("x-xdr-auth-id") != s.cfg.KeyID {
		return false
	}
	got := r.Header.Get("Authorization")
	if !s.cfg.Advanced {
		return subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) == 1
	}

	nonce := r.Header.Get("x-xdr-nonce")
	if len(nonce) != cortex.NonceLength || !alphanumeric(nonce) {
		return false
	}
	timestamp := r.Header.Get("x-xdr-timestamp")
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	skew := s.cfg.Now().Sub(time.UnixMilli(ms))
	if skew > s.cfg.TimestampWindow || skew < -s.cfg.TimestampWindow {
		return false
	}
	sum := sha256.Sum256([]byte(s.cfg.APIKey + nonce + timestamp))
	want := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}

func alphanumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// advance completes pending phases whose delay has passed, for connected
// agents only: a disconnected agent keeps its action pending. Callers hold mu.
func (s *Server) advance() {
	now := s.cfg.Now()
	for _, e := range s.endpoints {
		if e.pendingUntil.IsZero() || now.Before(e.pendingUntil) || e.Status != cortex.StatusConnected {
			continue
		}
		switch e.IsIsolated {
		case cortex.AgentPendingIsolation:
			e.IsIsolated = cortex.AgentIsolated
		case cortex.AgentPendingIsolationCancellation:
			e.IsIsolated = cortex.AgentUnisolated
		}
		if a, ok := s.actions[e.actionID]; ok {
			a.statuses[e.ID] = cortex.ActionCompletedSuccessfully
		}
		e.pendingUntil = time.Time{}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the Cortex XDR error envelope.
func writeError(w http.ResponseWriter, status, code int, msg string, extra any) {
	writeJSON(w, status, map[string]any{"reply": map[string]any{"err_code": code, "err_msg": msg, "err_extra": extra}})
}

// EndpointID derives the simulated endpoint ID of a host name: the first 16
// bytes of SHA-256("cortex:" + hostname) in lowercase hex, so every run of
// the demo names the same host with the same ID.
func EndpointID(hostname string) string {
	sum := sha256.Sum256([]byte("cortex:" + strings.ToLower(hostname)))
	return hex.EncodeToString(sum[:16])
}
