package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/api"
	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/faultproxy"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// options shape one fault run.
type options struct {
	dialect      store.Dialect
	companies    int
	rate         float64 // fault rate of every proxy
	seed         uint64
	faults       []faultproxy.Fault
	retryAfter   []faultproxy.RetryAfterForm
	pendingDelay time.Duration // how long a simulated vendor action stays pending
	stallMax     time.Duration // maximum time the proxy holds a stalled response
	apiTimeout   time.Duration // the API's ActionTimeout; zero means 30 s
	kinds        []vendor.Kind // the vendors to connect; empty means every profile

	// exempt keeps the requests it returns true for free of faults.
	exempt func(r *http.Request) bool

	// agentDelay is how long a Wazuh agent takes to report its result.
	agentDelay time.Duration
}

// company is one tenant of the run.
type company struct {
	name string
	id   string
	key  string
}

// integration is one company's vendor: its simulator behind a fault proxy.
type integration struct {
	company *company
	profile Profile
	sim     *simharness.Running
	proxy   *faultproxy.Server
}

// harness is the gateway (API, engine, store, audit trail) with its vendor
// integrations, all on loopback.
type harness struct {
	t            *testing.T
	opts         options
	db           *store.DB
	tenants      *tenant.Service
	audit        *audit.Log
	engine       *action.Engine
	apiURL       string
	companies    []*company
	integrations []*integration
	client       *http.Client

	reporter *wazuhReporter
}

func newHarness(t *testing.T, opts options) *harness {
	t.Helper()
	ctx := context.Background()

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SMARTPT_FAULT_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	db := storetest.Open(t, opts.dialect)
	sealer, err := secret.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, opts: opts, db: db,
		tenants: tenant.New(db, sealer, &secret.Resolver{}),
		audit:   audit.New(db),
		client:  &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128}},
	}

	// A one-second attempt timeout makes a stalled vendor response cost a
	// second, and a two-second cap makes an absurd Retry-After cost two
	// seconds rather than the production cap of two minutes.
	pool := vendorhttp.NewPoolWithOptions(logger, vendorhttp.Options{Timeout: time.Second, MaxRetryAfter: 2 * time.Second})

	// Short engine timings, so that confirmations and the settling of lost
	// responses finish within seconds.
	engine, err := action.New(action.Config{
		DB: db, Tenants: h.tenants, Audit: h.audit, Sealer: sealer, HTTP: pool, Logger: logger,
		DispatchTimeout: 3 * time.Second,
		ConfirmDeadline: 10 * time.Second,
		PollMin:         100 * time.Millisecond,
		PollMax:         time.Second,
		SweepInterval:   500 * time.Millisecond,
		SweepSlack:      3 * time.Second,
		JobPollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	h.engine = engine
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		engine.Stop(stopCtx)
	})

	apiTimeout := opts.apiTimeout
	if apiTimeout <= 0 {
		apiTimeout = 30 * time.Second
	}
	handler, err := api.New(api.Config{Executor: engine, Auth: h.tenants, AuthFailures: h.audit, Logger: logger, ActionTimeout: apiTimeout})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h.apiURL = srv.URL

	for i := 0; i < opts.companies; i++ {
		c := &company{name: fmt.Sprintf("fault-co-%02d", i+1)}
		co, key, err := h.tenants.CreateCompany(ctx, c.name, "")
		if err != nil {
			t.Fatalf("create company %s: %v", c.name, err)
		}
		c.id, c.key = co.ID, key
		h.companies = append(h.companies, c)
		for _, p := range Profiles {
			if len(opts.kinds) > 0 && !slices.Contains(opts.kinds, p.Kind) {
				continue
			}
			h.integrations = append(h.integrations, h.connect(ctx, c, p, uint64(i)*31+uint64(len(h.integrations))))
		}
	}

	h.reporter = startWazuhReporter(h)
	return h
}

