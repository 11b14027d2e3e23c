package cortex_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/cortex"
	"github.com/smartpt/smartpt/internal/vendors/cortex/cortexsim"
)

const (
	testKeyID   = "42"
	testAPIKey  = "k3yMaterialForTestsOnly0123456789abcdefABCDEF"
	pendingTime = 80 * time.Millisecond
)

type fixture struct {
	sim    *cortexsim.Server
	client *cortex.Client
	cfg    vendor.Config
	url    string
}

// startSim serves a simulator over TLS with the demo inventory and returns a
// client that trusts its CA.
func startSim(t *testing.T, simCfg cortexsim.Config, keyType string) fixture {
	t.Helper()

	if simCfg.KeyID == "" {
		simCfg.KeyID = testKeyID
	}
	if simCfg.APIKey == "" {
		simCfg.APIKey = testAPIKey
	}
	if simCfg.PendingDelay == 0 {
		simCfg.PendingDelay = pendingTime
	}
	sim := cortexsim.New(simCfg)
	cortexsim.AddDemoInventory(sim)

	srv, err := simharness.Serve(sim, true)
	if err != nil {
		t.Fatalf("serve simulator: %v", err)
	}
	t.Cleanup(srv.Close)

	cfg := vendor.Config{
		CompanyID: "acme",
		Service:   vendor.ServiceCortex,
		Kind:      vendor.KindCortex,
		Settings: map[string]string{
			cortex.SettingAPIURL:  srv.URL,
			cortex.SettingKeyID:   testKeyID,
			cortex.SettingKeyType: keyType,
			cortex.SettingCAPEM:   string(srv.CAPEM),
		},
		Secrets: map[string]string{cortex.SecretAPIKey: testAPIKey},
	}
	client, err := cortex.New(cfg, testDeps())
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return fixture{sim: sim, client: client, cfg: cfg, url: srv.URL}
}

func testDeps() vendor.Deps {
	logger := slog.New(slog.DiscardHandler)
	return vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger}
}

