// Package defendersim simulates the parts of the Microsoft Defender for
// Endpoint API that the defender client uses, with a Microsoft identity
// platform token endpoint: machines with $filter lookups and findbyip,
// isolate and unisolate machine actions that move from Pending through
// InProgress to Succeeded after a delay, the 400 ActiveRequestAlreadyExists
// error for a second action while one is open, and 429 TooManyRequests with
// Retry-After past the documented 100 calls per minute and 1,500 per hour.
// It serves the demo hosts of simharness.
package defendersim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"
)

// Demo credentials the simulator accepts.
const (
	TenantID     = "8a1c7e52-0d3b-4f6e-9a21-5b7c3d9e4f10"
	ClientID     = "5c4d3e2f-1a0b-4c9d-8e7f-6a5b4c3d2e1f"
	ClientSecret = "defendersim-demo-secret"

	// Audience is the resource Defender API tokens are issued for.
	Audience = "https://api.securitycenter.microsoft.com"

	// DemoDomain is the DNS suffix of the demo machines.
	DemoDomain = "demo.example"
)

// Config tunes a simulator.
type Config struct {
	// PendingDelay is how long a machine action stays open: Pending for
	// the first half, InProgress for the second, then final. Zero means
	// 3 seconds.
	PendingDelay time.Duration

	// FinalStatus is the status actions end in. Empty means Succeeded.
	FinalStatus string

	// TokenLifetime is the expires_in of issued tokens. Zero means one hour.
	TokenLifetime time.Duration

	// PerMinute and PerHour are the API rate limits. Zero means the
	// documented 100 and 1,500.
	PerMinute int
	PerHour   int

	Logger *slog.Logger
}

// Fault makes the next Count requests whose path contains PathContains
// (and whose method is Method, when set) fail with Status.
type Fault struct {
	Method       string
	PathContains string
	Status       int
	Code         string
	Message      string
	RetryAfter   string
	Count        int

	// Body, when set, is written as the JSON body instead of an error
	// envelope, for example an empty list with Status 200.
	Body string
}

// Server is a simulator instance. It is safe for concurrent use.
type Server struct {
	issuer *mssim.Issuer
	cfg    Config
	logger *slog.Logger

	mu       sync.Mutex
	machines []*machine       // guarded by mu
	actions  []*machineAction // guarded by mu; oldest first
	faults   []*Fault         // guarded by mu
	calls    []time.Time      // guarded by mu; API call times within the last hour
	requests map[string]int   // guarded by mu; route -> count
	bodies   []string         // guarded by mu; isolate and unisolate bodies received
}

// New returns a simulator serving the demo hosts.
func New(cfg Config) *Server {
	if cfg.PendingDelay <= 0 {
		cfg.PendingDelay = 3 * time.Second
	}
	if cfg.FinalStatus == "" {
		cfg.FinalStatus = "Succeeded"
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.PerMinute <= 0 {
		cfg.PerMinute = 100
	}
	if cfg.PerHour <= 0 {
		cfg.PerHour = 1500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		issuer: &mssim.Issuer{
			TenantID: TenantID, ClientID: ClientID, ClientSecret: ClientSecret,
			Audiences: []string{Audience, "https://graph.microsoft.com"},
			Lifetime:  cfg.TokenLifetime,
		},
		cfg:      cfg,
		logger:   cfg.Logger,
		requests: map[string]int{},
	}
	s.seed()
	return s
}

// MachineID returns the demo machine id of a host name: the SHA-1 of
// "defender:" and the lower-case name, in hex, so that it is stable across
// runs and has the 40-hex shape of real ids.
func MachineID(hostname string) string {
	sum := sha1.Sum([]byte("defender:" + strings.ToLower(hostname)))
	return hex.EncodeToString(sum[:])
}

// Issuer returns the token endpoint, for tests that count or expire tokens.
func (s *Server) Issuer() *mssim.Issuer { return s.issuer }

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Requests returns how many requests matched a route, for example
// "POST isolate" or "GET machineactions".
func (s *Server) Requests(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[route]
}

// ActionBodies returns the isolate and unisolate request bodies received.
func (s *Server) ActionBodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func (s *Server) count(route string) {
	s.mu.Lock()
	s.requests[route]++
	s.mu.Unlock()
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mssim.TokenPath(r.URL.Path) {
		s.issuer.ServeToken(w, r)
		return
	}
	if !s.authorized(w, r) || s.throttled(w) || s.fault(w, r) {
		return
	}

	segments, err := splitPath(r.URL.EscapedPath())
	if err != nil || len(segments) == 0 || segments[0] != "api" {
		notFoundPath(w)
		return
	}
	segments = segments[1:]
	if len(segments) > 0 && strings.EqualFold(segments[0], "v1.0") {
		segments = segments[1:]
	}

	switch {
	case len(segments) == 1 && segments[0] == "machines":
		s.count("GET machines")
		onlyGET(w, r, s.listMachines)
	case len(segments) == 2 && segments[0] == "machines" && strings.HasPrefix(segments[1], "findbyip("):
		s.count("GET findbyip")
		onlyGET(w, r, func(w http.ResponseWriter, r *http.Request) { s.findByIP(w, r, segments[1]) })
	case len(segments) == 2 && segments[0] == "machines":
		s.count("GET machine")
		onlyGET(w, r, func(w http.ResponseWriter, r *http.Request) { s.getMachine(w, r, segments[1]) })
	case len(segments) == 3 && segments[0] == "machines" && (segments[2] == "isolate" || segments[2] == "unisolate"):
		if r.Method != http.MethodPost {
			methodNotAllowed(w)
			return
		}
		s.count("POST " + segments[2])
		s.startAction(w, r, segments[1], segments[2])
	case len(segments) == 1 && segments[0] == "machineactions":
		s.count("GET machineactions")
		onlyGET(w, r, s.listActions)
	case len(segments) == 2 && segments[0] == "machineactions":
		s.count("GET machineaction")
		onlyGET(w, r, func(w http.ResponseWriter, r *http.Request) { s.getAction(w, r, segments[1]) })
	default:
		notFoundPath(w)
	}
}

func onlyGET(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	h(w, r)
}

func methodNotAllowed(w http.ResponseWriter) {
	mssim.WriteDefenderError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested HTTP method is not supported for this resource.")
}

func notFoundPath(w http.ResponseWriter) {
	mssim.WriteDefenderError(w, http.StatusNotFound, "NotFound", "The requested resource was not found.")
}

// authorized checks the bearer token and writes 401 Unauthorized on failure
// ("Defender for Endpoint API error codes": invalid or expired
// authorization header).
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	var msg string
	switch s.issuer.Check(r, Audience) {
	case mssim.TokenOK:
		return true
	case mssim.TokenExpired:
		msg = "Authorization token has expired."
	case mssim.TokenAudience:
		msg = "Invalid Authorization payload: the token audience is not " + Audience + "."
	default:
		msg = "Invalid Authorization payload."
	}
	mssim.WriteDefenderError(w, http.StatusUnauthorized, "Unauthorized", msg)
	return false
}

