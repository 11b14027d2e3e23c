package cisco_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/cisco"
	"github.com/smartpt/smartpt/internal/vendors/cisco/ciscosim"
)

const (
	testClientID = "a1b2c3d4e5f60718293a"
	testAPIKey   = "5e2f6a3c-test-only-key-0000-111122223333"
	pendingTime  = 80 * time.Millisecond
)

type fixture struct {
	sim    *ciscosim.Server
	client *cisco.Client
	url    string
	ca     []byte
}

func testDeps() vendor.Deps {
	logger := slog.New(slog.DiscardHandler)
	return vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger}
}

func startSim(t *testing.T, simCfg ciscosim.Config, apiKey string) fixture {
	t.Helper()
	simCfg.ClientID = testClientID
	if simCfg.APIKey == "" {
		simCfg.APIKey = testAPIKey
	}
	if simCfg.PendingDelay == 0 {
		simCfg.PendingDelay = pendingTime
	}
	sim := ciscosim.New(simCfg)
	ciscosim.AddDemoInventory(sim)
	srv, err := simharness.Serve(sim, true)
	if err != nil {
		t.Fatalf("serve simulator: %v", err)
	}
	t.Cleanup(srv.Close)

	cfg := vendor.Config{CompanyID: "acme", Service: vendor.ServiceCisco, Kind: vendor.KindCisco,
		Settings: map[string]string{cisco.SettingAPIURL: srv.URL, cisco.SettingCAPEM: string(srv.CAPEM)},
		Secrets:  map[string]string{cisco.SecretClientID: testClientID, cisco.SecretAPIKey: apiKey}}
	client, err := cisco.New(cfg, testDeps())
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return fixture{sim: sim, client: client, url: srv.URL, ca: srv.CAPEM}
}

func demoEndpoint(n int) vendor.Endpoint {
	h := simharness.DemoHosts()[n-1]
	return vendor.Endpoint{Vendor: vendor.KindCisco, AgentID: ciscosim.ConnectorGUID(h.Hostname), Hostname: h.Hostname, IP: h.IPv4}
}

func wantKind(t *testing.T, err error, kind vendor.ErrorKind) *vendor.Error {
	t.Helper()
	ve, ok := vendor.AsError(err)
	if !ok {
		t.Fatalf("error = %v (%T), want *vendor.Error of kind %s", err, err, kind)
	}
	if ve.Kind != kind {
		t.Fatalf("error kind = %s (%v), want %s", ve.Kind, ve, kind)
	}
	return ve
}