func demoEndpoint(n int) vendor.Endpoint {
	host := simharness.DemoHosts()[n-1]
	return vendor.Endpoint{Vendor: vendor.KindCortex, AgentID: cortexsim.EndpointID(host.Hostname), Hostname: host.Hostname, IP: host.IPv4}
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

// confirmUntilFinal polls Confirm until it reports a final state.
func confirmUntilFinal(t *testing.T, c *cortex.Client, ep vendor.Endpoint, action vendor.ActionKind, ref string) vendor.Confirmation {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conf, err := c.Confirm(context.Background(), ep, action, ref)
		if err != nil {
			t.Fatalf("confirm %s: %v", action, err)
		}
		if conf.Final {
			return conf
		}
		if time.Now().After(deadline) {
			t.Fatalf("confirm %s: still %q after 5 s", action, conf.Detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestResolveTargets(t *testing.T) {
	f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
	f.sim.AddEndpoint(cortexsim.Endpoint{ID: "0123456789abcdef0123456789abcdef", Hostname: "shared-name", IPs: []string{"10.30.0.1"}})
	f.sim.AddEndpoint(cortexsim.Endpoint{ID: "fedcba9876543210fedcba9876543210", Hostname: "shared-name", IPs: []string{"10.30.0.2"}})
	ep3 := demoEndpoint(3)

	tests := []struct {
		name   string
		target vendor.Target
		want   []string // endpoint IDs
	}{
		{"by id", vendor.Target{Kind: vendor.TargetID, Value: ep3.AgentID}, []string{ep3.AgentID}},
		{"by uppercase id", vendor.Target{Kind: vendor.TargetID, Value: strings.ToUpper(ep3.AgentID)}, []string{ep3.AgentID}},
		{"by hostname", vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-03"}, []string{ep3.AgentID}},
		{"by ip", vendor.Target{Kind: vendor.TargetIP, Value: "10.20.0.3"}, []string{ep3.AgentID}},
		{"ambiguous hostname", vendor.Target{Kind: vendor.TargetHostname, Value: "shared-name"}, []string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"}},
		{"unknown hostname", vendor.Target{Kind: vendor.TargetHostname, Value: "no-such-host"}, nil},
		{"unknown id", vendor.Target{Kind: vendor.TargetID, Value: "ffffffffffffffffffffffffffffffff"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.client.Resolve(context.Background(), tt.target)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Resolve returned %d endpoints %+v, want %d", len(got), got, len(tt.want))
			}
			for i, ep := range got {
				if ep.AgentID != tt.want[i] {
					t.Errorf("endpoint %d id = %q, want %q", i, ep.AgentID, tt.want[i])
				}
				if ep.Vendor != vendor.KindCortex || !ep.Online || ep.Isolation != vendor.NotIsolated {
					t.Errorf("endpoint %d = %+v, want online cortex endpoint not isolated", i, ep)
				}
			}
		})
	}
}

func TestIsolateReleaseLifecycle(t *testing.T) {
	for _, keyType := range []string{cortex.KeyAdvanced, cortex.KeyStandard} {
		t.Run(keyType, func(t *testing.T) {
			f := startSim(t, cortexsim.Config{Advanced: keyType == cortex.KeyAdvanced}, keyType)
			ep := demoEndpoint(1)
			ctx := context.Background()

			out, err := f.client.Isolate(ctx, ep, vendor.Options{ActionID: "a1"})
			if err != nil {
				t.Fatalf("Isolate: %v", err)
			}
			if !out.Pending || out.VendorRef == "" || out.AlreadyInState {
				t.Fatalf("Isolate outcome = %+v, want pending with a vendor ref", out)
			}
			if out.Endpoint.Isolation != vendor.Isolating {
				t.Errorf("isolation after isolate = %s, want %s", out.Endpoint.Isolation, vendor.Isolating)
			}
			if !json.Valid(out.Raw) || !bytes.Contains(out.Raw, []byte("action_id")) {
				t.Errorf("Raw = %s, want the isolate reply", out.Raw)
			}

			conf := confirmUntilFinal(t, f.client, ep, vendor.ActionIsolate, out.VendorRef)
			if !conf.Succeeded || conf.State != vendor.Isolated || conf.Detail != cortex.ActionCompletedSuccessfully {
				t.Fatalf("confirm isolate = %+v, want success and isolated", conf)
			}

			st, err := f.client.Status(ctx, ep)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.Endpoint.Isolation != vendor.Isolated {
				t.Errorf("status isolation = %s, want %s", st.Endpoint.Isolation, vendor.Isolated)
			}

			// A repeated isolate reads the state and sends nothing.
			before := f.sim.Calls("endpoints/isolate")
			again, err := f.client.Isolate(ctx, ep, vendor.Options{})
			if err != nil {
				t.Fatalf("second Isolate: %v", err)
			}
			if !again.AlreadyInState || again.Pending {
				t.Errorf("second Isolate = %+v, want AlreadyInState", again)
			}
			if got := f.sim.Calls("endpoints/isolate"); got != before {
				t.Errorf("isolate calls = %d, want %d", got, before)
			}

			rel, err := f.client.Release(ctx, ep, vendor.Options{})
			if err != nil {
				t.Fatalf("Release: %v", err)
			}
			if !rel.Pending || rel.Endpoint.Isolation != vendor.Releasing {
				t.Fatalf("Release outcome = %+v, want pending release", rel)
			}
			conf = confirmUntilFinal(t, f.client, ep, vendor.ActionRelease, rel.VendorRef)
			if !conf.Succeeded || conf.State != vendor.NotIsolated {
				t.Fatalf("confirm release = %+v, want success and not isolated", conf)
			}

			rel, err = f.client.Release(ctx, ep, vendor.Options{})
			if err != nil {
				t.Fatalf("second Release: %v", err)
			}
			if !rel.AlreadyInState {
				t.Errorf("second Release = %+v, want AlreadyInState", rel)
			}
		})
	}
}

func TestIsolateStates(t *testing.T) {
	f := startSim(t, cortexsim.Config{Advanced: true, PendingDelay: time.Hour}, cortex.KeyAdvanced)
	ctx := context.Background()

	t.Run("pending isolation sends no second request", func(t *testing.T) {
		ep := demoEndpoint(2)
		if _, err := f.client.Isolate(ctx, ep, vendor.Options{}); err != nil {
			t.Fatalf("Isolate: %v", err)
		}
		before := f.sim.Calls("endpoints/isolate")
		out, err := f.client.Isolate(ctx, ep, vendor.Options{})
		if err != nil {
			t.Fatalf("second Isolate: %v", err)
		}
		if !out.Pending || out.AlreadyInState || out.VendorRef != "" {
			t.Errorf("second Isolate = %+v, want Pending without a vendor ref", out)
		}
		if got := f.sim.Calls("endpoints/isolate"); got != before {
			t.Errorf("isolate calls = %d, want %d", got, before)
		}
		conf, err := f.client.Confirm(ctx, ep, vendor.ActionIsolate, "")
		if err != nil {
			t.Fatalf("Confirm by state: %v", err)
		}
		if conf.Final || conf.State != vendor.Isolating {
			t.Errorf("Confirm by state = %+v, want not final and isolating", conf)
		}

		_, err = f.client.Release(ctx, ep, vendor.Options{})
		wantKind(t, err, vendor.ErrConflict)
	})

	t.Run("uninstalled agent", func(t *testing.T) {
		ep := demoEndpoint(4)
		f.sim.SetStatus(ep.AgentID, cortex.StatusUninstalled)
		_, err := f.client.Isolate(ctx, ep, vendor.Options{})
		ve := wantKind(t, err, vendor.ErrConflict)
		if !strings.Contains(ve.Detail, "uninstalled") {
			t.Errorf("detail = %q, want it to name the uninstalled agent", ve.Detail)
		}
	})

	t.Run("unknown endpoint", func(t *testing.T) {
		ep := vendor.Endpoint{AgentID: "00000000000000000000000000000000"}
		_, err := f.client.Isolate(ctx, ep, vendor.Options{})
		wantKind(t, err, vendor.ErrNotFound)
		_, err = f.client.Status(ctx, ep)
		wantKind(t, err, vendor.ErrNotFound)
	})
}

func TestIsolateDisconnectedAgent(t *testing.T) {
	f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
	ctx := context.Background()
	ep := demoEndpoint(5)
	f.sim.SetStatus(ep.AgentID, cortex.StatusDisconnected)

	out, err := f.client.Isolate(ctx, ep, vendor.Options{})
	if err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "until its agent connects") {
		t.Errorf("warnings = %q, want one about the disconnected agent", out.Warnings)
	}

	time.Sleep(3 * pendingTime)
	conf, err := f.client.Confirm(ctx, ep, vendor.ActionIsolate, out.VendorRef)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if conf.Final || conf.Detail != cortex.ActionPending {
		t.Errorf("confirm while disconnected = %+v, want PENDING", conf)
	}

	f.sim.SetStatus(ep.AgentID, cortex.StatusConnected)
	conf = confirmUntilFinal(t, f.client, ep, vendor.ActionIsolate, out.VendorRef)
	if !conf.Succeeded {
		t.Errorf("confirm after reconnect = %+v, want success", conf)
	}
}

func TestConfirmFailureStatuses(t *testing.T) {
	f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
	ep := demoEndpoint(6)

	for _, status := range []string{"FAILED", "TIMEOUT", "EXPIRED", "ABORTED", "CANCELLED", "COMPLETED_PARTIAL"} {
		t.Run(status, func(t *testing.T) {
			body := `{"reply":{"data":{"` + ep.AgentID + `":"` + status + `"}}}`
			f.sim.FailNext("actions/get_action_status", cortexsim.Fault{Status: http.StatusOK, Body: body})
			conf, err := f.client.Confirm(context.Background(), ep, vendor.ActionIsolate, "77")
			if err != nil {
				t.Fatalf("Confirm: %v", err)
			}
			if !conf.Final || conf.Succeeded || conf.Detail != status {
				t.Errorf("Confirm = %+v, want final failure with detail %s", conf, status)
			}
			if conf.State != vendor.NotIsolated {
				t.Errorf("state = %s, want the endpoint's real state %s", conf.State, vendor.NotIsolated)
			}
		})
	}
}

func TestVendorErrors(t *testing.T) {
	ctx := context.Background()
	ep := demoEndpoint(7)

	t.Run("wrong api key", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true, APIKey: "another-key"}, cortex.KeyAdvanced)
		_, err := f.client.Status(ctx, ep)
		ve := wantKind(t, err, vendor.ErrAuth)
		if strings.Contains(ve.Error(), testAPIKey) {
			t.Errorf("error %q contains the API key", ve.Error())
		}
	})
	t.Run("standard key sent to advanced key id", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyStandard)
		_, err := f.client.Status(ctx, ep)
		wantKind(t, err, vendor.ErrAuth)
	})
	t.Run("stale timestamp", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true, Now: func() time.Time { return time.Now().Add(10 * time.Minute) }}, cortex.KeyAdvanced)
		_, err := f.client.Status(ctx, ep)
		wantKind(t, err, vendor.ErrAuth)
	})
	t.Run("unlicensed api", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
		f.sim.Deny("endpoints/get_endpoint", http.StatusPaymentRequired)
		_, err := f.client.Status(ctx, ep)
		ve := wantKind(t, err, vendor.ErrUnsupported)
		if !strings.Contains(ve.Detail, "licence") {
			t.Errorf("detail = %q, want it to name the licence", ve.Detail)
		}
	})
	t.Run("missing permission", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
		f.sim.Deny("endpoints/isolate", http.StatusForbidden)
		_, err := f.client.Isolate(ctx, ep, vendor.Options{})
		wantKind(t, err, vendor.ErrForbidden)
	})
	t.Run("err_code 500 no endpoint", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
		f.sim.FailNext("endpoints/isolate", cortexsim.Fault{Status: 500, Body: `{"reply":{"err_code":500,"err_msg":"An error occurred while processing XDR public API - No endpoint was found for creating the requested action","err_extra":"can't create group action id for ISOLATE"}}`})
		_, err := f.client.Isolate(ctx, ep, vendor.Options{})
		ve := wantKind(t, err, vendor.ErrConflict)
		if ve.Code != "500" || !strings.Contains(ve.Detail, "can't create group action id") {
			t.Errorf("error = %+v, want code 500 with err_extra in the detail", ve)
		}
		if got := f.sim.Calls("endpoints/isolate"); got != 1 {
			t.Errorf("isolate calls = %d, want 1 (an action is never retried)", got)
		}
	})
	t.Run("read retried after a gateway error", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
		f.sim.FailNext("endpoints/get_endpoint", cortexsim.Fault{Status: 502, Body: "<html>Bad Gateway</html>"})
		if _, err := f.client.Status(ctx, ep); err != nil {
			t.Fatalf("Status after one 502: %v", err)
		}
	})
	t.Run("server error on action", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
		f.sim.FailNext("endpoints/isolate", cortexsim.Fault{Status: 503, Body: "upstream unavailable"})
		_, err := f.client.Isolate(ctx, ep, vendor.Options{})
		ve := wantKind(t, err, vendor.ErrUnavailable)
		if ve.Detail != "upstream unavailable" {
			t.Errorf("detail = %q, want the body text", ve.Detail)
		}
	})
	t.Run("throttled", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
		for i := 0; i < vendorhttp.DefaultMaxAttempts; i++ {
			f.sim.FailNext("endpoints/get_endpoint", cortexsim.Fault{Status: 429, Body: `{"reply":{"err_code":429,"err_msg":"Too many requests"}}`})
		}
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := f.client.Status(ctx, ep)
		if err == nil {
			t.Fatal("Status succeeded, want an error")
		}
		ve, ok := vendor.AsError(err)
		if !ok || (ve.Kind != vendor.ErrThrottled && ve.Kind != vendor.ErrTimeout) {
			t.Errorf("error = %v, want throttled or timeout", err)
		}
	})
	t.Run("reply with err_code and status 200", func(t *testing.T) {
		f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
		f.sim.FailNext("endpoints/get_endpoint", cortexsim.Fault{Status: 200, Body: `{"reply":{"err_code":500,"err_msg":"internal"}}`})
		f.sim.FailNext("endpoints/get_endpoint", cortexsim.Fault{Status: 200, Body: `{"reply":{"err_code":500,"err_msg":"internal"}}`})
		_, err := f.client.Status(ctx, ep)
		wantKind(t, err, vendor.ErrUnavailable)
	})
}

