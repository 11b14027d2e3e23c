// Package api serves the SmartPT HTTP API: the published action routes, the
// action record and Wazuh event routes, health, readiness, metrics and the
// OpenAPI document. It authenticates each company by its key in the x-sha256
// header, validates every body strictly, hands the request to the action
// engine and renders the engine's result in the published response shapes.
package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Authenticator finds the company a presented key belongs to.
// *tenant.Service implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, presented string) (tenant.Company, error)
}

// ServiceAuthenticator is an Authenticator that also reads, in the same
// store query, the revision of the company's integration for a service.
// Action routes use it when Config.Auth implements it (*tenant.Service
// does), which saves the engine that read.
type ServiceAuthenticator interface {
	AuthenticateFor(ctx context.Context, presented string, svc vendor.Service) (tenant.Company, tenant.Revision, error)
}

// CachedAuthenticator checks a key from memory when it can.
// *tenant.Service implements it when it caches key checks. The server
// then checks a cached key on the request's goroutine, without the
// goroutine that a check against the store runs on (see offload).
type CachedAuthenticator interface {
	// CachedAuthenticateFor returns the result of a successful check of
	// presented for svc that is still cached, and false when there is none.
	CachedAuthenticateFor(presented string, svc vendor.Service) (tenant.Company, tenant.Revision, bool)
}

// AuthFailureRecorder counts failed authentications. *audit.Log implements it.
type AuthFailureRecorder interface {
	RecordAuthFailure(ctx context.Context, clientAddr, route, reason string) error
}

// Config is the configuration of a Server. Executor, Auth and AuthFailures
// are required.
type Config struct {
	Executor     action.Executor
	Auth         Authenticator
	AuthFailures AuthFailureRecorder

	// Ready reports whether the store is reachable, for /readyz. Nil means
	// always ready.
	Ready func(ctx context.Context) error

	Logger *slog.Logger

	// TrustedProxies are the addresses whose X-Forwarded-For header is
	// believed. A request from any other address is attributed to its
	// connection's remote address.
	TrustedProxies []netip.Prefix

	// AuthLimit slows down and then blocks client addresses that fail
	// authentication repeatedly. Zero fields take DefaultAuthLimit's values.
	AuthLimit AuthLimit

	// ActionTimeout bounds one call to the engine. The call does not end when
	// the client disconnects, so that a containment already sent to a vendor
	// is recorded to its end. Zero means 60 seconds.
	ActionTimeout time.Duration

	// MaxConcurrentActions bounds the action requests handed to the
	// engine at once. A request beyond it waits, after its body is read
	// and checked, until a slot frees or ActionTimeout ends, and then gets
	// 503 with Retry-After. This bounds the memory that many concurrent
	// connections take. Zero means DefaultMaxConcurrentActions.
	MaxConcurrentActions int

	// Registry receives the API's metrics. Nil means a new registry. /metrics
	// serves it together with prometheus.DefaultGatherer, where the engine
	// and the vendor layer register theirs.
	Registry *prometheus.Registry
}

// Server is the API's http.Handler.
type Server struct {
	cfg     Config
	slots   chan struct{} // one element per action being worked on
	log     *slog.Logger
	mux     *http.ServeMux
	limiter *authLimiter
	metrics *metrics
	handler http.Handler
}

// New builds the API handler.
func New(cfg Config) (*Server, error) {
	if cfg.Executor == nil || cfg.Auth == nil || cfg.AuthFailures == nil {
		return nil, errors.New("api: Executor, Auth and AuthFailures are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = 60 * time.Second
	}
	if cfg.MaxConcurrentActions <= 0 {
		cfg.MaxConcurrentActions = DefaultMaxConcurrentActions
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}

	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}

	s := &Server{
		cfg:     cfg,
		slots:   make(chan struct{}, cfg.MaxConcurrentActions),
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		limiter: newAuthLimiter(cfg.AuthLimit.withDefaults()),
		metrics: m,
	}
	s.routes()
	s.handler = s.observe(rejectUncleanPath(s.mux))
	return s, nil
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() {
	for _, route := range ActionRoutes() {
		s.mux.Handle(route.Path, s.allow(http.MethodPost, route.Path, s.withCompanyFor(route.Service, s.actionHandler(route))))
	}
	s.mux.Handle("/v1/actions/{id}", s.allow(http.MethodGet, "/v1/actions/{id}", s.withCompany(s.getAction)))
	s.mux.Handle("/v1/wazuh/events", s.allow(http.MethodPost, "/v1/wazuh/events", s.withCompany(s.wazuhEvent)))

	s.mux.Handle("/healthz", s.allow(http.MethodGet, "/healthz", http.HandlerFunc(s.healthz)))
	s.mux.Handle("/readyz", s.allow(http.MethodGet, "/readyz", http.HandlerFunc(s.readyz)))
	s.mux.Handle("/openapi.json", s.allow(http.MethodGet, "/openapi.json", http.HandlerFunc(serveOpenAPI)))
	metricsHandler := promhttp.HandlerFor(prometheus.Gatherers{s.cfg.Registry, prometheus.DefaultGatherer}, promhttp.HandlerOpts{})
	s.mux.Handle("/metrics", s.allow(http.MethodGet, "/metrics", metricsHandler))

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeNoRoute(w, r.URL.Path) })
}

// allow responds 405 with an Allow header to any method but method, and
// labels the request with its route for logs and metrics.
func (s *Server) allow(method, route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		info.Route = route

		if r.Method != method {
			writeMethodNotAllowed(w, method, route)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeMethodNotAllowed writes the 405 of a request to route with another
// method than method.
func writeMethodNotAllowed(w http.ResponseWriter, method, route string) {
	w.Header().Set("Allow", method)
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Message: "Method Not Allowed: use " + method + " for " + route})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.Warn("readiness check failed", "error", err, "request_id", infoFrom(r.Context()).RequestID)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Message: "Service Unavailable: the database is not reachable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, statusBody{Status: "ready"})
}

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 document that /openapi.json serves.
func OpenAPIDocument() []byte { return openAPIDocument }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}

// DefaultMaxConcurrentActions is the default of
// Config.MaxConcurrentActions. Each action in progress holds a goroutine
// whose stack grows to 16 KiB in SQLite and the vendor client, beside its
// engine state, while a waiting request holds only its connection's. 128
// keeps both cores of a small server busy with vendors that respond within
// milliseconds: at 1,000 connections it served as many status requests a
// second as 256, with 3 MiB less peak RSS (docs/BENCHMARKS.md, section 22).
// It also allows 128 vendor calls in flight when vendors are slow, at most
// vendor_max_conns_per_host (default 64) of them to one vendor host.
// Vendors' own rate limits are far below what that allows.
const DefaultMaxConcurrentActions = 128
