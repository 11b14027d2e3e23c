package attack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/api"
	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/notify"
	"github.com/smartpt/smartpt/internal/notify/email"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/simharness"
	_ "github.com/smartpt/smartpt/internal/simharness/all" // every vendor simulator
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	_ "github.com/smartpt/smartpt/internal/vendors/all" // every vendor client
)

// serviceOfKind is the route family each simulator kind serves in these
// tests, as in the demo: /paloalto/endpoints is served by PAN-OS.
var serviceOfKind = map[vendor.Kind]vendor.Service{
	vendor.KindEntra:    vendor.ServiceAzureAD,
	vendor.KindDefender: vendor.ServiceDefender,
	vendor.KindWazuh:    vendor.ServiceWazuh,
	vendor.KindCisco:    vendor.ServiceCisco,
	vendor.KindCortex:   vendor.ServiceCortex,
	vendor.KindPANOS:    vendor.ServicePaloAlto,
}

// pathOfService is the public route of each service.
var pathOfService = func() map[vendor.Service]string {
	m := map[vendor.Service]string{}
	for path, svc := range vendor.Routes {
		m[svc] = path
	}
	return m
}()

// syncBuffer is a bytes.Buffer safe for concurrent writers: the log sink of
// a stack.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// countingSim is a running simulator behind a front server that counts every
// request before passing it on. Integrations point at the front server, so
// the count is every request a vendor client sent.
type countingSim struct {
	Kind    vendor.Kind
	Service vendor.Service
	Company string // name of the company whose integration uses it

	running *simharness.Running
	front   *simharness.Server

	// Secrets are the credentials the simulator accepts; they are canaries
	// that must never leave the gateway.
	Secrets map[string]string

	requests atomic.Int64
	mu       sync.Mutex
	seen     []string // "METHOD /path?query" of each request; guarded by mu
}

func (c *countingSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	c.mu.Lock()
	c.seen = append(c.seen, r.Method+" "+r.URL.RequestURI())
	c.mu.Unlock()
	c.running.Handler.ServeHTTP(w, r)
}