func TestSimulatorValidatesRequests(t *testing.T) {
	f := startSim(t, cortexsim.Config{Advanced: false}, cortex.KeyStandard)
	tls, err := simharness.ClientTLS(mustCA(t, f))
	if err != nil {
		t.Fatalf("client TLS: %v", err)
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tls}}
	id := demoEndpoint(8).AgentID

	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/public_api/v1/"+path, strings.NewReader(body))
		req.Header.Set("x-xdr-auth-id", testKeyID)
		req.Header.Set("Authorization", testAPIKey)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}

	tests := []struct {
		name, path, body string
		status           int
		contains         string
	}{
		{"both endpoint_id and filters", "endpoints/isolate", `{"request_data":{"endpoint_id":"` + id + `","filters":[{"field":"endpoint_id_list","operator":"in","value":["` + id + `"]}]}}`, 400, "not both"},
		{"invalid json", "endpoints/isolate", `{"request_data":`, 400, "Invalid JSON"},
		{"missing request_data", "endpoints/isolate", `{}`, 400, "request_data is required"},
		{"unknown field", "endpoints/isolate", `{"request_data":{"endpointid":"x"}}`, 400, "err_code"},
		{"range over 100", "endpoints/get_endpoint", `{"request_data":{"filters":[],"search_from":0,"search_to":101}}`, 400, "at most 100"},
		{"string group_action_id", "actions/get_action_status", `{"request_data":{"group_action_id":"12"}}`, 400, "integer"},
		{"isolate by filters", "endpoints/isolate", `{"request_data":{"filters":[{"field":"endpoint_id_list","operator":"in","value":["` + id + `"]}]}}`, 200, "action_id"},
		{"isolate when pending", "endpoints/isolate", `{"request_data":{"endpoint_id":"` + id + `"}}`, 500, "No endpoint was found for creating the requested action"},
		{"unknown api", "endpoints/nothing", `{"request_data":{}}`, 404, "Unknown API"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.path, tt.body)
			if status != tt.status {
				t.Errorf("status = %d, want %d (body %s)", status, tt.status, body)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body = %s, want it to contain %q", body, tt.contains)
			}
		})
	}

	t.Run("bad key envelope", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/public_api/v1/endpoints/get_endpoint", strings.NewReader(`{"request_data":{}}`))
		req.Header.Set("x-xdr-auth-id", testKeyID)
		req.Header.Set("Authorization", "wrong")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		if resp.StatusCode != 401 {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
		if e, ok := cortex.ParseError(buf.Bytes()); !ok || e.Error() == "" {
			t.Errorf("body %s is not a Cortex XDR error reply", buf.String())
		}
	})
}

