package vendorhttp

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a vendor rate limit: Count requests per Per.
type Limit struct {
	Count int
	Per   time.Duration
}

// Budget is the rate budget of one company's integration: a token bucket per
// Limit, each of size Count refilled at Count/Per per second. A request waits
// for a token of every bucket, so a burst from one company waits on its own
// budget and never spends another company's.
//
// A vendor can also report that its own budget is spent (Cisco's
// X-RateLimit-Remaining: 0, Wazuh's error 6001). Park then holds every
// request of the integration until the vendor's budget renews.
type Budget struct {
	limiters []*rate.Limiter

	mu          sync.Mutex // guards parkedUntil
	parkedUntil time.Time

	sleep func(ctx context.Context, d time.Duration) error // replaced in tests
}

// NewBudget returns a budget enforcing every limit.
func NewBudget(limits []Limit) *Budget {
	b := &Budget{sleep: sleepCtx}
	for _, l := range limits {
		if l.Count <= 0 || l.Per <= 0 {
			continue
		}
		every := l.Per / time.Duration(l.Count)
		b.limiters = append(b.limiters, rate.NewLimiter(rate.Every(every), l.Count))
	}
	return b
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
// token, or ctx ends.
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	until := b.parkedUntil
	b.mu.Unlock()
	if d := time.Until(until); d > 0 {
		if err := b.sleep(ctx, d); err != nil {
			return err
		}
	}
	for _, l := range b.limiters {
		if err := l.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Pool hands out clients and keeps one rate budget per company and
// integration for the life of the process.
type Pool struct {
	logger    *slog.Logger
	transport http.RoundTripper

	mu       sync.Mutex
	budgets  map[string]*Budget  // guarded by mu; key: company "/" integration
	breakers map[string]*breaker // guarded by mu; same key
}

// NewPool returns a pool sharing one connection-pooling transport.
func NewPool(logger *slog.Logger) *Pool {
	if logger == nil {
		logger = slog.Default()
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Pool{logger: logger, transport: transport, budgets: map[string]*Budget{}, breakers: map[string]*breaker{}}
}

// Client returns a client for one company's integration. Clients with the
// same company and integration share one rate budget and one circuit
// breaker; the settings of the first call win. Empty Config.Limits select
// DefaultLimits(cfg.Vendor).
func (p *Pool) Client(company, integration string, cfg Config) *Client {
	key := company + "/" + integration
	if len(cfg.Limits) == 0 {
		cfg.Limits = DefaultLimits(cfg.Vendor)
	}

	p.mu.Lock()
	budget, ok := p.budgets[key]
	if !ok {
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
	}
}

// noRedirect stops redirects: a vendor API that redirects is misconfigured,
// and following one could send credentials to another host.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
