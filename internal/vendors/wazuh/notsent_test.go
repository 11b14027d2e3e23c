package wazuh_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim"
)

// TestIsolateNotSent checks NotSent of an isolation that failed without a
// response. Wazuh cannot report whether an agent isolated itself, so the
// engine holds a write that may have reached the manager until the
// agent's event or the confirmation deadline, and deduplicates every retry
// into it meanwhile. A PUT that never left the gateway must therefore say
// so, or a retry after the manager's API came back is not sent for the
// whole deadline.
func TestIsolateNotSent(t *testing.T) {
	tests := []struct {
		name string
		// serve wraps the simulator. stop, when set, takes the manager's
		// API away after the client logged in.
		serve       func(sim http.Handler) http.Handler
		stop        bool
		loggedIn    bool // the client logs in (and reads the agent) first
		wantNotSent bool
	}{
		{name: "manager unreachable at login", stop: true, wantNotSent: true},
		{name: "manager unreachable after login", stop: true, loggedIn: true, wantNotSent: true},
		{
			name: "login without response", wantNotSent: true,
			serve: func(sim http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/security/user/authenticate" {
						hangUp(w)
						return
					}
					sim.ServeHTTP(w, r)
				})
			},
		},
		{
			name: "command written, connection closed", loggedIn: true, wantNotSent: false,
			serve: func(sim http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPut {
						hangUp(w)
						return
					}
					sim.ServeHTTP(w, r)
				})
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := wazuhsim.New(wazuhsim.Options{})
			t.Cleanup(sim.Close)
			var h http.Handler = sim
			if tc.serve != nil {
				h = tc.serve(sim)
			}
			srv := httptest.NewUnstartedServer(h)
			// A new connection for each request, so that a stopped server
			// refuses the next one instead of leaving a kept-alive one.
			srv.Config.SetKeepAlivesEnabled(false)
			srv.Start()
			t.Cleanup(srv.Close)

			c := newClient(t, vendor.Config{
				CompanyID: "acme", Service: vendor.ServiceWazuh, Kind: vendor.KindWazuh,
				Settings: map[string]string{"url": srv.URL, "username": "wazuh-wui", "manager_ip": "192.0.2.10"},
				Secrets:  map[string]string{"password": sim.Password},
			})
			ep := vendor.Endpoint{AgentID: "003"}
			if tc.loggedIn {
				if _, err := c.Status(context.Background(), ep); err != nil {
					t.Fatalf("Status before the isolation: %v", err)
				}
			}
			if tc.stop {
				srv.Close()
			}

			_, err := c.Isolate(context.Background(), ep, vendor.Options{ActionID: "act-1"})
			ve, ok := vendor.AsError(err)
			if !ok {
				t.Fatalf("Isolate = %v (%T), want *vendor.Error", err, err)
			}
			if ve.NotSent != tc.wantNotSent {
				t.Errorf("NotSent = %t, want %t: %v", ve.NotSent, tc.wantNotSent, err)
			}
			if got := sim.ActiveResponseRequests(); got != 0 && tc.wantNotSent {
				t.Errorf("the manager received %d commands, want none", got)
			}
		})
	}
}

// hangUp closes the request's connection without a response.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}