func confirmUntilFinal(t *testing.T, c *cisco.Client, ep vendor.Endpoint, action vendor.ActionKind) vendor.Confirmation {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conf, err := c.Confirm(context.Background(), ep, action, "")
		if err != nil {
			t.Fatalf("Confirm %s: %v", action, err)
		}
		if conf.Final {
			return conf
		}
		if time.Now().After(deadline) {
			t.Fatalf("Confirm %s: still %s after 5 s", action, conf.Detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResolveTargets(t *testing.T) {
	f := startSim(t, ciscosim.Config{}, testAPIKey)
	f.sim.AddComputer(ciscosim.Computer{GUID: "11111111-2222-4333-8444-555555555555", Hostname: "shared-pc", InternalIPs: []string{"10.30.0.1"}, Active: true})
	f.sim.AddComputer(ciscosim.Computer{GUID: "66666666-7777-4888-8999-aaaaaaaaaaaa", Hostname: "SHARED-PC", InternalIPs: []string{"10.30.0.2"}, Active: true})
	f.sim.AddComputer(ciscosim.Computer{GUID: "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff", Hostname: "laptop.corp.example", InternalIPs: []string{" 10.30.0.3"}, Active: false})
	ep3 := demoEndpoint(3)

	tests := []struct {
		name   string
		target vendor.Target
		want   []string
	}{
		{"by guid", vendor.Target{Kind: vendor.TargetID, Value: ep3.AgentID}, []string{ep3.AgentID}},
		{"by hostname", vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-03"}, []string{ep3.AgentID}},
		{"prefix is not a match", vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-0"}, nil},
		{"by short name", vendor.Target{Kind: vendor.TargetHostname, Value: "laptop"}, []string{"bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"}},
		{"by ip", vendor.Target{Kind: vendor.TargetIP, Value: "10.20.0.3"}, []string{ep3.AgentID}},
		{"by ip with stray space in record", vendor.Target{Kind: vendor.TargetIP, Value: "10.30.0.3"}, []string{"bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"}},
		{"ambiguous hostname", vendor.Target{Kind: vendor.TargetHostname, Value: "shared-pc"}, []string{"11111111-2222-4333-8444-555555555555", "66666666-7777-4888-8999-aaaaaaaaaaaa"}},
		{"unknown guid", vendor.Target{Kind: vendor.TargetID, Value: "00000000-0000-4000-8000-000000000000"}, nil},
		{"unknown hostname", vendor.Target{Kind: vendor.TargetHostname, Value: "nowhere"}, nil},
		{"unknown ip", vendor.Target{Kind: vendor.TargetIP, Value: "192.0.2.1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.client.Resolve(context.Background(), tt.target)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Resolve = %+v, want %d endpoints", got, len(tt.want))
			}
			for i, ep := range got {
				if ep.AgentID != tt.want[i] || ep.Vendor != vendor.KindCisco || ep.Isolation != vendor.NotIsolated {
					t.Errorf("endpoint %d = %+v, want %s not isolated", i, ep, tt.want[i])
				}
			}
		})
	}
}

func TestResolveFollowsPages(t *testing.T) {
	f := startSim(t, ciscosim.Config{}, testAPIKey)
	for i := 0; i < 250; i++ {
		f.sim.AddComputer(ciscosim.Computer{GUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Hostname: "fleet-pc", Active: true})
	}
	got, err := f.client.Resolve(context.Background(), vendor.Target{Kind: vendor.TargetHostname, Value: "fleet-pc"})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if len(got) != 250 {
		t.Errorf("Resolve returned %d computers, want 250", len(got))
	}
	if calls := f.sim.Calls("GET computers"); calls != 3 {
		t.Errorf("list requests = %d, want 3 pages of %d", calls, cisco.PageSize)
	}

	t.Run("next link to another host", func(t *testing.T) {
		f.sim.FailNext("GET computers", ciscosim.Fault{Status: 200, Body: `{"version":"v1.2.0","metadata":{"links":{"self":"x","next":"https://collector.example/v1/computers?offset=100"}},"data":[{"connector_guid":"aaaaaaaa-0000-4000-8000-000000000000","hostname":"fleet-pc"}]}`})
		_, err := f.client.Resolve(context.Background(), vendor.Target{Kind: vendor.TargetHostname, Value: "fleet-pc"})
		ve := wantKind(t, err, vendor.ErrUnavailable)
		if !strings.Contains(ve.Detail, "next-page link") {
			t.Errorf("detail = %q", ve.Detail)
		}
	})
}

func TestIsolateReleaseLifecycle(t *testing.T) {
	f := startSim(t, ciscosim.Config{}, testAPIKey)
	ep := demoEndpoint(1)
	ctx := context.Background()

	out, err := f.client.Isolate(ctx, ep, vendor.Options{ActionID: "act-1", Requester: "soc@example.com", Comment: "ransomware\nalert"})
	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	if !out.Pending || out.Endpoint.Isolation != vendor.Isolating || out.AlreadyInState {
		t.Fatalf("Isolate = %+v, want pending_start", out)
	}
	if len(out.UnlockCode) != 12 {
		t.Errorf("unlock code %q, want 12 generated characters", out.UnlockCode)
	}
	if _, code := f.sim.IsolationStatus(ep.AgentID); code != out.UnlockCode {
		t.Errorf("simulator unlock code = %q, want %q", code, out.UnlockCode)
	}
	if bytes.Contains(out.Raw, []byte(out.UnlockCode)) || bytes.Contains(out.Raw, []byte("unlock_code")) {
		t.Errorf("Raw %s contains the unlock code", out.Raw)
	}

	conf := confirmUntilFinal(t, f.client, ep, vendor.ActionIsolate)
	if !conf.Succeeded || conf.State != vendor.Isolated {
		t.Fatalf("confirm isolate = %+v, want isolated", conf)
	}
	st, err := f.client.Status(ctx, ep)
	if err != nil || st.Endpoint.Isolation != vendor.Isolated || bytes.Contains(st.Raw, []byte(out.UnlockCode)) {
		t.Errorf("Status = %+v, %v, want isolated without the unlock code", st, err)
	}

	puts := f.sim.Calls("PUT isolation")
	again, err := f.client.Isolate(ctx, ep, vendor.Options{})
	if err != nil || !again.AlreadyInState || again.UnlockCode != "" {
		t.Errorf("second Isolate = %+v, %v, want AlreadyInState without a new code", again, err)
	}
	if f.sim.Calls("PUT isolation") != puts {
		t.Error("second Isolate sent a PUT")
	}

	rel, err := f.client.Release(ctx, ep, vendor.Options{ActionID: "act-2"})
	if err != nil || !rel.Pending || rel.Endpoint.Isolation != vendor.Releasing {
		t.Fatalf("Release = %+v, %v, want pending_stop", rel, err)
	}
	conf = confirmUntilFinal(t, f.client, ep, vendor.ActionRelease)
	if !conf.Succeeded || conf.State != vendor.NotIsolated {
		t.Fatalf("confirm release = %+v, want not isolated", conf)
	}
	rel, err = f.client.Release(ctx, ep, vendor.Options{})
	if err != nil || !rel.AlreadyInState {
		t.Errorf("second Release = %+v, %v, want AlreadyInState", rel, err)
	}
}

func TestIsolateEdgeCases(t *testing.T) {
	ctx := context.Background()

	t.Run("given unlock code", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		ep := demoEndpoint(2)
		out, err := f.client.Isolate(ctx, ep, vendor.Options{UnlockCode: "open-sesame_42"})
		if err != nil || out.UnlockCode != "open-sesame_42" {
			t.Fatalf("Isolate = %+v, %v, want the given unlock code", out, err)
		}
		if _, code := f.sim.IsolationStatus(ep.AgentID); code != "open-sesame_42" {
			t.Errorf("simulator unlock code = %q", code)
		}
	})
	t.Run("invalid unlock code", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		for _, code := range []string{"abc", `x"y-long`, strings.Repeat("a", 65), "with space"} {
			_, err := f.client.Isolate(ctx, demoEndpoint(2), vendor.Options{UnlockCode: code})
			wantKind(t, err, vendor.ErrInvalid)
		}
		if f.sim.Calls("PUT isolation") != 0 {
			t.Error("a PUT was sent with an invalid unlock code")
		}
	})
	t.Run("pending start sends no second request", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{PendingDelay: time.Hour}, testAPIKey)
		ep := demoEndpoint(3)
		if _, err := f.client.Isolate(ctx, ep, vendor.Options{}); err != nil {
			t.Fatalf("Isolate: %v", err)
		}
		out, err := f.client.Isolate(ctx, ep, vendor.Options{})
		if err != nil || !out.Pending || out.AlreadyInState {
			t.Errorf("second Isolate = %+v, %v, want Pending", out, err)
		}
		if f.sim.Calls("PUT isolation") != 1 {
			t.Errorf("PUT requests = %d, want 1", f.sim.Calls("PUT isolation"))
		}
		_, err = f.client.Release(ctx, ep, vendor.Options{})
		wantKind(t, err, vendor.ErrConflict)
	})
	t.Run("policy without isolation", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		f.sim.AddComputer(ciscosim.Computer{GUID: "12121212-3434-4565-8787-909090909090", Hostname: "kiosk", IsolationUnavailable: true, Active: true})
		_, err := f.client.Isolate(ctx, vendor.Endpoint{AgentID: "12121212-3434-4565-8787-909090909090"}, vendor.Options{})
		ve := wantKind(t, err, vendor.ErrForbidden)
		if !strings.Contains(ve.Detail, "policy") {
			t.Errorf("detail = %q, want it to name the policy", ve.Detail)
		}
	})
	t.Run("405 on put", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		f.sim.FailNext("PUT isolation", ciscosim.Fault{Status: 405, Body: `{"version":"v1.2.0","data":{},"errors":[{"error_code":405,"description":"Method Not Allowed","details":["not allowed"]}]}`})
		_, err := f.client.Isolate(ctx, demoEndpoint(4), vendor.Options{})
		ve := wantKind(t, err, vendor.ErrForbidden)
		if !strings.Contains(ve.Detail, "Endpoint Isolation") {
			t.Errorf("detail = %q, want the policy fix", ve.Detail)
		}
	})
	t.Run("409 when isolated in between", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{PendingDelay: time.Millisecond}, testAPIKey)
		ep := demoEndpoint(5)
		if _, err := f.client.Isolate(ctx, ep, vendor.Options{}); err != nil {
			t.Fatalf("first Isolate: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
		// The pre-check reads a stale not_isolated, so the PUT meets the real state.
		f.sim.FailNext("GET isolation", ciscosim.Fault{Status: 200, Body: `{"version":"v1.2.0","data":{"available":true,"status":"not_isolated"}}`})
		out, err := f.client.Isolate(ctx, ep, vendor.Options{})
		if err != nil || !out.AlreadyInState || out.Endpoint.Isolation != vendor.Isolated {
			t.Errorf("Isolate after 409 = %+v, %v, want AlreadyInState", out, err)
		}
	})
	t.Run("409 on put with conflicting state", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		f.sim.FailNext("PUT isolation", ciscosim.Fault{Status: 409, Body: `{"version":"v1.2.0","data":{},"errors":[{"error_code":409,"description":"Conflict","details":["busy"]}]}`})
		_, err := f.client.Isolate(ctx, demoEndpoint(6), vendor.Options{})
		wantKind(t, err, vendor.ErrConflict)
	})
}