func mustCA(t *testing.T, f fixture) []byte {
	t.Helper()
	return []byte(f.cfg.Settings[cortex.SettingCAPEM])
}

func TestRegisteredSimulatorServesDemo(t *testing.T) {
	sim, ok := simharness.Lookup(vendor.KindCortex)
	if !ok {
		t.Fatal("cortex simulator is not registered")
	}
	run, err := sim.Start(simharness.Options{PendingDelay: pendingTime, TLS: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer run.Close()

	factory, ok := vendor.Lookup(vendor.KindCortex)
	if !ok {
		t.Fatal("cortex factory is not registered")
	}
	if len(factory.Services) != 2 {
		t.Errorf("services = %v, want cortex and paloalto", factory.Services)
	}
	cfg := vendor.Config{CompanyID: "demo", Service: vendor.ServicePaloAlto, Kind: vendor.KindCortex, Settings: run.Settings, Secrets: run.Secrets}
	deps := testDeps()
	if err := factory.Check(cfg, deps); err != nil {
		t.Fatalf("Check: %v", err)
	}
	c, err := factory.NewContainment(cfg, deps)
	if err != nil {
		t.Fatalf("NewContainment: %v", err)
	}
	got, err := c.Resolve(context.Background(), vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-20"})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if len(got) != 1 || got[0].AgentID != cortexsim.EndpointID("demo-host-20") || got[0].IP != "10.20.0.20" {
		t.Errorf("Resolve demo-host-20 = %+v", got)
	}
	if !c.IsID(got[0].AgentID) {
		t.Errorf("IsID(%q) = false, want true", got[0].AgentID)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	base := func() vendor.Config {
		return vendor.Config{
			Settings: map[string]string{cortex.SettingAPIURL: "https://api-acme.xdr.us.paloaltonetworks.com", cortex.SettingKeyID: "3"},
			Secrets:  map[string]string{cortex.SecretAPIKey: "abc"},
		}
	}
	tests := []struct {
		name   string
		change func(*vendor.Config)
	}{
		{"missing api_url", func(c *vendor.Config) { delete(c.Settings, cortex.SettingAPIURL) }},
		{"plain http", func(c *vendor.Config) {
			c.Settings[cortex.SettingAPIURL] = "http://api-acme.xdr.us.paloaltonetworks.com"
		}},
		{"path in url", func(c *vendor.Config) { c.Settings[cortex.SettingAPIURL] = "https://api-acme.example/public_api/v1" }},
		{"credentials in url", func(c *vendor.Config) { c.Settings[cortex.SettingAPIURL] = "https://u:p@api-acme.example" }},
		{"missing key id", func(c *vendor.Config) { delete(c.Settings, cortex.SettingKeyID) }},
		{"key with newline", func(c *vendor.Config) { c.Secrets[cortex.SecretAPIKey] = "abc\nx-evil: 1" }},
		{"unknown key type", func(c *vendor.Config) { c.Settings[cortex.SettingKeyType] = "premium" }},
		{"bad ca pem", func(c *vendor.Config) { c.Settings[cortex.SettingCAPEM] = "not a certificate" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.change(&cfg)
			_, err := cortex.New(cfg, vendor.Deps{})
			wantKind(t, err, vendor.ErrMisconfigure)
		})
	}

	if _, err := cortex.New(base(), vendor.Deps{}); err != nil {
		t.Errorf("New with valid settings: %v", err)
	}
}

func TestIsEndpointID(t *testing.T) {
	tests := map[string]bool{
		"aeec6a2cc92e46fab3b6f621722e9916":  true,
		"AEEC6A2CC92E46FAB3B6F621722E9916":  true,
		"aeec6a2cc92e46fab3b6f621722e991":   false,
		"aeec6a2cc92e46fab3b6f621722e99160": false,
		"geec6a2cc92e46fab3b6f621722e9916":  false,
		"demo-host-01":                      false,
		"":                                  false,
	}
	for in, want := range tests {
		if got := cortex.IsEndpointID(in); got != want {
			t.Errorf("IsEndpointID(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPlanListsCalls(t *testing.T) {
	f := startSim(t, cortexsim.Config{Advanced: true}, cortex.KeyAdvanced)
	ep := demoEndpoint(9)
	calls := f.client.Plan(vendor.ActionIsolate, ep, vendor.Options{})
	if len(calls) != 2 {
		t.Fatalf("Plan isolate = %d calls, want 2", len(calls))
	}
	if !strings.HasSuffix(calls[1].URL, "/public_api/v1/endpoints/isolate") {
		t.Errorf("second call URL = %s, want endpoints/isolate", calls[1].URL)
	}
	if want := `{"request_data":{"endpoint_id":"` + ep.AgentID + `"}}`; string(calls[1].Body) != want {
		t.Errorf("second call body = %s, want %s", calls[1].Body, want)
	}
	for _, c := range calls {
		if bytes.Contains(c.Body, []byte(testAPIKey)) || strings.Contains(c.URL, testAPIKey) {
			t.Errorf("planned call %+v contains the API key", c)
		}
	}
}
