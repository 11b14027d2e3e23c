package vendorhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// faultServer is a loopback vendor API with scripted responses. Each
// request takes the next step of the script, and the last step repeats.
type faultServer struct {
	*httptest.Server
	hits atomic.Int64

	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request)
	times []time.Time
}

func newFaultServer(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) *faultServer {
	fs := &faultServer{steps: steps}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(fs.hits.Add(1))
		fs.mu.Lock()
		fs.times = append(fs.times, time.Now())
		step := fs.steps[min(n, len(fs.steps))-1]
		fs.mu.Unlock()
		step(w, r)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%d}`, code)
	}
}

func body(code int, text string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, text)
	}
}

// reset closes the connection without a response.
func reset(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// stall responds after the client's timeout.
func stall(w http.ResponseWriter, r *http.Request) {
	select {
	case <-time.After(2 * time.Second):
	case <-r.Context().Done():
	}
}

func quietPool() *Pool { return NewPool(slog.New(slog.NewTextHandler(io.Discard, nil))) }

// testClient returns a client whose waits are recorded and shortened to a
// millisecond, so that a Retry-After of minutes costs no test time.
func testClient(t *testing.T, url string, cfg Config) (*Client, *[]time.Duration) {
	cfg.BaseURL = url
	if cfg.Vendor == "" {
		cfg.Vendor = "testvendor"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	c := quietPool().Client("company-"+t.Name(), "integration", cfg)
	var mu sync.Mutex
	waits := &[]time.Duration{}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return sleepCtx(ctx, time.Millisecond)
	}
	c.budget.sleep = func(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, time.Millisecond) }
	return c, waits
}

func TestClient_Retries(t *testing.T) {
	httpDate := func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name       string
		steps      []func(http.ResponseWriter, *http.Request)
		idempotent bool
		wantStatus int // 0: want an error
		wantHits   int64
		wantWait   func(d time.Duration) bool
	}{
		{name: "429 seconds", steps: steps(status(429, "Retry-After", "7"), status(200)), wantStatus: 200, wantHits: 2,
			wantWait: func(d time.Duration) bool { return d == 7*time.Second }},
		{name: "429 fractional seconds", steps: steps(status(429, "Retry-After", "1.5"), status(200)), wantStatus: 200, wantHits: 2,
			wantWait: func(d time.Duration) bool { return d == 1500*time.Millisecond }},
		{name: "429 HTTP date", steps: steps(func(w http.ResponseWriter, r *http.Request) { status(429, "Retry-After", httpDate())(w, r) }, status(200)), wantStatus: 200, wantHits: 2,
			wantWait: func(d time.Duration) bool { return d > time.Second && d <= 3*time.Second }},
		{name: "429 garbage", steps: steps(status(429, "Retry-After", "soon-ish"), status(200)), wantStatus: 200, wantHits: 2,
			wantWait: func(d time.Duration) bool { return d == DefaultThrottleWait }},
		{name: "429 absurd", steps: steps(status(429, "Retry-After", "86400000"), status(200)), wantStatus: 200, wantHits: 2,
			wantWait: func(d time.Duration) bool { return d == MaxRetryAfter }},
		{name: "429 retried for a write", steps: steps(status(429, "Retry-After", "1"), status(201)), wantStatus: 201, wantHits: 2},
		{name: "429 until attempts run out", steps: steps(status(429, "Retry-After", "1")), wantStatus: 429, wantHits: DefaultMaxAttempts},
		{name: "5xx read retried", steps: steps(status(503), status(502), status(200)), idempotent: true, wantStatus: 200, wantHits: 3},
		{name: "5xx write not resent", steps: steps(status(500), status(200)), wantStatus: 500, wantHits: 1},
		{name: "reset read retried", steps: steps(reset, status(200)), idempotent: true, wantStatus: 200, wantHits: 2},
		{name: "reset write not resent", steps: steps(reset, status(200)), wantHits: 1},
		{name: "stall read times out each attempt", steps: steps(stall), idempotent: true, wantHits: DefaultMaxAttempts},
		{name: "stall write not resent", steps: steps(stall, status(200)), wantHits: 1},
		{name: "wazuh 6001", steps: steps(body(429, `{"title":"Wazuh Error","detail":"Maximum number of requests per minute reached","code":6001}`), status(200)), wantStatus: 200, wantHits: 2,
			wantWait: func(d time.Duration) bool { return d == DefaultThrottleWait }},
		{name: "cisco reset on 429", steps: steps(status(429, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "0.2"), status(200)), wantStatus: 200, wantHits: 2,
			wantWait: func(d time.Duration) bool { return d > 0 && d <= 200*time.Millisecond }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFaultServer(t, tc.steps...)
			c, waits := testClient(t, srv.URL, Config{BreakerThreshold: 100})
			method := http.MethodPost
			if tc.idempotent {
				method = http.MethodGet
			}
			resp, err := c.Do(context.Background(), Request{Op: "test call", Method: method, Path: "/x", Idempotent: tc.idempotent})

			switch {
			case tc.wantStatus == 0 && err == nil:
				t.Fatalf("got HTTP %d, want an error", resp.Status)
			case tc.wantStatus == 0:
				var he *Error
				if !errors.As(err, &he) {
					t.Fatalf("error %T %v: want *Error", err, err)
				}
			case err != nil:
				t.Fatalf("error %v: want HTTP %d", err, tc.wantStatus)
			case resp.Status != tc.wantStatus:
				t.Fatalf("HTTP %d: want %d", resp.Status, tc.wantStatus)
			}
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("requests sent %d: want %d", got, tc.wantHits)
			}
			if tc.wantWait != nil && (len(*waits) == 0 || !tc.wantWait((*waits)[0])) {
				t.Errorf("waits %v: first wait not as expected", *waits)
			}
		})
	}
}

func steps(s ...func(http.ResponseWriter, *http.Request)) []func(http.ResponseWriter, *http.Request) {
	return s
}

func TestClient_StallIsTimeout(t *testing.T) {
	srv := newFaultServer(t, stall)
	c, _ := testClient(t, srv.URL, Config{Timeout: 100 * time.Millisecond, MaxAttempts: 1})
	_, err := c.Do(context.Background(), Request{Op: "slow read", Method: http.MethodGet, Idempotent: true})
	var he *Error
	if !errors.As(err, &he) || !he.Timeout {
		t.Fatalf("error %v: want *Error with Timeout", err)
	}
}

func TestClient_OneTokenRenewalUnderConcurrency(t *testing.T) {
	var fetches atomic.Int64
	srv := newFaultServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer token-2" {
			status(401)(w, r)
			return
		}
		status(200)(w, r)
	})
	auth := &TokenAuth{Fetch: func(ctx context.Context) (string, time.Time, error) {
		n := fetches.Add(1)
		return fmt.Sprintf("token-%d", n), time.Now().Add(time.Hour), nil
	}}
	c, _ := testClient(t, srv.URL, Config{Auth: auth})

	// The first token is cached before the burst; the vendor has revoked it.
	if _, err := auth.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	const callers = 50
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Do(context.Background(), Request{Op: "get machine", Method: http.MethodGet, Path: "/m", Idempotent: true})
			if err != nil || resp.Status != 200 {
				failures.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d callers failed: want all to succeed after the renewal", n)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("token fetches %d: want 2 (the first token and exactly one renewal)", n)
	}
}

func TestClient_CiscoRateLimitHeadersParkTheBudget(t *testing.T) {
	for _, prefix := range []string{"X-RateLimit-", "X-Rate-Limit-"} {
		t.Run(prefix, func(t *testing.T) {
			srv := newFaultServer(t, status(200, prefix+"Limit", "3000", prefix+"Remaining", "0", prefix+"Reset", "0.3"), status(200))
			c := quietPool().Client("company", "cisco", Config{BaseURL: srv.URL, Vendor: "cisco"})
			for range 2 {
				if _, err := c.Do(context.Background(), Request{Op: "list computers", Method: http.MethodGet, Idempotent: true}); err != nil {
					t.Fatal(err)
				}
			}
			srv.mu.Lock()
			gap := srv.times[1].Sub(srv.times[0])
			srv.mu.Unlock()
			if gap < 250*time.Millisecond {
				t.Errorf("second request %s after the first: want it held until the reset (300ms)", gap)
			}
		})
	}
}

func TestClient_CircuitBreaker(t *testing.T) {
	healthy := atomic.Bool{}
	srv := newFaultServer(t, func(w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			status(200)(w, r)
			return
		}
		status(503)(w, r)
	})
	c, _ := testClient(t, srv.URL, Config{BreakerThreshold: 2, BreakerCooldown: 200 * time.Millisecond, MaxAttempts: 1})
	call := func() (*Response, error) {
		return c.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet, Idempotent: true})
	}

	for range 2 {
		if resp, err := call(); err != nil || resp.Status != 503 {
			t.Fatalf("got %v %v: want the vendor's 503", resp, err)
		}
	}
	_, err := call()
	if !errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), "testvendor failed 2 times in a row") {
		t.Fatalf("error %v: want a fast failure naming the vendor", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("requests %d: want 2, none while open", n)
	}

	time.Sleep(250 * time.Millisecond)
	healthy.Store(true)
	if resp, err := call(); err != nil || resp.Status != 200 {
		t.Fatalf("probe: %v %v, want 200", resp, err)
	}
	if resp, err := call(); err != nil || resp.Status != 200 {
		t.Fatalf("after the probe: %v %v, want 200", resp, err)
	}
}

func TestClient_SecretsAreRedacted(t *testing.T) {
	srv := newFaultServer(t, reset)
	const secret = "s3cr3t-api-key"
	c, _ := testClient(t, srv.URL, Config{Secrets: []string{secret}, MaxAttempts: 1})
	_, err := c.Do(context.Background(), Request{Op: "login", Method: http.MethodGet, Path: "/login?key=" + secret, Idempotent: true})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains the secret", err)
	}
}

func TestClient_Metrics(t *testing.T) {
	srv := newFaultServer(t, status(503), status(200))
	c, _ := testClient(t, srv.URL, Config{Vendor: "metricsvendor"})
	count := func(outcome string) float64 {
		var m dto.Metric
		if err := callsTotal.WithLabelValues("metricsvendor", "get machine", outcome).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	before := map[string]float64{"server_error": count("server_error"), "ok": count("ok")}

	if _, err := c.Do(context.Background(), Request{Op: "get machine", Method: http.MethodGet, Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	for outcome, was := range before {
		if got := count(outcome) - was; got != 1 {
			t.Errorf("calls with outcome %s: %v more, want 1", outcome, got)
		}
	}
}

func TestClient_BudgetPerCompany(t *testing.T) {
	srv := newFaultServer(t, status(200))
	pool := quietPool()
	limits := []Limit{{Count: 1, Per: time.Hour}}
	a := pool.Client("company-a", "wazuh", Config{BaseURL: srv.URL, Limits: limits})
	b := pool.Client("company-b", "wazuh", Config{BaseURL: srv.URL, Limits: limits})

	if _, err := a.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet}); err != nil {
		t.Fatal(err)
	}
	// Company a's budget is spent for an hour; company b's is untouched.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.Do(ctx, Request{Op: "get agent", Method: http.MethodGet}); err == nil {
		t.Error("company a: want a wait that outlasts the context")
	}
	if _, err := b.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet}); err != nil {
		t.Errorf("company b: %v, want its own budget", err)
	}
}

func TestDefaultLimits(t *testing.T) {
	tests := []struct {
		kind string
		want []Limit
	}{
		{"defender", []Limit{{100, time.Minute}, {1500, time.Hour}}},
		{"cisco", []Limit{{3000, time.Hour}}},
		{"wazuh", []Limit{{300, time.Minute}}},
		{"entra", nil},
		{"cortex", nil},
		{"panos", nil},
	}
	for _, tc := range tests {
		got := DefaultLimits(tc.kind)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("DefaultLimits(%q) = %v, want %v", tc.kind, got, tc.want)
		}
	}
}