func TestVendorErrors(t *testing.T) {
	ctx := context.Background()
	ep := demoEndpoint(7)

	t.Run("bad credentials", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, "wrong-key")
		_, err := f.client.Status(ctx, ep)
		ve := wantKind(t, err, vendor.ErrAuth)
		if !strings.Contains(ve.Detail, "Unknown API key or Client ID") || strings.Contains(ve.Error(), "wrong-key") {
			t.Errorf("error = %q, want the vendor detail and no key", ve.Error())
		}
	})
	t.Run("unknown computer", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		_, err := f.client.Status(ctx, vendor.Endpoint{AgentID: "00000000-0000-4000-8000-000000000000"})
		wantKind(t, err, vendor.ErrNotFound)
	})
	t.Run("html error on put not retried", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		f.sim.FailNext("PUT isolation", ciscosim.Fault{Status: 502, Body: "<html><h1>502 Bad Gateway</h1></html>", ContentType: "text/html"})
		_, err := f.client.Isolate(ctx, ep, vendor.Options{})
		ve := wantKind(t, err, vendor.ErrUnavailable)
		if !strings.Contains(ve.Detail, "502 Bad Gateway") {
			t.Errorf("detail = %q, want the body text", ve.Detail)
		}
		if got := f.sim.Calls("PUT isolation"); got != 1 {
			t.Errorf("PUT requests = %d, want 1", got)
		}
	})
	t.Run("html error on read retried", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		f.sim.FailNext("GET isolation", ciscosim.Fault{Status: 503, Body: "Service Unavailable", ContentType: "text/plain"})
		if _, err := f.client.Status(ctx, ep); err != nil {
			t.Errorf("Status after one 503: %v", err)
		}
	})
	t.Run("429 maps to throttled", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{}, testAPIKey)
		f.sim.FailNext("GET isolation", ciscosim.Fault{Status: 429, Body: `{"version":"v1.2.0","data":{},"errors":[{"error_code":429,"description":"Too Many Requests","details":["limit"]}]}`})
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := f.client.Status(ctx, ep)
		ve := wantKind(t, err, vendor.ErrThrottled)
		if ve.RetryAfter <= 0 || ve.RetryAfter > vendorhttp.MaxRetryAfter {
			t.Errorf("RetryAfter = %s, want a wait from X-RateLimit-Reset", ve.RetryAfter)
		}
	})
	t.Run("spent hourly budget rejects", func(t *testing.T) {
		f := startSim(t, ciscosim.Config{RateLimit: 2}, testAPIKey)
		for i := 0; i < 2; i++ {
			if _, err := f.client.Status(ctx, ep); err != nil {
				t.Fatalf("Status %d: %v", i, err)
			}
		}
		// X-RateLimit-Remaining: 0 parks the integration's budget until the
		// vendor's reset, so the next call is not sent to meet a 429. Its
		// deadline comes before the reset, so it is rejected at once with
		// the wait.
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := f.client.Status(ctx, ep)
		ve := wantKind(t, err, vendor.ErrThrottled)
		if !ve.NotSent || ve.RetryAfter <= 0 {
			t.Errorf("NotSent %t, RetryAfter %s: want true and the wait until the reset", ve.NotSent, ve.RetryAfter)
		}
		if got := f.sim.Calls("GET isolation"); got != 2 {
			t.Errorf("isolation reads = %d, want 2", got)
		}
	})
}

