package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func newTestGateway(t *testing.T, url string) *Gateway {
	t.Helper()
	g, err := NewGateway(Gateway{BaseURL: url, Service: "wazuh", TargetForm: "id", CompanyKey: "k", Requester: "soc@example.com"}, DemoTargets)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestRunClosedLoopCountsAndStatuses(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-sha256") != "k" || r.URL.Path != "/wazuh/agents" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if served.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{"statusCode":200}`))
	}))
	defer srv.Close()

	mix, _ := ParseMix("status=1,isolate=1", DemoTargets, 1)
	rep, err := Run(context.Background(), Config{
		Client:   &http.Client{Timeout: 5 * time.Second},
		Protocol: newTestGateway(t, srv.URL),
		Mix:      mix,
		Limits:   Limits{Requests: 100, Duration: 10 * time.Second},
		Workers:  4,
	})
	if err != nil {
		t.Fatal(err)
	}

	if rep.Requests != 100 {
		t.Errorf("requests = %d, want 100", rep.Requests)
	}
	if rep.Statuses["200"]+rep.Statuses["429"] != 100 || rep.Statuses["429"] < 9 {
		t.Errorf("statuses = %v, want 100 in all with about 10 of them 429", rep.Statuses)
	}
	if rep.Errors != rep.Statuses["429"] {
		t.Errorf("errors = %d, want the 429 count %d", rep.Errors, rep.Statuses["429"])
	}
	if rep.Mode != "closed" || rep.Throughput <= 0 || rep.Generator == nil {
		t.Errorf("mode %q, throughput %.1f, generator usage %v: want closed, > 0, present", rep.Mode, rep.Throughput, rep.Generator)
	}
	if got := rep.PerAction[ActionStatus].Count + rep.PerAction[ActionIsolate].Count + rep.PerAction[ActionRelease].Count; got != 100 {
		t.Errorf("per-action counts add up to %d, want 100", got)
	}
}

// A server that stalls once must raise the latency of the requests that were
// due during the stall: the open loop measures from the due time, so the
// stall is not hidden (coordinated omission).
func TestRunOpenLoopCountsStallAgainstLaterRequests(t *testing.T) {
	var served atomic.Int64
	const stall = 300 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 5 {
			time.Sleep(stall)
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()

	mix, _ := ParseMix("status=1", DemoTargets, 1)
	rep, err := Run(context.Background(), Config{
		Client:   &http.Client{Timeout: 5 * time.Second},
		Protocol: newTestGateway(t, srv.URL),
		Mix:      mix,
		Limits:   Limits{Requests: 1000, Duration: 800 * time.Millisecond},
		Rate:     100,
		Workers:  1,
	})
	if err != nil {
		t.Fatal(err)
	}

	if rep.Requests != 80 {
		t.Errorf("requests = %d, want 80 (100/s for 0.8 s)", rep.Requests)
	}
	// About 30 requests fall due during the stall, that is over a third of
	// the run, so the median must carry part of it. A measurement from the
	// actual send would show one slow request and a fast median.
	if p90 := time.Duration(rep.Latency.P90 * float64(time.Microsecond)); p90 < 100*time.Millisecond {
		t.Errorf("p90 = %v, want at least 100ms after a %v stall with one worker", p90, stall)
	}
	if maxLag := time.Duration(rep.SendLag.Max * float64(time.Microsecond)); maxLag < 200*time.Millisecond {
		t.Errorf("max send lag = %v, want at least 200ms", maxLag)
	}
	if rep.Mode != "open" || rep.Rate != 100 {
		t.Errorf("mode %q at %v/s, want open at 100/s", rep.Mode, rep.Rate)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	mix, _ := ParseMix("status=1", DemoTargets, 1)
	base := Config{
		Client:   &http.Client{Timeout: time.Second},
		Protocol: newTestGateway(t, "http://127.0.0.1:1"),
		Mix:      mix,
		Limits:   Limits{Requests: 1, Duration: time.Second},
		Workers:  1,
	}
	cases := []struct {
		name   string
		modify func(c *Config)
	}{
		{"rate above cap", func(c *Config) { c.Rate = MaxRate + 1 }},
		{"no workers", func(c *Config) { c.Workers = 0 }},
		{"too many workers", func(c *Config) { c.Workers = MaxWorkers + 1 }},
		{"duration above cap", func(c *Config) { c.Limits.Duration = MaxDuration * 2 }},
	}
	for _, tc := range cases {
		cfg := base
		tc.modify(&cfg)
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: no error, want one", tc.name)
		}
	}
}

func TestClassifyRefused(t *testing.T) {
	_, err := http.Get("http://127.0.0.1:1/")
	if err == nil {
		t.Skip("something listens on port 1")
	}
	if got := classify(err); got != "refused" {
		t.Errorf("classify(%v) = %q, want refused", err, got)
	}
}

func TestRunReportsWarmupStatuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	mix, _ := ParseMix("status=1", DemoTargets, 1)
	rep, err := Run(context.Background(), Config{
		Client:   &http.Client{Timeout: 5 * time.Second},
		Protocol: newTestGateway(t, srv.URL),
		Mix:      mix,
		Limits:   Limits{Requests: 1000, Duration: 200 * time.Millisecond, Warmup: 200 * time.Millisecond},
		Rate:     100,
		Workers:  4,
	})
	if err != nil {
		t.Fatal(err)
	}

	if rep.Warmup["503"] != 20 {
		t.Errorf("warm-up statuses = %v, want 503=20 (100/s for 0.2 s)", rep.Warmup)
	}
	if rep.Statuses["503"] != 20 || rep.Errors != 20 {
		t.Errorf("statuses = %v, errors %d; want 503=20 and 20 errors", rep.Statuses, rep.Errors)
	}
}
