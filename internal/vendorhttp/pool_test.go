package vendorhttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoolBudgetFollowsLimits(t *testing.T) {
	p := NewPool(nil)
	slow := Config{Vendor: "wazuh", Limits: []Limit{{Count: 300, Per: time.Minute}}}
	fast := Config{Vendor: "wazuh", Limits: []Limit{{Count: 6000, Per: time.Minute}}}

	a := p.Client("c1", "wazuh", slow)
	b := p.Client("c1", "wazuh", slow)
	if a.budget != b.budget {
		t.Fatal("two clients of one integration with the same limits do not share a budget")
	}
	other := p.Client("c2", "wazuh", slow)
	if other.budget == a.budget {
		t.Fatal("two companies share a budget")
	}

	c := p.Client("c1", "wazuh", fast)
	if c.budget == a.budget {
		t.Fatal("changed limits kept the old budget")
	}
	if got := c.budget.limits; len(got) != 1 || got[0].Count != 6000 {
		t.Fatalf("new budget limits = %v, want 6000 a minute", got)
	}
	if d := p.Client("c1", "wazuh", fast); d.budget != c.budget {
		t.Fatal("the new budget is not shared by the next client with the same limits")
	}
}

func TestPoolMaxConnsPerHostSetting(t *testing.T) {
	tests := []struct {
		name string
		set  int
		want int
	}{
		{"zero keeps the default", 0, DefaultMaxConnsPerHost},
		{"negative keeps the default", -3, DefaultMaxConnsPerHost},
		{"set", 5, 5},
		{"above the idle pool", 500, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPoolWithOptions(nil, Options{MaxConnsPerHost: tt.set})
			tr := p.transport.(*http.Transport)
			if tr.MaxConnsPerHost != tt.want {
				t.Errorf("MaxConnsPerHost = %d, want %d", tr.MaxConnsPerHost, tt.want)
			}
			if tr.MaxIdleConnsPerHost != tt.want {
				t.Errorf("MaxIdleConnsPerHost = %d, want %d", tr.MaxIdleConnsPerHost, tt.want)
			}
			if tr.MaxIdleConns < tt.want {
				t.Errorf("MaxIdleConns = %d, below the %d a host may keep", tr.MaxIdleConns, tt.want)
			}
		})
	}
}

// TestPoolMaxConnsPerHostBoundsConnections sends six concurrent calls
// through a pool allowed two connections. The vendor holds each call until
// two are in, so without the bound the other four would open connections
// of their own.
func TestPoolMaxConnsPerHostBoundsConnections(t *testing.T) {
	const bound, calls = 2, 6
	var opened atomic.Int32
	entered := make(chan struct{}, calls)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	pool := NewPoolWithOptions(nil, Options{MaxConnsPerHost: bound})
	errs := make(chan error, calls)
	for i := range calls {
		c := pool.Client(fmt.Sprintf("company-%d", i), "integration", Config{Vendor: "testvendor", BaseURL: srv.URL})
		go func() {
			_, err := c.Do(context.Background(), Request{Op: "get agent", Method: http.MethodGet, Idempotent: true})
			errs <- err
		}()
	}
	for range bound {
		<-entered
	}
	close(release)
	for range calls {
		if err := <-errs; err != nil {
			t.Errorf("call failed: %v", err)
		}
	}

	if got := opened.Load(); got > bound {
		t.Errorf("the pool opened %d connections to one host, want at most %d", got, bound)
	}
}
