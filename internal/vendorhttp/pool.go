package vendorhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a vendor rate limit: Count requests per Per.
type Limit struct {
	Count int
	Per   time.Duration
}

// Budget is the rate budget of one company's integration. Each Limit is a
// sliding window that allows at most Count calls in any span of Per, behind
// a token bucket refilled at Count/Per per second that holds a tenth of
// Count. The window keeps the vendor's limit; the bucket spreads the calls
// over the window, so that a long burst does not spend the whole window at
// once and leave the next calls waiting for up to Per. Above maxWindowCount
// a Limit is the token bucket alone, of size Count. A request waits for
// every limit, so a burst from one company waits on its own budget and
// never spends another company's.
//
// A vendor can also report that its own budget is spent (Cisco's
// X-RateLimit-Remaining: 0, Wazuh's error 6001). Park then holds every
// request of the integration until the vendor's budget renews.
type Budget struct {
	limits   []Limit // as given to NewBudget
	limiters []waiter

	mu          sync.Mutex // guards parkedUntil
	parkedUntil time.Time

	sleep func(ctx context.Context, d time.Duration) error // replaced in tests
}

// NewBudget returns a budget enforcing every limit.
func NewBudget(limits []Limit) *Budget {
	b := &Budget{limits: append([]Limit(nil), limits...), sleep: sleepCtx}
	for _, l := range limits {
		if l.Count <= 0 || l.Per <= 0 {
			continue
		}
		every := l.Per / time.Duration(l.Count)
		if l.Count <= maxWindowCount {
			b.limiters = append(b.limiters,
				rate.NewLimiter(rate.Every(every), max(1, l.Count/10)),
				newSlidingWindow(l.Count, l.Per))
			continue
		}
		b.limiters = append(b.limiters, rate.NewLimiter(rate.Every(every), l.Count))
	}
	return b
}

// waiter is one limit of a budget.
type waiter interface {
	Wait(ctx context.Context) error
}

// Park holds every request until t.
func (b *Budget) Park(t time.Time) {
	b.mu.Lock()
	if t.After(b.parkedUntil) {
		b.parkedUntil = t
	}
	b.mu.Unlock()
}

// Wait blocks until the budget is not parked and every bucket grants a
// token, or ctx ends. When the budget cannot allow the call before ctx's
// deadline, Wait returns *BudgetError at once instead of sleeping until the
// deadline.
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	until := b.parkedUntil
	b.mu.Unlock()
	if d := time.Until(until); d > 0 {
		if deadline, ok := ctx.Deadline(); ok && until.After(deadline) {
			return &BudgetError{Wait: d}
		}
		if err := b.sleep(ctx, d); err != nil {
			return err
		}
	}
	for _, l := range b.limiters {
		if err := l.Wait(ctx); err != nil {
			return asBudgetError(ctx, l, err)
		}
	}
	return nil
}

// BudgetError is the rate budget's rejection of a call that it could
// allow only after the caller's deadline. It matches
// context.DeadlineExceeded and ErrRateBudget.
type BudgetError struct {
	// Wait is the time until the budget would allow the call, as far as
	// the budget can tell; 0 when unknown.
	Wait time.Duration
}

// ErrRateBudget matches a *BudgetError anywhere in an error's chain.
var ErrRateBudget = errors.New("the integration's rate budget allows no call before the deadline")

func (e *BudgetError) Error() string {
	if e.Wait <= 0 {
		return ErrRateBudget.Error()
	}
	return fmt.Sprintf("%s: the next call is allowed in %s", ErrRateBudget, e.Wait.Round(time.Second))
}

func (e *BudgetError) Is(target error) bool {
	return target == ErrRateBudget || target == context.DeadlineExceeded
}

// asBudgetError turns a limiter's rejection of a wait past ctx's deadline
// into *BudgetError. x/time/rate returns that rejection at once, before
// the deadline, with an error that wraps nothing, so callers would take an
// out-of-time request for a failure of the vendor. An error after ctx
// ended is returned as it is.
func asBudgetError(ctx context.Context, l waiter, err error) error {
	if _, hasDeadline := ctx.Deadline(); !hasDeadline || ctx.Err() != nil {
		return err
	}
	var be *BudgetError
	if errors.As(err, &be) {
		return be
	}
	out := &BudgetError{}
	if lim, ok := l.(*rate.Limiter); ok && lim.Limit() > 0 {
		// The time until the bucket holds one token. Calls already waiting
		// have taken tokens ahead, so this is a lower bound.
		missing := 1 - lim.Tokens()
		out.Wait = time.Duration(missing / float64(lim.Limit()) * float64(time.Second))
	}
	return out
}

