package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/api"
	"github.com/smartpt/smartpt/internal/config"
	"github.com/smartpt/smartpt/internal/exepages"
	"github.com/smartpt/smartpt/internal/heapfloor"
	"github.com/smartpt/smartpt/internal/notify/email"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendorhttp"
)

// Timeouts of the HTTP server against slow and idle clients. WriteTimeout
// exceeds the API's action timeout, so that the response to a slow vendor
// call is still written.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 90 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	actionTimeout     = 60 * time.Second
	shutdownTimeout   = 30 * time.Second // for in-flight requests, then again for the engine's running jobs
)

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.newFlags("serve", "serve [--config FILE] [--data DIR | --database-url URL]")
	configPath := fs.String("config", c.getenv("SMARTPT_CONFIG"), "YAML configuration `FILE`; SMARTPT_* variables override its values (env SMARTPT_CONFIG)")
	sf := c.addStoreFlags(fs)
	addr := fs.String("addr", "", "listen address `HOST:PORT`; overrides listen in the file and SMARTPT_LISTEN")
	if _, err := parse(fs, args); err != nil {
		return err
	}

	// The store flags take their defaults from the same variables as the
	// file's settings, so a flag value differing from its variable was typed.
	getenv := func(name string) string {
		switch name {
		case "SMARTPT_DATA_DIR":
			return sf.dataDir
		case "SMARTPT_DATABASE_URL":
			return sf.databaseURL
		case "SMARTPT_MASTER_KEY_FILE":
			return sf.masterKeyFile
		case "SMARTPT_LISTEN":
			if *addr != "" {
				return *addr
			}
		}
		return c.getenv(name)
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		return err
	}
	logger, err := cfg.Log.NewLogger(c.stderr)
	if err != nil {
		return err
	}
	proxies, _ := cfg.Proxies()              // checked by Load
	memoryLimit, _ := cfg.MemoryLimitBytes() // checked by Load
	applyMemoryLimit(memoryLimit, logger)
	applyGCPercent(cfg.GCPercent, c.getenv("GOGC"), logger)
	gcFloor, _ := cfg.GCMemoryFloorBytes() // checked by Load
	if floor := applyGCMemoryFloor(gcFloor, cfg.GCPercent, c.getenv("GOGC"), logger); floor != nil {
		defer floor.Stop()
	}

	stores := storeFlags{
		dataDir: cfg.DataDir, databaseURL: cfg.DatabaseURL, masterKeyFile: cfg.MasterKeyFile,
		vendorHTTP:   vendorhttp.Options{MaxConnsPerHost: cfg.VendorMaxConnsPerHost},
		poolMaxConns: cfg.PoolMaxConns,
	}
	a, err := stores.open(ctx, c.getenv, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	a.tenants.CacheKeyChecks(cfg.KeyCacheTTLOrDefault())

	serverMail, err := serverMailConfig(ctx, cfg.SMTP, a.resolver, logger)
	if err != nil {
		return err
	}

	if err := startProfiler(ctx, getenv("SMARTPT_PPROF_ADDR"), logger); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return runServer(ctx, a, ln, serverOptions{
		mail:      serverMail,
		outboxDir: cfg.OutboxDir,
		proxies:   proxies,
		maxActive: cfg.MaxConcurrentActions,
		certFile:  cfg.TLS.CertFile,
		keyFile:   cfg.TLS.KeyFile,
		engine: func(ec *action.Config) {
			e := cfg.Engine
			ec.DispatchTimeout, ec.ConfirmDeadline = e.DispatchTimeout, e.ConfirmDeadline
			ec.PollMin, ec.PollMax = e.PollMin, e.PollMax
			ec.SweepInterval, ec.SweepSlack = e.SweepInterval, e.SweepSlack
			ec.JobPollInterval, ec.LeaseSlack = e.JobPollInterval, e.LeaseSlack
		},
		listening: func(baseURL string) {
			if c.listening != nil {
				c.listening(baseURL, "")
			}
		},
	})
}

