// Package entrasim simulates the parts of Microsoft Graph v1.0 and the
// Microsoft identity platform token endpoint that the entra client uses:
// the client-credentials flow with expiring tokens, users with PATCH
// semantics, revokeSignInSessions, and the signIns and directoryAudits
// audit logs with $filter, $top and @odata.nextLink paging. Errors use
// Graph's envelope. It serves the demo users of simharness.
package entrasim

import (
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
	ClientID     = "3f2b9c41-6d7e-4a58-8b19-0c2d4e6f8a7b"
	ClientSecret = "entrasim-demo-secret"

	// Audience is the resource Graph tokens are issued for.
	Audience = "https://graph.microsoft.com"
)

// Special demo accounts besides simharness.DemoUsers.
const (
	GuestUPN      = "partner_fabrikam.com#EXT#@demo.example"
	PrivilegedUPN = "admin@demo.example"
)

// Config tunes a simulator.
type Config struct {
	// TokenLifetime is the expires_in of issued tokens. Zero means one hour.
	TokenLifetime time.Duration

	// NoPremium makes the tenant lack a P1/P2 licence: signInActivity and
	// the signIns log return 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant
	// "Neither tenant is B2C or tenant doesn't have premium license" (the
	// message Microsoft's "Analyze activity logs with Microsoft Graph
	// PowerShell" lists under common errors).
	NoPremium bool

	// PageSize caps the page size of the audit-log lists below the
	// requested $top, as Graph may. Zero means no cap. Tests use it to
	// exercise paging.
	PageSize int

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
	RetryAfter   string // Retry-After header value, for 429
	Count        int
}

// Server is a simulator instance. It is safe for concurrent use.
type Server struct {
	issuer *mssim.Issuer
	cfg    Config
	logger *slog.Logger
	start  time.Time

	mu       sync.Mutex
	users    map[string]*user  // guarded by mu; key: lower-case UPN
	signIns  []map[string]any  // guarded by mu; newest first
	audits   []map[string]any  // guarded by mu; newest first
	cursors  map[string]cursor // guarded by mu; $skiptoken -> position
	faults   []*Fault          // guarded by mu
	patches  []PatchRecord     // guarded by mu
	requests map[string]int    // guarded by mu; "METHOD path-template" -> count
}

// PatchRecord is one PATCH body the simulator received, for tests that
// check the exact request.
type PatchRecord struct {
	UPN  string
	Body string
}

// New returns a simulator with the demo tenant.
func New(cfg Config) *Server {
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		issuer: &mssim.Issuer{
			TenantID: TenantID, ClientID: ClientID, ClientSecret: ClientSecret,
			Audiences: []string{Audience, "https://api.securitycenter.microsoft.com"},
			Lifetime:  cfg.TokenLifetime,
		},
		cfg:      cfg,
		logger:   cfg.Logger,
		start:    time.Now().UTC(),
		users:    map[string]*user{},
		cursors:  map[string]cursor{},
		requests: map[string]int{},
	}
	s.seed()
	return s
}

// Issuer returns the token endpoint, for tests that count or expire tokens.
func (s *Server) Issuer() *mssim.Issuer { return s.issuer }

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Patches returns the PATCH bodies received so far.
func (s *Server) Patches() []PatchRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PatchRecord(nil), s.patches...)
}

// Requests returns how many requests matched a route, for example
// "POST revokeSignInSessions" or "GET signIns".
func (s *Server) Requests(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[route]
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mssim.TokenPath(r.URL.Path) {
		s.issuer.ServeToken(w, r)
		return
	}

	segments, err := splitPath(r.URL.EscapedPath())
	if err != nil || len(segments) == 0 || segments[0] != "v1.0" {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid version.")
		return
	}
	segments = segments[1:]

	if !s.authorized(w, r) {
		return
	}
	if s.fault(w, r) {
		return
	}

	switch {
	case len(segments) == 1 && segments[0] == "users":
		s.count("GET users")
		s.onlyGET(w, r, s.listUsers)
	case len(segments) >= 1 && isUserSegment(segments):
		s.routeUser(w, r, segments)
	case len(segments) == 2 && segments[0] == "auditLogs" && segments[1] == "signIns":
		s.count("GET signIns")
		s.onlyGET(w, r, s.listSignIns)
	case len(segments) == 2 && segments[0] == "auditLogs" && segments[1] == "directoryAudits":
		s.count("GET directoryAudits")
		s.onlyGET(w, r, s.listAudits)
	default:
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", lastSegment(segments)))
	}
}

func (s *Server) count(route string) {
	s.mu.Lock()
	s.requests[route]++
	s.mu.Unlock()
}

func (s *Server) onlyGET(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r)
		return
	}
	h(w, r)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	mssim.WriteGraphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

// authorized checks the bearer token and writes Graph's 401 when it fails.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	var msg string
	switch s.issuer.Check(r, Audience) {
	case mssim.TokenOK:
		return true
	case mssim.TokenMissing:
		msg = "Access token is empty."
	case mssim.TokenExpired:
		msg = "Lifetime validation failed, the token is expired."
	case mssim.TokenAudience:
		msg = "Access token validation failure. Invalid audience."
	default:
		msg = "Access token validation failure."
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	mssim.WriteGraphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	return false
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
	code, msg := hit.Code, hit.Message
	if code == "" {
		code, msg = defaultFault(hit.Status)
	}
	mssim.WriteGraphError(w, r, hit.Status, code, msg)
	return true
}

func defaultFault(status int) (string, string) {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests", "Too many requests."
	case http.StatusServiceUnavailable:
		return "serviceNotAvailable", "The service is temporarily unavailable."
	case http.StatusInternalServerError:
		return "generalException", "An unexpected error occurred."
	}
	return "UnknownError", http.StatusText(status)
}

// splitPath splits an escaped path into unescaped segments.
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

func lastSegment(segments []string) string {
	if len(segments) == 0 {
		return ""
	}
	return segments[len(segments)-1]
}

func init() {
	simharness.Register(simharness.Sim{Kind: vendor.KindEntra, Start: Start})
}

// Start serves a simulator on loopback and returns the settings that point
// the entra client at it.
func Start(opts simharness.Options) (*simharness.Running, error) {
	s := New(Config{Logger: opts.Logger})
	srv, err := simharness.Serve(s, opts.TLS)
	if err != nil {
		return nil, err
	}
	settings := map[string]string{
		"tenant_id": TenantID,
		"client_id": ClientID,
		"login_url": srv.URL,
		"graph_url": srv.URL,
	}
	if opts.TLS {
		settings["ca_pem"] = string(srv.CAPEM)
	}
	return &simharness.Running{
		Kind:     vendor.KindEntra,
		URL:      srv.URL,
		Settings: settings,
		Secrets:  map[string]string{"client_secret": ClientSecret},
		CAPEM:    srv.CAPEM,
		Handler:  s,
		Close:    srv.Close,
	}, nil
}