// Seen returns the requests received so far.
func (c *countingSim) Seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// startCountingSim starts the simulator of kind and its counting front
// server, and returns the integration settings and secrets pointing at the
// front server.
func startCountingSim(t testing.TB, kind vendor.Kind, company string) (*countingSim, map[string]string, map[string]string) {
	t.Helper()
	sim, ok := simharness.Lookup(kind)
	if !ok {
		t.Fatalf("no simulator registered for kind %s", kind)
	}
	running, err := sim.Start(simharness.Options{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PendingDelay: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("start the %s simulator: %v", kind, err)
	}
	c := &countingSim{Kind: kind, Service: serviceOfKind[kind], Company: company, running: running, Secrets: running.Secrets}
	front, err := simharness.Serve(c, len(running.CAPEM) > 0)
	if err != nil {
		running.Close()
		t.Fatalf("serve the counting front of the %s simulator: %v", kind, err)
	}
	c.front = front

	settings := map[string]string{}
	for name, value := range running.Settings {
		switch {
		case len(running.CAPEM) > 0 && value == string(running.CAPEM):
			value = string(front.CAPEM)
		default:
			value = strings.ReplaceAll(value, running.URL, front.URL)
		}
		settings[name] = value
	}
	secrets := map[string]string{}
	for name, value := range running.Secrets {
		secrets[name] = value
	}
	return c, settings, secrets
}

func (c *countingSim) close() {
	c.front.Close()
	c.running.Close()
}

// company is one test company with its key and its integrations.
type company struct {
	Name string
	ID   string
	Key  string
	Sims map[vendor.Service]*countingSim
}

// stackOptions tunes a stack. Zero values select short test defaults.
type stackOptions struct {
	Companies []string // names; default "a" and "b", each with every simulator

	AuthLimit     api.AuthLimit
	ActionTimeout time.Duration

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration

	// MasterKey seals integration secrets; nil means a random key.
	MasterKey []byte

	// Mail is the server's mail relay; an empty Host means the outbox.
	Mail email.Config

	// NoSimulators leaves the companies without integrations.
	NoSimulators bool
}

// stack is SmartPT served on loopback the way the demo wires it: SQLite in a
// temporary folder, the action engine, the API server with timeouts, and a
// counting simulator of every registered kind for each company.
type stack struct {
	t    testing.TB
	URL  string
	Addr string

	Logs      *syncBuffer
	DB        *store.DB
	Tenants   *tenant.Service
	Audit     *audit.Log
	Engine    *action.Engine
	API       *api.Server
	Server    *http.Server
	Registry  *prometheus.Registry
	MasterKey []byte
	Companies map[string]*company

	sims      []*countingSim
	canaries  *canarySet
	responses *responseLog
	lastQuiet atomic.Int64 // vendor request count at the last quiet moment
	client    *http.Client
	stopped   bool
	stopOnce  sync.Once
}

// newStack builds and starts a stack; t.Cleanup stops it.
func newStack(t testing.TB, opts stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	if len(opts.Companies) == 0 {
		opts.Companies = []string{"a", "b"}
	}
	if opts.ActionTimeout == 0 {
		opts.ActionTimeout = 10 * time.Second
	}
	if opts.ReadHeaderTimeout == 0 {
		opts.ReadHeaderTimeout = 2 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 4 * time.Second
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 20 * time.Second
	}
	if opts.MasterKey == nil {
		opts.MasterKey = randomBytes(t, 32)
	}

	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dataDir := t.TempDir()

	db, err := store.Open(ctx, store.Options{DataDir: dataDir})
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	sealer, err := secret.NewSealer(opts.MasterKey)
	if err != nil {
		t.Fatalf("build the sealer: %v", err)
	}
	s := &stack{
		t: t, Logs: logs, DB: db, MasterKey: opts.MasterKey,
		Tenants:   tenant.New(db, sealer, &secret.Resolver{}),
		Audit:     audit.New(db),
		Companies: map[string]*company{},
		responses: &responseLog{},
		canaries:  &canarySet{},
	}
	s.canaries.add("master key (hex)", hex.EncodeToString(opts.MasterKey))
	s.canaries.add("master key (base64)", base64.StdEncoding.EncodeToString(opts.MasterKey))
	s.canaries.add("master key (raw)", string(opts.MasterKey))
	if opts.Mail.Password != "" {
		s.canaries.add("SMTP password", opts.Mail.Password)
	}

	for _, name := range opts.Companies {
		s.addCompany(name, !opts.NoSimulators)
	}

	outbox := filepath.Join(dataDir, "outbox")
	mail := opts.Mail
	mail.Logger = logger
	if mail.Host == "" {
		mail.OutboxDir = outbox
	}
	engine, err := action.New(action.Config{
		DB: db, Tenants: s.Tenants, Audit: s.Audit, Sealer: sealer,
		HTTP: vendorhttp.NewPool(logger), Logger: logger,
		MailerFor: func(ctx context.Context, companyID string) (notify.Mailer, error) {
			return email.New(mail)
		},
		DispatchTimeout: 5 * time.Second,
		ConfirmDeadline: 20 * time.Second,
		PollMin:         100 * time.Millisecond,
		PollMax:         300 * time.Millisecond,
		JobPollInterval: 100 * time.Millisecond,
		SweepInterval:   time.Second,
		SweepSlack:      2 * time.Second,
	})
	if err != nil {
		t.Fatalf("build the engine: %v", err)
	}
	if err := engine.Start(ctx); err != nil {
		t.Fatalf("start the engine: %v", err)
	}
	s.Engine = engine

	s.Registry = prometheus.NewRegistry()
	handler, err := api.New(api.Config{
		Executor: engine, Auth: s.Tenants, AuthFailures: s.Audit, Ready: db.Ping,
		Logger: logger, AuthLimit: opts.AuthLimit, ActionTimeout: opts.ActionTimeout,
		Registry: s.Registry,
		// Loopback is trusted as a proxy only when a test asks for it.
		TrustedProxies: []netip.Prefix{},
	})
	if err != nil {
		t.Fatalf("build the API: %v", err)
	}
	s.API = handler

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	s.Server = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { _ = s.Server.Serve(ln) }()
	s.Addr = ln.Addr().String()
	s.URL = "http://" + s.Addr
	// Redirects are not followed: every answer must be the API's own.
	s.client = &http.Client{
		// The API must answer within its action timeout; 5 s more is slack.
		Timeout:       opts.ActionTimeout + 5*time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	t.Cleanup(s.stop)
	return s
}

// addCompany creates a company with a random key and, when withSims is set,
// one counting simulator per registered kind with a client in this build.
func (s *stack) addCompany(name string, withSims bool) *company {
	s.t.Helper()
	ctx := context.Background()
	co, key, err := s.Tenants.CreateCompany(ctx, name, "")
	if err != nil {
		s.t.Fatalf("create company %s: %v", name, err)
	}
	c := &company{Name: name, ID: co.ID, Key: key, Sims: map[vendor.Service]*countingSim{}}
	s.Companies[name] = c
	s.canaries.add("company key of "+name, key)
	if !withSims {
		return c
	}
	for _, kind := range simharness.Kinds() {
		svc, ok := serviceOfKind[kind]
		if !ok {
			continue
		}
		if _, ok := vendor.Lookup(kind); !ok {
			continue
		}
		sim, settings, secrets := startCountingSim(s.t, kind, name)
		s.sims = append(s.sims, sim)
		for secretName, value := range secrets {
			s.canaries.add(fmt.Sprintf("%s secret %s of company %s", kind, secretName, name), value)
		}
		if err := s.Tenants.SetIntegration(ctx, name, svc, kind, settings, secrets); err != nil {
			s.t.Fatalf("configure the %s integration of company %s: %v", svc, name, err)
		}
		c.Sims[svc] = sim
	}
	return c
}

// stop reads /metrics, shuts the server and the engine down, scans
// everything the stack wrote for its secrets, then closes the simulators and
// the store. It runs once.
func (s *stack) stop() {
	s.stopOnce.Do(func() {
		metrics := s.do(s.t, request{Method: http.MethodGet, Path: "/metrics"})
		if metrics.Status != http.StatusOK {
			s.t.Errorf("GET /metrics: status %d", metrics.Status)
		}

		// In-flight requests get 5 s to finish; then their connections are
		// closed, and the engine gets 5 s for its running jobs.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Server.Shutdown(shutdownCtx); err != nil {
			s.t.Logf("requests still running at shutdown: %v", err)
			_ = s.Server.Close()
		}
		cancel()
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Engine.Stop(stopCtx); err != nil {
			s.t.Logf("stop the engine: %v", err)
		}
		cancel()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.checkNoSecrets(ctx, string(metrics.Body))

		for _, sim := range s.sims {
			sim.close()
		}
		_ = s.DB.Close()
		s.stopped = true
	})
}

// vendorRequests returns the number of requests every simulator of the stack
// has received.
func (s *stack) vendorRequests() int64 {
	var n int64
	for _, sim := range s.sims {
		n += sim.requests.Load()
	}
	return n
}

// vendorRequestLog lists the requests each simulator received, for failure
// messages.
func (s *stack) vendorRequestLog() string {
	var b strings.Builder
	for _, sim := range s.sims {
		for _, r := range sim.Seen() {
			b.WriteString(sim.Company + "/" + string(sim.Kind) + ": " + r + "\n")
		}
	}
	return b.String()
}

// endpointServices returns the configured endpoint services of company name,
// in route order.
func (s *stack) endpointServices(name string) []vendor.Service {
	var out []vendor.Service
	for _, svc := range []vendor.Service{vendor.ServiceWazuh, vendor.ServiceDefender, vendor.ServicePaloAlto, vendor.ServiceCisco, vendor.ServiceCortex} {
		if _, ok := s.Companies[name].Sims[svc]; ok {
			out = append(out, svc)
		}
	}
	return out
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("read random bytes: %v", err)
	}
	return b
}

func randomHex(t testing.TB, n int) string {
	return hex.EncodeToString(randomBytes(t, (n+1)/2))[:n]
}