// applyMemoryLimit sets the Go runtime's soft memory limit to limit bytes
// when limit is above 0. Otherwise the limit stays as GOMEMLIMIT set it:
// none unless the variable is set.
func applyMemoryLimit(limit int64, logger *slog.Logger) {
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	logger.Info("Go memory limit set from memory_limit", "memory_limit_bytes", limit)
}

// applyGCPercent sets the garbage collector's target percentage: configured
// (gc_percent) when above 0, otherwise config.DefaultGCPercent unless the
// GOGC variable set one, which then stays as the runtime read it.
func applyGCPercent(configured int, gogc string, logger *slog.Logger) {
	switch {
	case configured > 0:
		debug.SetGCPercent(configured)
		logger.Info("Go GC percentage set from gc_percent", "gc_percent", configured)
	case gogc == "":
		debug.SetGCPercent(config.DefaultGCPercent)
	}
}

// applyGCMemoryFloor starts a heapfloor.Floor of floor bytes with the GC
// percentage that applyGCPercent chose, and returns it. It returns nil
// when floor is 0, or when the GOGC variable alone sets the percentage,
// so that an operator who sets GOGC gets the collector that GOGC
// describes. It logs the floor in force, which the memory limit caps.
func applyGCMemoryFloor(floor int64, configured int, gogc string, logger *slog.Logger) *heapfloor.Floor {
	if floor <= 0 {
		return nil
	}
	percent := configured
	if percent == 0 {
		if gogc != "" {
			logger.Info("gc_memory_floor not applied because GOGC sets the GC percentage; set gc_percent to apply it",
				"gc_memory_floor_bytes", floor, "GOGC", gogc)
			return nil
		}
		percent = config.DefaultGCPercent
	}

	f := heapfloor.Start(uint64(floor), percent)
	if f.Bytes() < uint64(floor) {
		logger.Info("gc_memory_floor lowered to the memory limit", "gc_memory_floor_bytes", floor, "memory_limit_bytes", f.Bytes())
	}
	logger.Info("Go garbage collector runs from gc_memory_floor up", "gc_memory_floor_bytes", f.Bytes(), "gc_percent", percent)
	return f
}

// serverMailConfig resolves the server relay's password when it is a secret
// reference.
func serverMailConfig(ctx context.Context, s config.SMTP, resolver *secret.Resolver, logger *slog.Logger) (email.Config, error) {
	ec := email.Config{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password, From: s.From, TLS: s.TLS, Logger: logger}
	if s.Password != "" && secret.IsReference(s.Password) {
		value, err := resolver.Resolve(ctx, s.Password)
		if err != nil {
			return email.Config{}, fmt.Errorf("smtp.password: %w", err)
		}
		ec.Password = value
	}
	return ec, nil
}

type serverOptions struct {
	mail              email.Config
	outboxDir         string // empty means DATA_DIR/outbox
	proxies           []netip.Prefix
	maxActive         int // api.Config.MaxConcurrentActions; 0 means its default
	certFile, keyFile string

	// engine tunes the engine, for the demo's short confirmation polls.
	engine func(*action.Config)
	// listening is called once the server accepts connections.
	listening func(baseURL string)

	// engineStopTimeout bounds the wait for the engine's running jobs at
	// shutdown; zero means shutdownTimeout. A job cut short is resumed by
	// the next start.
	engineStopTimeout time.Duration
}