// Options tune every client of a pool. Zero fields keep the defaults.
type Options struct {
	// Timeout bounds one attempt of a client whose Config.Timeout is zero.
	// Zero means DefaultTimeout.
	Timeout time.Duration

	// MaxRetryAfter caps the wait that a Retry-After or rate limit header
	// requests, below the package's MaxRetryAfter. Zero means
	// MaxRetryAfter. Tests lower it so that an absurd header costs seconds.
	MaxRetryAfter time.Duration

	// MaxConnsPerHost bounds the connections to one vendor host, for all
	// companies together. A call beyond it waits for a free connection.
	// Zero means DefaultMaxConnsPerHost.
	MaxConnsPerHost int
}

// Pool hands out clients and keeps one rate budget per company and
// integration for the life of the process.
type Pool struct {
	logger    *slog.Logger
	transport http.RoundTripper
	opts      Options

	mu       sync.Mutex
	budgets  map[string]*Budget  // guarded by mu; key: company "/" integration
	breakers map[string]*breaker // guarded by mu; same key
}

// DefaultMaxConnsPerHost is the default of Options.MaxConnsPerHost. Without
// a bound, 1,000 concurrent actions opened 1,000 connections to the vendor
// and closed most of them again after one call, because only the idle ones
// up to the same number are kept. Each open connection holds 8 KiB of
// buffers and two goroutines. At 500 ms a call, 64 connections carry 128
// calls a second to one host, more than the documented rate limits of the
// supported vendors allow one company.
const DefaultMaxConnsPerHost = 64

// NewPool returns a pool sharing one connection-pooling transport.
func NewPool(logger *slog.Logger) *Pool { return NewPoolWithOptions(logger, Options{}) }

// NewPoolWithOptions returns a pool whose clients take opts.
func NewPoolWithOptions(logger *slog.Logger, opts Options) *Pool {
	if logger == nil {
		logger = slog.Default()
	}
	if opts.MaxConnsPerHost <= 0 {
		opts.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          max(256, opts.MaxConnsPerHost),
		MaxIdleConnsPerHost:   opts.MaxConnsPerHost,
		MaxConnsPerHost:       opts.MaxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRetryAfter <= 0 || opts.MaxRetryAfter > MaxRetryAfter {
		opts.MaxRetryAfter = MaxRetryAfter
	}
	return &Pool{logger: logger, transport: transport, opts: opts, budgets: map[string]*Budget{}, breakers: map[string]*breaker{}}
}

// Client returns a client for one company's integration. Clients with the
// same company and integration share one rate budget and one circuit
// breaker. The settings of the first call win, except that a call with other
// Limits starts a new budget, because the operator changed the integration's
// rate settings. Empty Config.Limits select DefaultLimits(cfg.Vendor).
func (p *Pool) Client(company, integration string, cfg Config) *Client {
	key := company + "/" + integration
	if len(cfg.Limits) == 0 {
		cfg.Limits = DefaultLimits(cfg.Vendor)
	}

	p.mu.Lock()
	budget, ok := p.budgets[key]
	if !ok || !slices.Equal(budget.limits, cfg.Limits) {
		// A new integration, or its rate settings changed.
		budget = NewBudget(cfg.Limits)
		p.budgets[key] = budget
	}
	brk, ok := p.breakers[key]
	if !ok {
		brk = newBreaker(cfg.BreakerThreshold, cfg.BreakerCooldown)
		p.breakers[key] = brk
	}
	p.mu.Unlock()

	transport := p.transport
	if cfg.TLS != nil {
		t := p.transport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg.TLS
		transport = t
	}
	return &Client{
		cfg:     cfg,
		http:    &http.Client{Transport: transport, CheckRedirect: noRedirect},
		budget:  budget,
		breaker: brk,
		logger:  p.logger.With("company", company, "integration", integration),
		sleep:   sleepCtx,

		defaultTimeout: p.opts.Timeout,
		maxWait:        p.opts.MaxRetryAfter,
	}
}

// noRedirect stops redirects: a vendor API that redirects is misconfigured,
// and following one could send credentials to another host.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
