// Package wazuhsim simulates the Wazuh server API 4.x (wazuh/wazuh v4.14.7,
// api/api/spec/spec.yaml) on loopback, so that the real Wazuh client can be
// tested: JWT login with HTTP Basic, token expiry and revocation, the login
// attempt limit, the per-minute request limit, GET /agents with its filters,
// PUT /active-response with its always-200 body, and a stand-in for the
// agent's wazuh-execd that runs a configured program with the real Active
// Response stdin protocol. EmulateAgents adds, for the demo, agents that run
// smartpt-isolation in-process and a manager that forwards their results to
// the gateway.
package wazuhsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
)

// Defaults of the Wazuh API configuration (wazuh/wazuh v4.14.7
// api/api/configuration.py): auth_token_exp_timeout, max_request_per_minute,
// max_login_attempts and block_time.
const (
	DefaultTokenLifetime     = 900 * time.Second
	DefaultRequestsPerMinute = 300
	DefaultMaxLoginAttempts  = 50
	DefaultBlockTime         = 300 * time.Second
)

// Options configures a simulator. Zero values mean the Wazuh defaults.
type Options struct {
	Logger *slog.Logger

	// Users maps API user names to passwords. Empty means one user,
	// "wazuh-wui", with a random password read from Sim.Password.
	Users map[string]string

	// ReadOnlyUsers may read but not run active responses. The API responds
	// to them with 403 and error 4000, as for a role without
	// active-response:command.
	ReadOnlyUsers map[string]bool

	TokenLifetime     time.Duration
	RequestsPerMinute int // over it: 429 with code 6001
	MaxLoginAttempts  int // per client IP within BlockTime; over it: 403 with error 6000
	BlockTime         time.Duration

	// Hosts is the agent inventory; empty means simharness.DemoHosts as
	// agents 001 to 020, all active.
	Hosts []simharness.Host

	// NodeName is the manager node name written in execd messages.
	NodeName string

	// Programs maps a custom command name (without "!") to the argv of the
	// program the execd stand-in runs for it. "{agent_id}" in an argument is
	// replaced by the targeted agent's id.
	Programs map[string][]string

	// PendingDelay is how long an emulated agent takes to run a command
	// (see EmulateAgents). Zero means no delay.
	PendingDelay time.Duration

	// CommandTimeout is the timeout execd applies to a custom command. Wazuh
	// runs "!" commands with timeout 0 (src/os_execd/exec.c), so the default
	// 0 never schedules a delete; tests set it to exercise abort and delete.
	CommandTimeout time.Duration
}

// Sim is a running simulated Wazuh manager API. It is an http.Handler.
type Sim struct {
	opts   Options
	logger *slog.Logger
	key    []byte // HS256 signing key of issued tokens
	mux    *http.ServeMux

	// Password is the generated password of "wazuh-wui" when Options.Users
	// is empty.
	Password string

	mu            sync.Mutex
	tokens        map[string]time.Time   // guarded by mu: token id → expiry
	window        time.Time              // guarded by mu: start of the current rate window
	windowCount   int                    // guarded by mu: requests in the window
	logins        map[string][]time.Time // guarded by mu: login attempts per client IP
	agents        []*agent               // guarded by mu; fixed after New, in id order
	agentIndex    map[string]int         // position of each agent in agents, by id
	timeoutList   map[string]time.Time   // guarded by mu: execd key → expiry
	executions    []*Execution           // guarded by mu
	arRequests    int                    // guarded by mu
	lastAR        ActiveResponseRequest  // guarded by mu
	loginCount    int                    // guarded by mu: successful logins
	emulation     *emulation             // guarded by mu: nil until EmulateAgents
	execWaiters   sync.WaitGroup
	executionCond *sync.Cond
}

// New returns a simulator with opts.
func New(opts Options) *Sim {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.RequestsPerMinute <= 0 {
		opts.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if opts.MaxLoginAttempts <= 0 {
		opts.MaxLoginAttempts = DefaultMaxLoginAttempts
	}
	if opts.BlockTime <= 0 {
		opts.BlockTime = DefaultBlockTime
	}
	if opts.NodeName == "" {
		opts.NodeName = "node01"
	}
	if len(opts.Hosts) == 0 {
		opts.Hosts = simharness.DemoHosts()
	}

	s := &Sim{
		opts:        opts,
		logger:      opts.Logger,
		key:         randomBytes(32),
		tokens:      map[string]time.Time{},
		logins:      map[string][]time.Time{},
		timeoutList: map[string]time.Time{},
	}
	s.executionCond = sync.NewCond(&s.mu)
	if len(opts.Users) == 0 {
		s.Password = base64.RawURLEncoding.EncodeToString(randomBytes(18))
		s.opts.Users = map[string]string{"wazuh-wui": s.Password}
	}
	// Agent 000 is the manager itself, listed by GET /agents like any agent.
	manager := demoAgent(simharness.Host{Index: 0, Hostname: "wazuh-manager", IPv4: "127.0.0.1"})
	s.agents = append(s.agents, manager)
	for _, h := range opts.Hosts {
		s.agents = append(s.agents, demoAgent(h))
	}
	s.agentIndex = make(map[string]int, len(s.agents))
	for i, a := range s.agents {
		s.agentIndex[a.ID] = i
	}

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /security/user/authenticate", s.handleLogin)
	s.mux.HandleFunc("PUT /security/config", s.authed(s.handleSecurityConfig))
	s.mux.HandleFunc("GET /{$}", s.authed(s.handleRoot))
	s.mux.HandleFunc("GET /agents", s.authed(s.handleAgents))
	s.mux.HandleFunc("PUT /active-response", s.authed(s.handleActiveResponse))
	return s
}

// ServeHTTP counts the request against the per-minute limit and routes it.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/security/user/authenticate" && !s.allowRequest() {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{
			"title":       "Wazuh Error",
			"detail":      "Maximum number of requests per minute reached",
			"remediation": "This limit can be changed in api.yaml file. More information here: https://documentation.wazuh.com/4.14/user-manual/api/security/configuration.html",
			"code":        6001,
		})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// allowRequest counts one request in the current one-minute window.