// runServer starts the engine and serves the API on ln until ctx ends, then
// finishes in-flight requests and stops the engine.
func runServer(ctx context.Context, a *app, ln net.Listener, opts serverOptions) error {
	logger := a.logger

	// Load the certificate before anything announces the server, so that a
	// missing or invalid file fails the start with its name.
	var tlsConfig *tls.Config
	if opts.certFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.certFile, opts.keyFile)
		if err != nil {
			return fmt.Errorf("load the TLS certificate %s and key %s: %w", opts.certFile, opts.keyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else if !isLoopback(ln.Addr()) {
		logger.Warn("serving plain HTTP on a non-loopback address: company keys and requests cross the network unencrypted; set tls.cert_file and tls.key_file, or put a TLS proxy in front", "addr", ln.Addr().String())
	}

	outbox := opts.outboxDir
	if outbox == "" {
		outbox = filepath.Join(a.dataDir, "outbox")
	}
	mail := newMailers(a.tenants, opts.mail, outbox, logger)

	engineCfg := action.Config{
		DB: a.db, Tenants: a.tenants, Audit: a.audit, Sealer: a.sealer, HTTP: a.pool, Logger: logger,
		MailerFor: mail.For,
	}
	if opts.engine != nil {
		opts.engine(&engineCfg)
	}
	engine, err := action.New(engineCfg)
	if err != nil {
		return fmt.Errorf("build the action engine: %w", err)
	}
	if err := engine.Start(ctx); err != nil {
		return fmt.Errorf("start the action engine: %w", err)
	}
	defer func() {
		timeout := opts.engineStopTimeout
		if timeout <= 0 {
			timeout = shutdownTimeout
		}
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if err := engine.Stop(stopCtx); err != nil {
			logger.Error("stopping the action engine failed", "error", err)
		}
	}()

	registry := prometheus.NewRegistry()
	if err := registerStoreMetrics(registry, a.db); err != nil {
		return err
	}
	handler, err := api.New(api.Config{
		Registry:       registry,
		Executor:       engine,
		Auth:           a.tenants,
		AuthFailures:   a.audit,
		Ready:          a.db.Ping,
		Logger:         logger,
		TrustedProxies: opts.proxies,
		ActionTimeout:  actionTimeout,

		MaxConcurrentActions: opts.maxActive,
	})
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}

	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	baseURL := scheme + "://" + ln.Addr().String()

	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	logger.Info("serving the SmartPT API", "url", baseURL, "store", a.db.Dialect)
	releaseStartupPages(logger)
	if opts.listening != nil {
		opts.listening(baseURL)
	}

	select {
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}

	logger.Info("shutting down: finishing in-flight requests", "timeout", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down the API server: %w", err)
	}
	logger.Info("API server stopped")
	return nil
}

// releaseStartupPages drops the mappings of the binary's code and
// read-only data once start-up is over (package exepages), so that the pages
// only start-up touched leave the RSS: about 4 MiB of the peak at 1,000
// connections (docs/BENCHMARKS.md, section 22). A failure costs only that
// memory, so it is logged and the server goes on.
func releaseStartupPages(logger *slog.Logger) {
	released, err := exepages.Release()
	if err != nil {
		logger.Warn("could not drop the start-up pages of the binary; the server goes on with them resident", "error", err)
		return
	}
	logger.Debug("dropped the mappings of the binary's start-up pages", "bytes", released)
}

// isLoopback reports whether addr is a TCP address on the loopback
// interface.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// registerStoreMetrics exposes the store's group commit counters.
func registerStoreMetrics(reg prometheus.Registerer, db *store.DB) error {
	groups := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "smartpt_store_transactions_total",
		Help: "Database transactions run by group commit; each holds one or more write operations.",
	}, func() float64 { g, _ := db.GroupStats(); return float64(g) })
	calls := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "smartpt_store_writes_total",
		Help: "Write operations (an action step, an audit event or an administration change each) run through group commit, failed ones included.",
	}, func() float64 { _, c := db.GroupStats(); return float64(c) })
	statements := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "smartpt_store_committer_statements_total",
		Help: "Statements, BEGIN and COMMIT included, that group commit sent to PostgreSQL, each a round trip to the server; 0 on SQLite.",
	}, func() float64 { return float64(db.CommitterStatements()) })
	for _, c := range []prometheus.Collector{groups, calls, statements} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register store metrics: %w", err)
		}
	}
	return nil
}