// throttled counts the call against the per-minute and per-hour limits and
// writes 429 with Retry-After when either is exceeded. Rejected calls are
// not counted.
func (s *Server) throttled(w http.ResponseWriter) bool {
	now := time.Now()
	s.mu.Lock()
	kept := s.calls[:0]
	for _, t := range s.calls {
		if now.Sub(t) < time.Hour {
			kept = append(kept, t)
		}
	}
	s.calls = kept
	inMinute := 0
	var oldestInMinute time.Time
	for _, t := range s.calls {
		if now.Sub(t) < time.Minute {
			if inMinute == 0 {
				oldestInMinute = t
			}
			inMinute++
		}
	}
	var wait time.Duration
	var limit, window string
	switch {
	case inMinute >= s.cfg.PerMinute:
		wait, limit, window = time.Minute-now.Sub(oldestInMinute), fmt.Sprint(s.cfg.PerMinute), "1 minute(s)"
	case len(s.calls) >= s.cfg.PerHour:
		wait, limit, window = time.Hour-now.Sub(s.calls[0]), fmt.Sprint(s.cfg.PerHour), "60 minute(s)"
	default:
		s.calls = append(s.calls, now)
	}
	s.mu.Unlock()

	if limit == "" {
		return false
	}
	secs := int(wait/time.Second) + 1
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	mssim.WriteDefenderError(w, http.StatusTooManyRequests, "TooManyRequests", fmt.Sprintf("API calls quota exceeded! Maximum allowed %s per %s. Try again in %d seconds.", limit, window, secs))
	return true
}

// fault writes the first matching injected fault, if any.
func (s *Server) fault(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	var hit *Fault
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.PathContains) {
			hit = f
			f.Count--
			if f.Count <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			break
		}
	}
	s.mu.Unlock()
	if hit == nil {
		return false
	}
	if hit.RetryAfter != "" {
		w.Header().Set("Retry-After", hit.RetryAfter)
	}
	if hit.Body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(hit.Status)
		_, _ = w.Write([]byte(hit.Body))
		return true
	}
	code, msg := hit.Code, hit.Message
	if code == "" {
		code, msg = "InternalServerError", "Internal server error."
		if hit.Status == http.StatusTooManyRequests {
			code, msg = "TooManyRequests", "API calls quota exceeded!"
		}
	}
	mssim.WriteDefenderError(w, hit.Status, code, msg)
	return true
}

func splitPath(escaped string) ([]string, error) {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		seg, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		out = append(out, seg)
	}
	return out, nil
}

func init() {
	simharness.Register(simharness.Sim{Kind: vendor.KindDefender, Start: Start})
}

// Start serves a simulator on loopback and returns the settings that point
// the defender client at it.
func Start(opts simharness.Options) (*simharness.Running, error) {
	s := New(Config{PendingDelay: opts.PendingDelay, Logger: opts.Logger})
	srv, err := simharness.Serve(s, opts.TLS)
	if err != nil {
		return nil, err
	}
	settings := map[string]string{
		"tenant_id": TenantID,
		"client_id": ClientID,
		"login_url": srv.URL,
		"api_url":   srv.URL,
	}
	if opts.TLS {
		settings["ca_pem"] = string(srv.CAPEM)
	}
	return &simharness.Running{
		Kind:     vendor.KindDefender,
		URL:      srv.URL,
		Settings: settings,
		Secrets:  map[string]string{"client_secret": ClientSecret},
		CAPEM:    srv.CAPEM,
		Handler:  s,
		Close:    srv.Close,
	}, nil
}
