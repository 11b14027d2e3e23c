package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upstream is a simulator stand-in that counts the requests it served.
type upstream struct {
	hits atomic.Int64
	srv  *httptest.Server
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(append([]byte("echo:"), body...))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func startProxy(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestProxyFaults(t *testing.T) {
	tests := []struct {
		name          string
		fault         Fault
		bearer        bool
		wantStatus    int // 0: the client gets no response
		wantReset     bool
		wantForwarded bool
	}{
		{name: "none forwards", fault: None, wantStatus: http.StatusCreated, wantForwarded: true},
		{name: "throttle", fault: Throttle, wantStatus: http.StatusTooManyRequests},
		{name: "server error", fault: ServerError, wantStatus: -5},
		{name: "reset before forwarding", fault: ResetBefore, wantReset: true},
		{name: "stall before forwarding", fault: StallBefore, wantStatus: 0},
		{name: "expired token with bearer", fault: ExpiredToken, bearer: true, wantStatus: http.StatusUnauthorized},
		{name: "expired token without bearer forwards", fault: ExpiredToken, wantStatus: http.StatusCreated, wantForwarded: true},
		{name: "reset after forwarding", fault: ResetAfter, wantReset: true, wantForwarded: true},
		{name: "stall after forwarding", fault: StallAfter, wantStatus: 0, wantForwarded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t)
			cfg := Config{Upstream: up.srv.URL, Rate: 1, Faults: []Fault{tt.fault}, StallMax: 5 * time.Second}
			if tt.fault == None {
				cfg.Rate = 0
			}
			p := startProxy(t, cfg)

			client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
			req, _ := http.NewRequest(http.MethodPost, p.URL+"/api/machines/abc/isolate?x=1", strings.NewReader(`{"Comment":"c"}`))
			if tt.bearer {
				req.Header.Set("Authorization", "Bearer t0ken")
			}
			resp, err := client.Do(req)

			switch {
			case tt.wantReset:
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got status %d, want a connection reset", resp.StatusCode)
				}
				if !errors.Is(err, syscall.ECONNRESET) && !strings.Contains(err.Error(), "EOF") {
					t.Errorf("got error %v, want connection reset by peer", err)
				}
			case tt.wantStatus == 0:
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got status %d, want a client timeout", resp.StatusCode)
				}
			default:
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				resp.Body.Close()
				if tt.wantStatus > 0 && resp.StatusCode != tt.wantStatus {
					t.Errorf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
				}
				if tt.wantStatus < 0 && resp.StatusCode < 500 {
					t.Errorf("got status %d, want a 5xx", resp.StatusCode)
				}
			}

			// The proxy's record must say whether the simulator acted,
			// also for a stall the client abandoned.
			var ex Exchange
			deadline := time.Now().Add(5 * time.Second)
			for {
				exs := p.Exchanges()
				if len(exs) != 1 {
					t.Fatalf("got %d exchanges, want 1", len(exs))
				}
				ex = exs[0]
				if !ex.Fault.BeforeForwarding() && ex.Fault != None && !ex.Forwarded && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				break
			}
			if got := up.hits.Load(); (got == 1) != tt.wantForwarded {
				t.Errorf("upstream hits = %d, want forwarded %v", got, tt.wantForwarded)
			}
			if ex.Forwarded != tt.wantForwarded {
				t.Errorf("Exchange.Forwarded = %v, want %v", ex.Forwarded, tt.wantForwarded)
			}
			if ex.Path != "/api/machines/abc/isolate" || ex.RawQuery != "x=1" || string(ex.Body) != `{"Comment":"c"}` {
				t.Errorf("recorded %s?%s %q, want the request as sent", ex.Path, ex.RawQuery, ex.Body)
			}
			if wantDelivered := tt.wantForwarded && tt.wantStatus != 0 && !tt.wantReset; ex.Delivered != wantDelivered {
				t.Errorf("Exchange.Delivered = %v, want %v", ex.Delivered, wantDelivered)
			}
		})
	}
}

func TestProxyRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		form RetryAfterForm
		want string
		ok   bool
	}{
		{RetryAfterSeconds, "1", true},
		{RetryAfterFractional, "0.25", true},
		{RetryAfterDate, "Fri, 02 Jan 2026 03:04:06 GMT", true},
		{RetryAfterPastDate, "Fri, 02 Jan 2026 02:04:05 GMT", true},
		{RetryAfterGarbage, "soon, maybe", true},
		{RetryAfterNegative, "-5", true},
		{RetryAfterAbsurd, "999999999", true},
		{RetryAfterMissing, "", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.form), func(t *testing.T) {
			got, ok := tt.form.Value(now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Value = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}

	// Every form reaches the client as the header.
	up := newUpstream(t)
	for _, form := range AllRetryAfterForms {
		p := startProxy(t, Config{Upstream: up.srv.URL, Rate: 1, Faults: []Fault{Throttle}, RetryAfter: []RetryAfterForm{form}})
		resp, err := http.Get(p.URL + "/x")
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		resp.Body.Close()
		want, _ := form.Value(time.Now())
		got := resp.Header.Get("Retry-After")
		if form == RetryAfterDate || form == RetryAfterPastDate {
			if _, err := http.ParseTime(got); err != nil {
				t.Errorf("%s: Retry-After %q is not an HTTP date", form, got)
			}
		} else if got != want {
			t.Errorf("%s: Retry-After %q, want %q", form, got, want)
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s: status %d, want 429", form, resp.StatusCode)
		}
	}
}

func TestProxyRateAndSeed(t *testing.T) {
	up := newUpstream(t)
	run := func(seed uint64) []Fault {
		p := startProxy(t, Config{Upstream: up.srv.URL, Rate: 0.2, Seed: seed, Faults: []Fault{Throttle, ServerError}})
		for i := 0; i < 500; i++ {
			resp, err := http.Get(p.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		var faults []Fault
		for _, ex := range p.Exchanges() {
			faults = append(faults, ex.Fault)
		}
		return faults
	}

	a, b := run(7), run(7)
	faulty := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: fault %q then %q with the same seed, want the same sequence", i, a[i], b[i])
		}
		if a[i] != None {
			faulty++
		}
	}
	// 20% of 500 is 100; a binomial standard deviation is about 9.
	if faulty < 60 || faulty > 140 {
		t.Errorf("%d of 500 requests got a fault at rate 0.2, want about 100", faulty)
	}
}

func TestProxySetRateStopsFaults(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, Config{Upstream: up.srv.URL, Rate: 1, Faults: []Fault{ServerError}})
	p.SetRate(0)
	resp, err := http.Get(p.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Upstream") != "yes" {
		t.Errorf("got status %d, want the upstream's 201", resp.StatusCode)
	}
}

func TestProxyExempt(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, Config{Upstream: up.srv.URL, Rate: 1, Faults: []Fault{ServerError},
		Exempt: func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/token") }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for path, want := range map[string]int{"/token": http.StatusCreated, "/api": 0} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want != 0 && resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
		if want == 0 && resp.StatusCode < 500 {
			t.Errorf("%s: status %d, want a 5xx", path, resp.StatusCode)
		}
	}
}
