package wazuh_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/wazuh"
	"github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim"
)

// newSim serves a simulator over loopback HTTP and returns it with a client
// configured for it.
func newSim(t *testing.T, opts wazuhsim.Options) (*wazuhsim.Sim, *wazuh.Client, vendor.Config) {
	t.Helper()
	sim := wazuhsim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	password := sim.Password
	user := "wazuh-wui"
	for u, p := range opts.Users {
		user, password = u, p
		break
	}
	cfg := vendor.Config{
		CompanyID: "acme", Service: vendor.ServiceWazuh, Kind: vendor.KindWazuh,
		Settings: map[string]string{"url": srv.URL, "username": user, "manager_ip": "192.0.2.10", "allow_list": "198.51.100.0/24, 2001:db8::5"},
		Secrets:  map[string]string{"password": password},
	}
	return sim, newClient(t, cfg), cfg
}

func newClient(t *testing.T, cfg vendor.Config) *wazuh.Client {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	c, err := wazuh.New(cfg, vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func wantKind(t *testing.T, err error, kind vendor.ErrorKind) *vendor.Error {
	t.Helper()
	ve, ok := vendor.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not *vendor.Error", err, err)
	}
	if ve.Kind != kind {
		t.Fatalf("error kind = %s, want %s (%v)", ve.Kind, kind, ve)
	}
	return ve
}

func TestIsID(t *testing.T) {
	_, c, _ := newSim(t, wazuhsim.Options{})
	for s, want := range map[string]bool{"001": true, "1234": true, "000": false, "0000": false, "01": false, "abc": false, "": false, "001 ": false} {
		if got := c.IsID(s); got != want {
			t.Errorf("IsID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	_, c, _ := newSim(t, wazuhsim.Options{})
	ctx := context.Background()
	cases := []struct {
		name   string
		target vendor.Target
		want   string // agent id, empty for no match
	}{
		{"by id", vendor.Target{Kind: vendor.TargetID, Value: "007"}, "007"},
		{"by name", vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-12"}, "012"},
		{"by ip", vendor.Target{Kind: vendor.TargetIP, Value: "10.20.0.20"}, "020"},
		{"by fully qualified name", vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-12.corp.example"}, "012"},
		{"unknown id", vendor.Target{Kind: vendor.TargetID, Value: "250"}, ""},
		{"manager id", vendor.Target{Kind: vendor.TargetID, Value: "000"}, ""},
		{"manager by name", vendor.Target{Kind: vendor.TargetHostname, Value: "wazuh-manager"}, ""},
		{"unknown name", vendor.Target{Kind: vendor.TargetHostname, Value: "nope"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := c.Resolve(ctx, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(eps) != 0 {
					t.Fatalf("got %+v, want no match", eps)
				}
				return
			}
			if len(eps) != 1 || eps[0].AgentID != tc.want {
				t.Fatalf("got %+v, want agent %s", eps, tc.want)
			}
			if !eps[0].Online || eps[0].Vendor != vendor.KindWazuh || eps[0].Isolation != vendor.Unknown {
				t.Errorf("endpoint = %+v", eps[0])
			}
		})
	}
}

func TestIsolateSendsCommand(t *testing.T) {
	sim, c, _ := newSim(t, wazuhsim.Options{})
	ep := vendor.Endpoint{AgentID: "003"}
	out, err := c.Isolate(context.Background(), ep, vendor.Options{ActionID: "act-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Pending || out.VendorRef != "act-1" || out.Endpoint.Isolation != vendor.Isolating {
		t.Errorf("outcome = %+v", out)
	}

	req := sim.LastActiveResponse()
	if req.AgentsList != "003" || req.Command != "!smartpt-isolation" {
		t.Errorf("request agents_list %q command %q", req.AgentsList, req.Command)
	}
	wantArgs := "isolate allow=192.0.2.10,198.51.100.0/24,2001:db8::5 action_id=act-1"
	if got := strings.Join(req.Arguments, " "); got != wantArgs {
		t.Errorf("arguments = %q, want %q", got, wantArgs)
	}
	var alert struct {
		Data struct {
			Action   string   `json:"action"`
			Allow    []string `json:"allow"`
			ActionID string   `json:"smartpt_action_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(req.Alert, &alert); err != nil {
		t.Fatal(err)
	}
	if alert.Data.Action != "isolate" || alert.Data.ActionID != "act-1" || len(alert.Data.Allow) != 3 {
		t.Errorf("alert.data = %+v", alert.Data)
	}

	var raw struct {
		Error int `json:"error"`
	}
	if err := json.Unmarshal(out.Raw, &raw); err != nil || raw.Error != 0 {
		t.Errorf("raw = %s", out.Raw)
	}
}

func TestReleaseSendsCommand(t *testing.T) {
	sim, c, _ := newSim(t, wazuhsim.Options{})
	out, err := c.Release(context.Background(), vendor.Endpoint{AgentID: "004"}, vendor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Pending || !strings.HasPrefix(out.VendorRef, "wz-") || out.Endpoint.Isolation != vendor.Releasing {
		t.Errorf("outcome = %+v", out)
	}
	req := sim.LastActiveResponse()
	if req.Arguments[0] != "release" || strings.Contains(strings.Join(req.Arguments, " "), "allow=") {
		t.Errorf("release arguments = %q", req.Arguments)
	}
}

func TestActiveResponseFailures(t *testing.T) {
	sim, c, _ := newSim(t, wazuhsim.Options{})
	sim.SetAgentStatus("005", "disconnected")
	sim.SetActiveResponseDisabled("006", true)

	cases := []struct {
		name       string
		agent      string
		wantKind   vendor.ErrorKind
		wantCode   string
		wantDetail string
	}{
		{"unknown agent", "251", vendor.ErrNotFound, "1701", "Agent does not exist"},
		{"agent not active", "005", vendor.ErrConflict, "1707", "agent is not active"},
		{"active response disabled", "006", vendor.ErrConflict, "1750", "active-response is disabled"},
		{"manager", "000", vendor.ErrNotFound, "1701", "Agent does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Isolate(context.Background(), vendor.Endpoint{AgentID: tc.agent}, vendor.Options{})
			ve := wantKind(t, err, tc.wantKind)
			if ve.Code != tc.wantCode || !strings.Contains(ve.Detail, tc.wantDetail) {
				t.Errorf("code %q detail %q, want %q containing %q", ve.Code, ve.Detail, tc.wantCode, tc.wantDetail)
			}
		})
	}
}

func TestStatusReadsAgent(t *testing.T) {
	sim, c, _ := newSim(t, wazuhsim.Options{})
	sim.SetAgentStatus("009", "disconnected")

	out, err := c.Status(context.Background(), vendor.Endpoint{AgentID: "008"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Endpoint.Hostname != "demo-host-08" || out.Endpoint.IP != "10.20.0.8" || !out.Endpoint.Online || out.Endpoint.Isolation != vendor.Unknown {
		t.Errorf("endpoint = %+v", out.Endpoint)
	}
	var raw struct {
		OS struct {
			Platform string `json:"platform"`
		} `json:"os"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(out.Raw, &raw); err != nil || raw.OS.Platform != "windows" || raw.Version == "" {
		t.Errorf("raw = %s", out.Raw)
	}

	out, err = c.Status(context.Background(), vendor.Endpoint{AgentID: "009"})
	if err != nil || out.Endpoint.Online {
		t.Errorf("disconnected agent: %+v, %v", out.Endpoint, err)
	}

	_, err = c.Status(context.Background(), vendor.Endpoint{AgentID: "321"})
	wantKind(t, err, vendor.ErrNotFound)
}

func TestTokenReusedAndRenewed(t *testing.T) {
	sim, c, _ := newSim(t, wazuhsim.Options{})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.Status(ctx, vendor.Endpoint{AgentID: "001"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Logins(); n != 1 {
		t.Errorf("logins after 5 calls = %d, want 1", n)
	}

	sim.RevokeTokens()
	if _, err := c.Status(ctx, vendor.Endpoint{AgentID: "001"}); err != nil {
		t.Fatalf("call after revocation: %v", err)
	}
	if n := sim.Logins(); n != 2 {
		t.Errorf("logins after revocation = %d, want 2", n)
	}
}

func TestTokenExpiry(t *testing.T) {
	sim, c, _ := newSim(t, wazuhsim.Options{TokenLifetime: 2 * time.Second})
	ctx := context.Background()
	if _, err := c.Status(ctx, vendor.Endpoint{AgentID: "001"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := c.Status(ctx, vendor.Endpoint{AgentID: "001"}); err != nil {
		t.Fatalf("call after expiry: %v", err)
	}
	if n := sim.Logins(); n != 2 {
		t.Errorf("logins = %d, want 2", n)
	}
}

func TestWrongPasswordIsAuthError(t *testing.T) {
	sim, _, cfg := newSim(t, wazuhsim.Options{})
	cfg.Secrets = map[string]string{"password": "wrong"}
	c := newClient(t, cfg)

	_, err := c.Status(context.Background(), vendor.Endpoint{AgentID: "001"})
	ve := wantKind(t, err, vendor.ErrAuth)
	if strings.Contains(ve.Error(), "wrong") {
		t.Errorf("error shows the password: %v", ve)
	}
	_, err = c.Isolate(context.Background(), vendor.Endpoint{AgentID: "001"}, vendor.Options{})
	wantKind(t, err, vendor.ErrAuth)
	if sim.ActiveResponseRequests() != 0 {
		t.Error("an active response was sent without a valid login")
	}
}

func TestReadOnlyUserIsForbidden(t *testing.T) {
	_, c, _ := newSim(t, wazuhsim.Options{Users: map[string]string{"reader": "pw-reader-1"}, ReadOnlyUsers: map[string]bool{"reader": true}})
	_, err := c.Isolate(context.Background(), vendor.Endpoint{AgentID: "001"}, vendor.Options{})
	ve := wantKind(t, err, vendor.ErrForbidden)
	if ve.Code != "4000" {
		t.Errorf("code = %q, want 4000", ve.Code)
	}
}

func TestRateLimitIsThrottled(t *testing.T) {
	_, c, _ := newSim(t, wazuhsim.Options{RequestsPerMinute: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		_, err = c.Isolate(ctx, vendor.Endpoint{AgentID: "001"}, vendor.Options{})
	}
	ve := wantKind(t, err, vendor.ErrThrottled)
	if ve.Code != "6001" {
		t.Errorf("code = %q, want 6001", ve.Code)
	}
}

func TestLoginAttemptLimit(t *testing.T) {
	sim := wazuhsim.New(wazuhsim.Options{MaxLoginAttempts: 2})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	for i, want := range []int{401, 401, 403} {
		req := httptest.NewRequest("POST", srv.URL+"/security/user/authenticate", nil)
		req.SetBasicAuth("wazuh-wui", "bad")
		rec := httptest.NewRecorder()
		req.RemoteAddr = "127.0.0.1:5000"
		sim.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("attempt %d: status %d, want %d (%s)", i+1, rec.Code, want, rec.Body)
		}
	}
}

func TestConfirmIsNeverFinal(t *testing.T) {
	_, c, _ := newSim(t, wazuhsim.Options{})
	conf, err := c.Confirm(context.Background(), vendor.Endpoint{AgentID: "001"}, vendor.ActionIsolate, "act-1")
	if err != nil || conf.Final || conf.State != vendor.Isolating {
		t.Errorf("Confirm = %+v, %v", conf, err)
	}
	conf, _ = c.Confirm(context.Background(), vendor.Endpoint{AgentID: "001"}, vendor.ActionRelease, "act-1")
	if conf.State != vendor.Releasing {
		t.Errorf("release state = %s", conf.State)
	}
}

func TestPlan(t *testing.T) {
	_, c, cfg := newSim(t, wazuhsim.Options{})
	calls := c.Plan(vendor.ActionIsolate, vendor.Endpoint{AgentID: "002"}, vendor.Options{ActionID: "a9"})
	if len(calls) != 1 || calls[0].Method != "PUT" || calls[0].URL != cfg.Settings["url"]+"/active-response?agents_list=002" {
		t.Fatalf("plan = %+v", calls)
	}
	var body wazuh.ActiveResponse
	if err := json.Unmarshal(calls[0].Body, &body); err != nil || body.Command != "!smartpt-isolation" || body.Arguments[0] != "isolate" {
		t.Errorf("plan body = %s", calls[0].Body)
	}
	if strings.Contains(string(calls[0].Body), cfg.Secrets["password"]) {
		t.Error("plan shows the password")
	}
	if calls := c.Plan(vendor.ActionStatus, vendor.Endpoint{AgentID: "002"}, vendor.Options{}); len(calls) != 1 || calls[0].Method != "GET" {
		t.Errorf("status plan = %+v", calls)
	}
}

func TestConfigValidation(t *testing.T) {
	base := func() vendor.Config {
		return vendor.Config{
			Kind:     vendor.KindWazuh,
			Settings: map[string]string{"url": "https://wazuh.example:55000", "username": "u", "manager_ip": "192.0.2.10"},
			Secrets:  map[string]string{"password": "p"},
		}
	}
	cases := []struct {
		name   string
		change func(*vendor.Config)
		want   string
	}{
		{"missing url", func(c *vendor.Config) { delete(c.Settings, "url") }, "setting url is missing"},
		{"plain http", func(c *vendor.Config) { c.Settings["url"] = "http://wazuh.example:55000" }, "plain HTTP"},
		{"missing password", func(c *vendor.Config) { delete(c.Secrets, "password") }, "password is missing"},
		{"missing manager", func(c *vendor.Config) { delete(c.Settings, "manager_ip") }, "manager_ip is missing"},
		{"manager hostname", func(c *vendor.Config) { c.Settings["manager_ip"] = "wazuh.example" }, "not a valid IPv4 or IPv6"},
		{"bad allow entry", func(c *vendor.Config) { c.Settings["allow_list"] = "10.0.0.0/40" }, "CIDR"},
		{"allow everything", func(c *vendor.Config) { c.Settings["allow_list"] = "0.0.0.0/0" }, "every address"},
		{"command with slash", func(c *vendor.Config) { c.Settings["command"] = "../x" }, "not a file name"},
		{"bad ca", func(c *vendor.Config) { c.Settings["ca_pem"] = "nope" }, "no PEM certificate"},
		{"username with colon", func(c *vendor.Config) { c.Settings["username"] = "a:b" }, "username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.change(&cfg)
			_, err := wazuh.New(cfg, vendor.Deps{})
			ve := wantKind(t, err, vendor.ErrMisconfigure)
			if !strings.Contains(ve.Detail, tc.want) {
				t.Errorf("detail %q, want it to contain %q", ve.Detail, tc.want)
			}
		})
	}
	if _, err := wazuh.New(base(), vendor.Deps{}); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

func TestRegisteredFactoryAndHarness(t *testing.T) {
	f, ok := vendor.Lookup(vendor.KindWazuh)
	if !ok || f.NewContainment == nil || f.Check == nil || len(f.Services) != 1 || f.Services[0] != vendor.ServiceWazuh {
		t.Fatalf("factory = %+v, %v", f, ok)
	}
	sim, ok := simharness.Lookup(vendor.KindWazuh)
	if !ok {
		t.Fatal("simulator not registered")
	}
	running, err := sim.Start(simharness.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	if !strings.HasPrefix(running.URL, "https://127.0.0.1:") {
		t.Errorf("simulator URL %q is not HTTPS on loopback", running.URL)
	}

	cfg := vendor.Config{CompanyID: "demo", Service: vendor.ServiceWazuh, Kind: vendor.KindWazuh, Settings: running.Settings, Secrets: running.Secrets}
	deps := vendor.Deps{HTTP: vendorhttp.NewPool(nil)}
	if err := f.Check(cfg, deps); err != nil {
		t.Fatalf("Check: %v", err)
	}
	c, err := f.NewContainment(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range simharness.DemoHosts() {
		eps, err := c.Resolve(context.Background(), vendor.Target{Kind: vendor.TargetHostname, Value: h.Hostname})
		if err != nil || len(eps) != 1 {
			t.Fatalf("resolve %s: %+v, %v", h.Hostname, eps, err)
		}
		if want := []string{"001", "002"}; i < 2 && eps[0].AgentID != want[i] {
			t.Errorf("%s has id %s, want %s", h.Hostname, eps[0].AgentID, want[i])
		}
		if eps[0].IP != h.IPv4 || !eps[0].Online {
			t.Errorf("%s = %+v", h.Hostname, eps[0])
		}
	}

	bad := cfg
	bad.Secrets = map[string]string{"password": "wrong"}
	err = f.Check(bad, deps)
	if ve, ok := vendor.AsError(err); !ok || ve.Kind != vendor.ErrAuth {
		t.Errorf("Check with a wrong password = %v, want an auth error", err)
	}
}

// TestResolveStatusMatchesStatus checks that the status ResolveStatus takes
// from the GET /agents of Resolve equals what Status reads on its own, for
// each kind of target, and that it is empty unless exactly one agent matches.
func TestResolveStatusMatchesStatus(t *testing.T) {
	sim, c, _ := newSim(t, wazuhsim.Options{})
	sim.SetAgentStatus("009", "disconnected")
	ctx := context.Background()

	for _, target := range []vendor.Target{
		{Kind: vendor.TargetID, Value: "008"},
		{Kind: vendor.TargetID, Value: "009"},
		{Kind: vendor.TargetHostname, Value: "demo-host-08.corp.example"},
		{Kind: vendor.TargetIP, Value: "10.20.0.9"},
	} {
		eps, got, err := c.ResolveStatus(ctx, target)
		if err != nil || len(eps) != 1 {
			t.Fatalf("%s: %d matches, %v; want one", target.Value, len(eps), err)
		}
		want, err := c.Status(ctx, eps[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.Endpoint != want.Endpoint || string(got.Raw) != string(want.Raw) {
			t.Errorf("%s: ResolveStatus gave %+v %s; Status gives %+v %s", target.Value, got.Endpoint, got.Raw, want.Endpoint, want.Raw)
		}
	}

	eps, got, err := c.ResolveStatus(ctx, vendor.Target{Kind: vendor.TargetID, Value: "250"})
	if err != nil || len(eps) != 0 || got.Raw != nil || got.Endpoint.AgentID != "" {
		t.Errorf("unknown agent: %+v %+v %v, want no match and an empty status", eps, got, err)
	}
}