func TestSimulatorHTTP(t *testing.T) {
	f := startSim(t, ciscosim.Config{}, testAPIKey)
	f.sim.AddComputer(ciscosim.Computer{GUID: "12121212-3434-4565-8787-909090909090", Hostname: "kiosk", IsolationUnavailable: true})
	tlsCfg, err := simharness.ClientTLS(f.ca)
	if err != nil {
		t.Fatalf("client TLS: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	guid := demoEndpoint(8).AgentID

	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"unexpected parameter", "GET", "/v1/computers?hostnam=x", "", 400, "Unexpected parameter"},
		{"limit over 500", "GET", "/v1/computers?limit=501", "", 400, "limit"},
		{"unknown json field", "PUT", "/v1/computers/" + guid + "/isolation", `{"comment":"x","unlock":"y"}`, 400, "invalid JSON"},
		{"options not allowed", "OPTIONS", "/v1/computers/12121212-3434-4565-8787-909090909090/isolation", "", 405, "not allowed"},
		{"put isolates", "PUT", "/v1/computers/" + guid + "/isolation", `{"comment":"c","unlock_code":"abcd1234"}`, 200, "pending_start"},
		{"put again conflicts", "PUT", "/v1/computers/" + guid + "/isolation", `{}`, 409, "Conflict"},
		{"unknown computer", "GET", "/v1/computers/00000000-0000-4000-8000-000000000000", "", 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.url+tt.path, strings.NewReader(tt.body))
			req.SetBasicAuth(testClientID, testAPIKey)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body = %s, want %q", body, tt.contains)
			}
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-ResetDate"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("header %s missing", h)
				}
			}
		})
	}
}

