package action

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/sync/singleflight"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/notify"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Config holds what the engine is built from. The durations are optional:
// zero selects the default named beside each.
type Config struct {
	DB      *store.DB
	Tenants *tenant.Service
	Audit   *audit.Log
	Sealer  *secret.Sealer
	HTTP    *vendorhttp.Pool
	Logger  *slog.Logger

	// MailerFor returns the mailer for a company's reports and
	// notifications.
	MailerFor func(ctx context.Context, companyID string) (notify.Mailer, error)

	// DispatchTimeout bounds one isolate, release, block or unblock vendor
	// call, retries included. Default 2 minutes.
	DispatchTimeout time.Duration

	// ConfirmDeadline is how long a pending vendor action is polled before
	// it is recorded as expired. Default 15 minutes.
	ConfirmDeadline time.Duration

	// PollMin and PollMax bound the wait between two confirmation polls;
	// the wait doubles from PollMin up to PollMax. Defaults 2 s and 60 s.
	PollMin, PollMax time.Duration

	// SweepInterval is how often the engine looks for unfinished actions
	// whose confirmation job was lost (a killed process) and schedules a new
	// one; SweepSlack is how late an action's check must be before that
	// happens. Defaults 30 s and 60 s.
	SweepInterval, SweepSlack time.Duration

	// JobPollInterval is how often the River workers look for due jobs.
	// Default 1 s.
	JobPollInterval time.Duration

	// LeaseSlack is added to DispatchTimeout to give the lease of an
	// action whose vendor call is running: until the lease ends, no other
	// worker or replica settles the action. A process killed mid-call
	// leaves its actions to be settled once the lease ends. Default 30 s.
	LeaseSlack time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DispatchTimeout, 2*time.Minute)
	def(&c.ConfirmDeadline, 15*time.Minute)
	def(&c.PollMin, 2*time.Second)
	def(&c.PollMax, time.Minute)
	def(&c.SweepInterval, 30*time.Second)
	def(&c.SweepSlack, time.Minute)
	def(&c.JobPollInterval, time.Second)
	def(&c.LeaseSlack, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// integrationSource, auditTrail and sealer are the parts of tenant.Service,
// audit.Log and secret.Sealer the engine uses.
type integrationSource interface {
	Integration(ctx context.Context, companyID string, svc vendor.Service) (vendor.Config, time.Time, error)
}

// integrationVersioner is the cheap check of tenant.Service: the kind and
// the time of the last change, without opening secrets.
type integrationVersioner interface {
	IntegrationVersion(ctx context.Context, companyID string, svc vendor.Service) (vendor.Kind, time.Time, error)
}

type auditTrail interface {
	Append(ctx context.Context, ev audit.Event) (audit.Event, error)
	AppendTx(ctx context.Context, tx *sql.Tx, ev audit.Event) (audit.Event, error)
	AppendManyTx(ctx context.Context, tx *sql.Tx, evs []audit.Event) error
	AppendManyWithTx(ctx context.Context, tx *sql.Tx, stmts []audit.Statement, evs []audit.Event) error
}

type sealer interface {
	Seal(plaintext string) (string, error)
	Open(sealed string) (string, error)
}

// Engine implements Executor. It stores every request as an action before
// any vendor call, serialises writes per target, sends each write to the
// vendor once, and confirms pending vendor actions with durable River jobs.
type Engine struct {
	cfg          Config
	db           *store.DB
	log          *slog.Logger
	integrations integrationSource
	audit        auditTrail
	sealer       sealer

	clientsMu sync.Mutex
	clients   map[string]*cachedClient // guarded by clientsMu; key: company "/" service

	locks  keyedMutex
	flight singleflight.Group

	river       *river.Client[*sql.Tx]
	riverCancel context.CancelFunc
	stopSweep   context.CancelFunc
	sweepDone   chan struct{}
	stopping    chan struct{} // closed by Stop, so that waiting jobs snooze at once

	// afterEventLookup, set only by tests, runs in ConfirmExternal between
	// reading the action and updating it.
	afterEventLookup func()
}

var _ Executor = (*Engine)(nil)

type cachedClient struct {
	updatedAt   time.Time
	kind        vendor.Kind
	containment vendor.Containment
	directory   vendor.Directory
}

// New builds an engine. Call Start before Execute.
func New(cfg Config) (*Engine, error) {
	if cfg.DB == nil {
		return nil, errors.New("action engine: no database")
	}
	cfg.defaults()
	e := &Engine{
		cfg:     cfg,
		db:      cfg.DB,
		log:     cfg.Logger,
		clients: map[string]*cachedClient{},
	}
	// The assertions keep the engine building while those packages grow.
	if src, ok := any(cfg.Tenants).(integrationSource); ok && cfg.Tenants != nil {
		e.integrations = src
	}
	if trail, ok := any(cfg.Audit).(auditTrail); ok && cfg.Audit != nil {
		e.audit = trail
	}
	if s, ok := any(cfg.Sealer).(sealer); ok && cfg.Sealer != nil {
		e.sealer = s
	}
	if cfg.HTTP == nil {
		e.cfg.HTTP = vendorhttp.NewPool(cfg.Logger)
	}
	return e, nil
}

// Start migrates River's tables, starts the confirmation workers and the
// sweeper, and resumes unfinished confirmations left by a previous process.
// ctx bounds the start only.
func (e *Engine) Start(ctx context.Context) error {
	if e.integrations == nil || e.audit == nil {
		return errors.New("action engine: Tenants and Audit are required")
	}
	if err := e.startRiver(ctx); err != nil {
		return err
	}

	sweepCtx, cancel := context.WithCancel(context.Background())
	e.stopSweep = cancel
	e.stopping = make(chan struct{})
	e.sweepDone = make(chan struct{})
	go e.sweepLoop(sweepCtx)

	e.log.Info("action engine started", "dialect", e.db.Dialect)
	return nil
}

// Stop stops the sweeper and the workers, waiting for running jobs until
// ctx ends. A job cut short is resumed by the next process.
func (e *Engine) Stop(ctx context.Context) error {
	if e.stopSweep != nil {
		e.stopSweep()
		<-e.sweepDone
	}
	if e.river == nil {
		return nil
	}
	select {
	case <-e.stopping: // stopped before
	default:
		close(e.stopping)
	}
	err := e.river.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		// Cancel the jobs that did not finish in time.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = e.river.StopAndCancel(cctx)
	}
	e.riverCancel()
	e.log.Info("action engine stopped")
	return err
}