// connect starts the company's simulator of p behind a fault proxy and
// points the company's integration at the proxy.
func (h *harness) connect(ctx context.Context, c *company, p Profile, salt uint64) *integration {
	t := h.t
	sim, ok := simharness.Lookup(p.Kind)
	if !ok {
		t.Fatalf("no simulator registered for %s", p.Kind)
	}
	running, err := sim.Start(simharness.Options{PendingDelay: h.opts.pendingDelay, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("start %s simulator: %v", p.Kind, err)
	}
	t.Cleanup(running.Close)

	proxy, err := faultproxy.Start(faultproxy.Config{
		Upstream: running.URL, Rate: h.opts.rate, Seed: h.opts.seed ^ salt,
		Faults: h.opts.faults, RetryAfter: h.opts.retryAfter, Envelope: p.Envelope, StallMax: h.opts.stallMax,
		Exempt: h.opts.exempt,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)

	// Every setting that names the simulator names the proxy instead.
	settings := map[string]string{}
	for k, v := range running.Settings {
		settings[k] = strings.ReplaceAll(v, running.URL, proxy.URL)
	}
	if err := h.tenants.SetIntegration(ctx, c.name, p.Service, p.Kind, settings, running.Secrets); err != nil {
		t.Fatalf("configure %s for %s: %v", p.Kind, c.name, err)
	}
	return &integration{company: c, profile: p, sim: running, proxy: proxy}
}

// setRate changes the fault rate of every proxy.
func (h *harness) setRate(rate float64) {
	for _, in := range h.integrations {
		in.proxy.SetRate(rate)
	}
}

// request is one API call of the workload.
type request struct {
	id      string // X-Request-Id
	company *company
	profile Profile
	action  vendor.ActionKind
	host    string
}

// response is the gateway's reply to one request.
type response struct {
	status  int
	elapsed time.Duration
	err     error // transport error: the request got no response
	body    struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
		Detail     string `json:"detail"`
		Body       struct {
			ActionID     string       `json:"action_id"`
			State        action.State `json:"state"`
			Deduplicated bool         `json:"deduplicated"`
		} `json:"body"`
	}
}

// send posts one action request.
func (h *harness) send(ctx context.Context, req request) response {
	payload, _ := json.Marshal(map[string]any{"action": string(req.action), "Email": "soc@fault.example", "agent_id": req.host})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, h.apiURL+req.profile.Route, bytes.NewReader(payload))
	if err != nil {
		return response{err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("x-sha256", req.company.key)
	hreq.Header.Set("X-Request-Id", req.id)

	start := time.Now()
	resp, err := h.client.Do(hreq)
	if err != nil {
		return response{err: err, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, elapsed: time.Since(start)}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		out.err = err
		return out
	}
	if err := json.Unmarshal(data, &out.body); err != nil {
		out.err = fmt.Errorf("response is not JSON: %w: %q", err, data)
	}
	return out
}

// wazuhReporter plays the part of the Wazuh agents: Wazuh's API never reports
// whether an active response ran, so the agent's program reports its result
// to /v1/wazuh/events through the manager. The reporter posts a success
// event for every active response the simulator accepted.
type wazuhReporter struct {
	h    *harness
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	events map[int]int // guarded by mu; gateway status -> count
}

func startWazuhReporter(h *harness) *wazuhReporter {
	r := &wazuhReporter{h: h, stop: make(chan struct{}), done: make(chan struct{}), events: map[int]int{}}
	go r.run()
	h.t.Cleanup(r.close)
	return r
}

func (r *wazuhReporter) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

func (r *wazuhReporter) run() {
	defer close(r.done)
	seen := map[*integration]int{}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		for _, in := range r.h.integrations {
			if in.profile.Kind != vendor.KindWazuh {
				continue
			}
			exs := in.proxy.Exchanges()
			done := seen[in]
			for _, ex := range exs[done:] {
				if time.Since(ex.Time) < r.h.opts.agentDelay {
					break
				}
				done++
				w, ok := in.profile.Write(ex)
				if !ok || !ex.Forwarded || ex.Status != http.StatusOK {
					continue
				}
				r.report(in.company, w)
			}
			seen[in] = done
		}
	}
}

func (r *wazuhReporter) report(c *company, w VendorWrite) {
	payload, _ := json.Marshal(map[string]string{"agent_id": w.Target, "action": string(w.Action), "result": "success", "detail": "fault run agent"})
	req, _ := http.NewRequest(http.MethodPost, r.h.apiURL+"/v1/wazuh/events", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-sha256", c.key)
	status := 0
	if resp, err := r.h.client.Do(req); err == nil {
		status = resp.StatusCode
		resp.Body.Close()
	}
	r.mu.Lock()
	r.events[status]++
	r.mu.Unlock()
}

func (r *wazuhReporter) counts() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int]int{}
	for k, v := range r.events {
		out[k] = v
	}
	return out
}