func TestSimulatorRateLimit(t *testing.T) {
	f := startSim(t, ciscosim.Config{RateLimit: 2}, testAPIKey)
	tlsCfg, err := simharness.ClientTLS(f.ca)
	if err != nil {
		t.Fatalf("client TLS: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}

	wantStatus := []int{200, 200, 429}
	wantRemaining := []string{"1", "0", "0"}
	for i := range wantStatus {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/v1/computers?limit=1", nil)
		req.SetBasicAuth(testClientID, testAPIKey)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantStatus[i] {
			t.Errorf("request %d status = %d, want %d", i, resp.StatusCode, wantStatus[i])
		}
		if got := resp.Header.Get("X-RateLimit-Remaining"); got != wantRemaining[i] {
			t.Errorf("request %d X-RateLimit-Remaining = %q, want %q", i, got, wantRemaining[i])
		}
		if resp.StatusCode == 429 && !strings.Contains(string(body), `"error_code":429`) {
			t.Errorf("429 body = %s, want the v1 error envelope", body)
		}
	}
}

func TestRegisteredSimulatorServesDemo(t *testing.T) {
	sim, ok := simharness.Lookup(vendor.KindCisco)
	if !ok {
		t.Fatal("cisco simulator is not registered")
	}
	run, err := sim.Start(simharness.Options{PendingDelay: pendingTime})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer run.Close()

	factory, ok := vendor.Lookup(vendor.KindCisco)
	if !ok {
		t.Fatal("cisco factory is not registered")
	}
	cfg := vendor.Config{CompanyID: "demo", Service: vendor.ServiceCisco, Kind: vendor.KindCisco, Settings: run.Settings, Secrets: run.Secrets}
	if err := factory.Check(cfg, testDeps()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	c, err := factory.NewContainment(cfg, testDeps())
	if err != nil {
		t.Fatalf("NewContainment: %v", err)
	}
	got, err := c.Resolve(context.Background(), vendor.Target{Kind: vendor.TargetIP, Value: "10.20.0.20"})
	if err != nil || len(got) != 1 || got[0].AgentID != ciscosim.ConnectorGUID("demo-host-20") || got[0].Hostname != "demo-host-20" {
		t.Fatalf("Resolve 10.20.0.20 = %+v, %v", got, err)
	}
	if !c.IsID(got[0].AgentID) {
		t.Errorf("IsID(%q) = false", got[0].AgentID)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	base := func() vendor.Config {
		return vendor.Config{Settings: map[string]string{}, Secrets: map[string]string{cisco.SecretClientID: "id", cisco.SecretAPIKey: "key"}}
	}
	tests := []struct {
		name   string
		change func(*vendor.Config)
	}{
		{"unknown region", func(c *vendor.Config) { c.Settings[cisco.SettingRegion] = "mars" }},
		{"plain http url", func(c *vendor.Config) { c.Settings[cisco.SettingAPIURL] = "http://api.amp.cisco.com" }},
		{"url with path", func(c *vendor.Config) { c.Settings[cisco.SettingAPIURL] = "https://api.amp.cisco.com/v1" }},
		{"missing client id", func(c *vendor.Config) { delete(c.Secrets, cisco.SecretClientID) }},
		{"client id with colon", func(c *vendor.Config) { c.Secrets[cisco.SecretClientID] = "a:b" }},
		{"missing api key", func(c *vendor.Config) { delete(c.Secrets, cisco.SecretAPIKey) }},
		{"bad ca pem", func(c *vendor.Config) { c.Settings[cisco.SettingCAPEM] = "x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.change(&cfg)
			_, err := cisco.New(cfg, testDeps())
			wantKind(t, err, vendor.ErrMisconfigure)
		})
	}
	for region := range cisco.Regions {
		cfg := base()
		cfg.Settings[cisco.SettingRegion] = region
		if _, err := cisco.New(cfg, testDeps()); err != nil {
			t.Errorf("New with region %s: %v", region, err)
		}
	}
}

func TestIsConnectorGUID(t *testing.T) {
	tests := map[string]bool{
		"fc0365d7-50b2-4464-a222-f7a3e3431b10":  true,
		"FC0365D7-50B2-4464-A222-F7A3E3431B10":  false,
		"fc0365d750b24464a222f7a3e3431b10":      false,
		"fc0365d7-50b2-4464-a222-f7a3e3431b1":   false,
		"fc0365d7-50b2-4464-a222-f7a3e3431b10x": false,
		"gc0365d7-50b2-4464-a222-f7a3e3431b10":  false,
		"":                                      false,
	}
	for in, want := range tests {
		if got := cisco.IsConnectorGUID(in); got != want {
			t.Errorf("IsConnectorGUID(%q) = %v, want %v", in, got, want)
		}
	}
	for _, h := range simharness.DemoHosts() {
		if g := ciscosim.ConnectorGUID(h.Hostname); !cisco.IsConnectorGUID(g) {
			t.Errorf("demo GUID %q of %s is not a connector GUID", g, h.Hostname)
		}
	}
}

func TestPlanHidesUnlockCode(t *testing.T) {
	f := startSim(t, ciscosim.Config{}, testAPIKey)
	calls := f.client.Plan(vendor.ActionIsolate, demoEndpoint(9), vendor.Options{UnlockCode: "secret-code-1"})
	if len(calls) != 2 || calls[1].Method != http.MethodPut {
		t.Fatalf("Plan = %+v, want GET then PUT", calls)
	}
	for _, c := range calls {
		if bytes.Contains(c.Body, []byte("secret-code-1")) || bytes.Contains(c.Body, []byte(testAPIKey)) {
			t.Errorf("planned call %+v contains a secret", c)
		}
	}
}