func (s *Sim) allowRequest() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.window) >= time.Minute {
		s.window, s.windowCount = now, 0
	}
	s.windowCount++
	return s.windowCount <= s.opts.RequestsPerMinute
}

// RevokeTokens invalidates every issued token, as any change of the
// security configuration does on a real manager.
func (s *Sim) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]time.Time{}
}

// Logins returns the number of successful logins so far.
func (s *Sim) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loginCount
}

// handleLogin implements POST /security/user/authenticate with HTTP Basic.
func (s *Sim) handleLogin(w http.ResponseWriter, r *http.Request) {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if s.loginBlocked(ip) {
		writeJSON(w, http.StatusForbidden, map[string]any{
			"title":  "Permission Denied",
			"detail": "Limit of login attempts reached. The current IP has been blocked due to a high number of login attempts",
			"error":  6000,
		})
		return
	}

	user, password, ok := r.BasicAuth()
	want, known := s.opts.Users[user]
	if !ok || !known || !hmac.Equal([]byte(password), []byte(want)) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"title": "Unauthorized", "detail": "Invalid credentials"})
		return
	}

	s.mu.Lock()
	s.loginCount++
	s.mu.Unlock()
	token := s.issueToken(user)
	if r.URL.Query().Get("raw") == "true" {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(token))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"token": token}, "error": 0})
}

// loginBlocked records a login attempt from ip and reports whether ip has
// made more than MaxLoginAttempts within BlockTime.
func (s *Sim) loginBlocked(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var recent []time.Time
	for _, t := range s.logins[ip] {
		if now.Sub(t) < s.opts.BlockTime {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	s.logins[ip] = recent
	return len(recent) > s.opts.MaxLoginAttempts
}

// issueToken returns an HS256 JWT with the claims a Wazuh token carries.
func (s *Sim) issueToken(user string) string {
	now := time.Now()
	exp := now.Add(s.opts.TokenLifetime)
	id := base64.RawURLEncoding.EncodeToString(randomBytes(12))
	claims := map[string]any{
		"iss": "wazuh", "aud": "Wazuh API REST", "nbf": now.Unix(), "exp": exp.Unix(),
		"sub": user, "run_as": false, "rbac_roles": []int{1}, "rbac_mode": "white", "jti": id,
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(claims)
	signing := header + "." + base64.RawURLEncoding.EncodeToString(body)

	s.mu.Lock()
	s.tokens[id] = exp
	s.mu.Unlock()
	return signing + "." + s.sign(signing)
}

func (s *Sim) sign(signing string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(signing))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// authed wraps h with bearer token checks: signature, expiry and
// revocation.
func (s *Sim) authed(h func(w http.ResponseWriter, r *http.Request, user string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || raw == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"title": "Unauthorized", "detail": "No authorization token provided"})
			return
		}
		user, valid := s.verifyToken(raw)
		if !valid {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"title": "Unauthorized", "detail": "Invalid token"})
			return
		}
		h(w, r, user)
	}
}

func (s *Sim) verifyToken(raw string) (string, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || !hmac.Equal([]byte(s.sign(parts[0]+"."+parts[1])), []byte(parts[2])) {
		return "", false
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		Sub string `json:"sub"`
		JTI string `json:"jti"`
	}
	if json.Unmarshal(body, &claims) != nil {
		return "", false
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[claims.JTI]
	if !ok || time.Now().After(exp) {
		return "", false
	}
	return claims.Sub, true
}

// handleSecurityConfig implements PUT /security/config: it accepts a new
// auth_token_exp_timeout (seconds) and, like the real API, revokes every
// token.
func (s *Sim) handleSecurityConfig(w http.ResponseWriter, r *http.Request, _ string) {
	var body struct {
		TokenTimeout *int `json:"auth_token_exp_timeout"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		badRequest(w, "Invalid request body: "+err.Error(), 0)
		return
	}
	s.mu.Lock()
	if body.TokenTimeout != nil && *body.TokenTimeout > 0 {
		s.opts.TokenLifetime = time.Duration(*body.TokenTimeout) * time.Second
	}
	s.mu.Unlock()
	s.RevokeTokens()
	writeJSON(w, http.StatusOK, map[string]any{"message": "Configuration was successfully updated", "error": 0})
}

// handleRoot implements GET /, the API information.
func (s *Sim) handleRoot(w http.ResponseWriter, _ *http.Request, _ string) {
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"title": "Wazuh API REST", "api_version": "4.14.7", "revision": 41414, "license_name": "GPL 2.0",
		"hostname": s.opts.NodeName, "timestamp": time.Now().UTC().Format(time.RFC3339),
	}, "error": 0})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest writes a 400 in the shape of the spec's ResponseError; a zero
// code leaves "error" out, as connexion's schema errors do.
func badRequest(w http.ResponseWriter, detail string, code int) {
	body := map[string]any{"title": "Bad Request", "detail": detail}
	if code != 0 {
		body["error"] = code
	}
	writeJSON(w, http.StatusBadRequest, body)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