// client returns the company's vendor client for svc, building it when the
// integration changed since the cached one was built. known is the
// integration's revision when the caller read it in this request, or zero.
func (e *Engine) client(ctx context.Context, companyID string, svc vendor.Service, known tenant.Revision) (*cachedClient, error) {
	key := companyID + "/" + string(svc)
	if rev, ok := e.integrationRevision(ctx, companyID, svc, known); ok {
		// The client built from the same revision of the integration is
		// kept.
		e.clientsMu.Lock()
		cached, ok := e.clients[key]
		e.clientsMu.Unlock()
		if ok && cached.updatedAt.Equal(rev.UpdatedAt) && cached.kind == rev.Kind {
			return cached, nil
		}
	}

	cfg, updatedAt, err := e.integrations.Integration(ctx, companyID, svc)
	if errors.Is(err, tenant.ErrNotConfigured) {
		return nil, &Error{
			Status: 424,
			Message: fmt.Sprintf("Failed Dependency: no %s integration is configured for this company; "+
				"configure it with 'smartpt integration set --service %s'", svc, svc),
			Err: err,
		}
	}
	if err != nil {
		return nil, &Error{Status: 500, Message: "Internal Server Error: cannot read the " + string(svc) + " integration", Err: err}
	}

	e.clientsMu.Lock()
	cached, ok := e.clients[key]
	e.clientsMu.Unlock()
	if ok && cached.updatedAt.Equal(updatedAt) && cached.kind == cfg.Kind {
		return cached, nil
	}

	factory, ok := vendor.Lookup(cfg.Kind)
	if !ok {
		return nil, &Error{Status: 424, Message: fmt.Sprintf("Failed Dependency: the %s integration names vendor kind %q, which this build does not include", svc, cfg.Kind)}
	}
	deps := vendor.Deps{HTTP: e.cfg.HTTP, Logger: e.log.With("company", companyID, "vendor", cfg.Kind)}
	built := &cachedClient{updatedAt: updatedAt, kind: cfg.Kind}
	switch {
	case factory.NewContainment != nil:
		built.containment, err = factory.NewContainment(cfg, deps)
	case factory.NewDirectory != nil:
		built.directory, err = factory.NewDirectory(cfg, deps)
	default:
		err = fmt.Errorf("vendor kind %q has no client constructor", cfg.Kind)
	}
	if err != nil {
		return nil, &Error{Status: 424, Message: fmt.Sprintf("Failed Dependency: the %s integration's settings are unusable; fix them with 'smartpt integration set --service %s'", svc, svc), Detail: err.Error(), Err: err}
	}

	e.clientsMu.Lock()
	e.clients[key] = built
	e.clientsMu.Unlock()
	return built, nil
}

// integrationRevision returns known when it is set, and otherwise reads
// the revision with the cheap check. It reports false when the check is
// not available or fails; the caller then reads the whole integration,
// whose error names the problem.
func (e *Engine) integrationRevision(ctx context.Context, companyID string, svc vendor.Service, known tenant.Revision) (tenant.Revision, bool) {
	if known.Kind != "" {
		return known, true
	}
	v, ok := e.integrations.(integrationVersioner)
	if !ok {
		return tenant.Revision{}, false
	}
	kind, updatedAt, err := v.IntegrationVersion(ctx, companyID, svc)
	if err != nil {
		return tenant.Revision{}, false
	}
	return tenant.Revision{Kind: kind, UpdatedAt: updatedAt}, true
}

// keyedMutex is a set of mutexes created on demand, one per key, removed
// when no goroutine holds or waits for them.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex // guarded by mu
}

type refMutex struct {
	sync.Mutex
	refs int
}

// Lock locks key and returns its unlock function.
func (k *keyedMutex) Lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*refMutex{}
	}
	m, ok := k.locks[key]
	if !ok {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()

	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		m.refs--
		if m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
