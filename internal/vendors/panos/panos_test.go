package panos_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/panos"
	"github.com/smartpt/smartpt/internal/vendors/panos/panossim"
)

const (
	testUser     = "api-admin"
	testPassword = "correct horse battery staple"
	testAPIKey   = "LUFRPT1testkeyforthesimulator=="
)

// clock is a settable time source for registration timeouts.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	sim   *panossim.Server
	clock *clock
	url   string
	ca    string
}

func startSim(t *testing.T, cidr bool) fixture {
	t.Helper()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	sim := panossim.New(panossim.Config{APIKey: testAPIKey, Username: testUser, Password: testPassword, CIDRSupported: cidr, Now: clk.Now})
	srv, err := simharness.Serve(sim, true)
	if err != nil {
		t.Fatalf("serve simulator: %v", err)
	}
	t.Cleanup(srv.Close)
	return fixture{sim: sim, clock: clk, url: srv.URL, ca: string(srv.CAPEM)}
}

func testDeps() vendor.Deps {
	logger := slog.New(slog.DiscardHandler)
	return vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger}
}

// newClient builds a client for f with the settings and secrets given on top
// of url and ca_pem.
func newClient(t *testing.T, f fixture, settings, secrets map[string]string) *panos.Client {
	t.Helper()
	cfg := vendor.Config{CompanyID: "acme", Service: vendor.ServicePaloAlto, Kind: vendor.KindPANOS,
		Settings: map[string]string{panos.SettingURL: f.url, panos.SettingCAPEM: f.ca}, Secrets: secrets}
	for k, v := range settings {
		cfg.Settings[k] = v
	}
	c, err := panos.New(cfg, testDeps())
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

func passwordSecrets() map[string]string {
	return map[string]string{panos.SecretUsername: testUser, panos.SecretPassword: testPassword}
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

func TestQuarantineLifecycle(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		secrets  map[string]string
	}{
		{"keygen with header key", nil, passwordSecrets()},
		{"keygen with form key", map[string]string{panos.SettingAuthMode: panos.AuthForm}, passwordSecrets()},
		{"configured api key", nil, map[string]string{panos.SecretAPIKey: testAPIKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startSim(t, false)
			c := newClient(t, f, tt.settings, tt.secrets)
			ctx := context.Background()

			eps, err := c.Resolve(ctx, vendor.Target{Kind: vendor.TargetIP, Value: "10.20.0.7"})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if len(eps) != 1 || eps[0].AgentID != "10.20.0.7" || eps[0].Isolation != vendor.NotIsolated {
				t.Fatalf("Resolve = %+v, want 10.20.0.7 not isolated", eps)
			}
			ep := eps[0]

			out, err := c.Isolate(ctx, ep, vendor.Options{ActionID: "a1"})
			if err != nil {
				t.Fatalf("Isolate: %v", err)
			}
			if out.Pending || out.AlreadyInState || out.Endpoint.Isolation != vendor.Isolated {
				t.Errorf("Isolate = %+v, want synchronous isolation", out)
			}
			if got := f.sim.Tags("vsys1", "10.20.0.7"); len(got) != 1 || got[0] != panos.DefaultTag {
				t.Errorf("firewall tags = %v, want [%s]", got, panos.DefaultTag)
			}

			st, err := c.Status(ctx, ep)
			if err != nil || st.Endpoint.Isolation != vendor.Isolated {
				t.Errorf("Status = %+v, %v, want isolated", st, err)
			}
			conf, err := c.Confirm(ctx, ep, vendor.ActionIsolate, "")
			if err != nil || !conf.Final || !conf.Succeeded {
				t.Errorf("Confirm = %+v, %v, want final success", conf, err)
			}

			before := f.sim.Calls("user-id")
			again, err := c.Isolate(ctx, ep, vendor.Options{})
			if err != nil || !again.AlreadyInState {
				t.Errorf("second Isolate = %+v, %v, want AlreadyInState", again, err)
			}
			if f.sim.Calls("user-id") != before {
				t.Errorf("second Isolate sent a user-id request")
			}

			rel, err := c.Release(ctx, ep, vendor.Options{})
			if err != nil || rel.Endpoint.Isolation != vendor.NotIsolated || rel.AlreadyInState {
				t.Fatalf("Release = %+v, %v, want released", rel, err)
			}
			if got := f.sim.Tags("vsys1", "10.20.0.7"); len(got) != 0 {
				t.Errorf("firewall tags after release = %v, want none", got)
			}
			rel, err = c.Release(ctx, ep, vendor.Options{})
			if err != nil || !rel.AlreadyInState {
				t.Errorf("second Release = %+v, %v, want AlreadyInState", rel, err)
			}
		})
	}
}

func TestQuarantineTimeoutExpires(t *testing.T) {
	f := startSim(t, false)
	c := newClient(t, f, map[string]string{panos.SettingTimeoutSeconds: "3600"}, passwordSecrets())
	ctx := context.Background()
	ep := vendor.Endpoint{AgentID: "10.20.0.8"}

	if _, err := c.Isolate(ctx, ep, vendor.Options{}); err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	f.clock.Advance(59 * time.Minute)
	if st, _ := c.Status(ctx, ep); st.Endpoint.Isolation != vendor.Isolated {
		t.Fatalf("status after 59 min = %s, want isolated", st.Endpoint.Isolation)
	}
	f.clock.Advance(2 * time.Minute)
	st, err := c.Status(ctx, ep)
	if err != nil || st.Endpoint.Isolation != vendor.NotIsolated {
		t.Errorf("status after 61 min = %+v, %v, want not isolated", st, err)
	}
}

func TestTargets(t *testing.T) {
	ctx := context.Background()

	t.Run("ipv6 canonical form", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, passwordSecrets())
		if _, err := c.Isolate(ctx, vendor.Endpoint{AgentID: "2001:DB8:0::10"}, vendor.Options{}); err != nil {
			t.Fatalf("Isolate: %v", err)
		}
		if got := f.sim.Tags("vsys1", "2001:db8::10"); len(got) != 1 {
			t.Errorf("tags of 2001:db8::10 = %v, want one", got)
		}
	})

	t.Run("host name invalid", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, passwordSecrets())
		_, err := c.Resolve(ctx, vendor.Target{Kind: vendor.TargetHostname, Value: "demo-host-01"})
		ve := wantKind(t, err, vendor.ErrInvalid)
		if !strings.Contains(ve.Detail, "IP address") {
			t.Errorf("detail = %q, want it to ask for an IP address", ve.Detail)
		}
	})

	t.Run("cidr without setting", func(t *testing.T) {
		f := startSim(t, true)
		c := newClient(t, f, nil, passwordSecrets())
		if c.IsID("10.20.0.0/24") {
			t.Error("IsID accepted a CIDR without cidr_targets")
		}
		_, err := c.Isolate(ctx, vendor.Endpoint{AgentID: "10.20.0.0/24"}, vendor.Options{})
		wantKind(t, err, vendor.ErrInvalid)
	})

	t.Run("cidr with setting", func(t *testing.T) {
		f := startSim(t, true)
		c := newClient(t, f, map[string]string{panos.SettingCIDRTargets: "true"}, passwordSecrets())
		out, err := c.Isolate(ctx, vendor.Endpoint{AgentID: "10.20.0.0/24"}, vendor.Options{})
		if err != nil || out.Endpoint.Isolation != vendor.Isolated {
			t.Fatalf("Isolate CIDR = %+v, %v", out, err)
		}
		if got := f.sim.Tags("vsys1", "10.20.0.0/24"); len(got) != 1 {
			t.Errorf("tags of 10.20.0.0/24 = %v, want one", got)
		}
	})

	t.Run("cidr on a firewall before 10.0", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, map[string]string{panos.SettingCIDRTargets: "true"}, passwordSecrets())
		_, err := c.Isolate(ctx, vendor.Endpoint{AgentID: "10.20.0.0/24"}, vendor.Options{})
		wantKind(t, err, vendor.ErrInvalid)
	})

	f := startSim(t, true)
	c := newClient(t, f, map[string]string{panos.SettingCIDRTargets: "true"}, passwordSecrets())
	for _, bad := range []string{
		"10.0.0.0/8",
		"10.20.0.5/24",
		"0.0.0.0",
		"::",
		"224.0.0.1",
		"fe80::1%eth0",
		"10.0.0.1\"/><entry ip=\"0.0.0.0",
		"10.0.0.1</ip><x>",
		"demo-host-01",
		"",
	} {
		t.Run("reject "+bad, func(t *testing.T) {
			if c.IsID(bad) {
				t.Errorf("IsID(%q) = true, want false", bad)
			}
			_, err := c.Isolate(ctx, vendor.Endpoint{AgentID: bad}, vendor.Options{})
			wantKind(t, err, vendor.ErrInvalid)
		})
	}
	if f.sim.Calls("user-id") != 0 {
		t.Errorf("user-id requests = %d, want 0 for rejected targets", f.sim.Calls("user-id"))
	}
}

func TestTagIsEscaped(t *testing.T) {
	f := startSim(t, false)
	tag := `q<uarantine>&]]><entry ip=x>`
	c := newClient(t, f, map[string]string{panos.SettingTag: tag}, passwordSecrets())
	ctx := context.Background()
	ep := vendor.Endpoint{AgentID: "10.20.0.9"}

	if _, err := c.Isolate(ctx, ep, vendor.Options{}); err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	got := f.sim.Tags("vsys1", "10.20.0.9")
	if len(got) != 1 || got[0] != tag {
		t.Errorf("firewall tags = %q, want exactly [%q]", got, tag)
	}
	if st, err := c.Status(ctx, ep); err != nil || st.Endpoint.Isolation != vendor.Isolated {
		t.Errorf("Status = %+v, %v, want isolated", st, err)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	base := func() vendor.Config {
		return vendor.Config{Settings: map[string]string{panos.SettingURL: "https://fw.example.com"}, Secrets: map[string]string{panos.SecretAPIKey: "k"}}
	}
	tests := []struct {
		name   string
		change func(*vendor.Config)
	}{
		{"missing url", func(c *vendor.Config) { delete(c.Settings, panos.SettingURL) }},
		{"plain http", func(c *vendor.Config) { c.Settings[panos.SettingURL] = "http://fw.example.com" }},
		{"query in url", func(c *vendor.Config) { c.Settings[panos.SettingURL] = "https://fw.example.com/?key=x" }},
		{"tag with quote", func(c *vendor.Config) { c.Settings[panos.SettingTag] = `quar"antine` }},
		{"tag with apostrophe", func(c *vendor.Config) { c.Settings[panos.SettingTag] = `quar'antine` }},
		{"tag only spaces", func(c *vendor.Config) { c.Settings[panos.SettingTag] = "   " }},
		{"tag operator", func(c *vendor.Config) { c.Settings[panos.SettingTag] = "AND" }},
		{"tag too long", func(c *vendor.Config) { c.Settings[panos.SettingTag] = strings.Repeat("t", 128) }},
		{"tag control character", func(c *vendor.Config) { c.Settings[panos.SettingTag] = "bad\x00tag" }},
		{"negative timeout", func(c *vendor.Config) { c.Settings[panos.SettingTimeoutSeconds] = "-1" }},
		{"timeout over 30 days", func(c *vendor.Config) { c.Settings[panos.SettingTimeoutSeconds] = "2592001" }},
		{"bad vsys", func(c *vendor.Config) { c.Settings[panos.SettingVsys] = "vsys1<x/>" }},
		{"bad target serial", func(c *vendor.Config) { c.Settings[panos.SettingTarget] = "0079&type=op" }},
		{"bad auth mode", func(c *vendor.Config) { c.Settings[panos.SettingAuthMode] = "query" }},
		{"no credentials", func(c *vendor.Config) { c.Secrets = map[string]string{} }},
		{"username without password", func(c *vendor.Config) { c.Secrets = map[string]string{panos.SecretUsername: "a"} }},
		{"bad ca pem", func(c *vendor.Config) { c.Settings[panos.SettingCAPEM] = "nope" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.change(&cfg)
			_, err := panos.New(cfg, testDeps())
			wantKind(t, err, vendor.ErrMisconfigure)
		})
	}

	cfg := base()
	cfg.Settings[panos.SettingTag] = strings.Repeat("t", 127)
	cfg.Settings[panos.SettingTimeoutSeconds] = "2592000"
	cfg.Settings[panos.SettingTarget] = "007951000012345"
	if _, err := panos.New(cfg, testDeps()); err != nil {
		t.Errorf("New with limit values: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	ctx := context.Background()
	ep := vendor.Endpoint{AgentID: "10.20.0.10"}

	t.Run("wrong api key", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, map[string]string{panos.SecretAPIKey: "wrong-key"})
		_, err := c.Status(ctx, ep)
		ve := wantKind(t, err, vendor.ErrAuth)
		if ve.Code != "403" {
			t.Errorf("code = %q, want 403", ve.Code)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, map[string]string{panos.SecretUsername: testUser, panos.SecretPassword: "wrong"})
		_, err := c.Status(ctx, ep)
		ve := wantKind(t, err, vendor.ErrAuth)
		if strings.Contains(ve.Error(), "wrong") && strings.Contains(ve.Error(), "password=") {
			t.Errorf("error %q leaks the password", ve.Error())
		}
	})
	t.Run("revoked key renewed once", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, passwordSecrets())
		if _, err := c.Status(ctx, ep); err != nil {
			t.Fatalf("first Status: %v", err)
		}
		f.sim.RevokeKeys()
		if _, err := c.Status(ctx, ep); err != nil {
			t.Fatalf("Status after key revocation: %v", err)
		}
	})
	t.Run("concurrent calls share one keygen", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, passwordSecrets())
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Status(ctx, ep); err != nil {
					t.Errorf("Status: %v", err)
				}
			}()
		}
		wg.Wait()
		if got := f.sim.Calls("keygen"); got != 1 {
			t.Errorf("keygen requests = %d, want 1", got)
		}
	})
	t.Run("configured key not renewed", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, map[string]string{panos.SecretAPIKey: testAPIKey})
		f.sim.RevokeKeys()
		_, err := c.Status(ctx, ep)
		wantKind(t, err, vendor.ErrAuth)
	})
}

func TestErrorEnvelopes(t *testing.T) {
	ctx := context.Background()
	ep := vendor.Endpoint{AgentID: "10.20.0.11"}
	tests := []struct {
		name  string
		fault panossim.Fault
		want  vendor.ErrorKind
	}{
		{"malformed command", panossim.Fault{Status: 200, Body: `<response status="error" code="18"><msg><line>Malformed command</line></msg></response>`}, vendor.ErrInvalid},
		{"unauthorized role", panossim.Fault{Status: 200, Body: `<response status="error" code="16"><msg>Unauthorized</msg></response>`}, vendor.ErrForbidden},
		{"unknown command", panossim.Fault{Status: 200, Body: `<response status="error" code="1"><msg>Unknown command</msg></response>`}, vendor.ErrUnsupported},
		{"object not present", panossim.Fault{Status: 200, Body: `<response status="error" code="7"><msg>Object not present</msg></response>`}, vendor.ErrNotFound},
		{"internal error", panossim.Fault{Status: 200, Body: `<response status="error" code="21"><msg>Internal error</msg></response>`}, vendor.ErrUnavailable},
		{"not xml", panossim.Fault{Status: 200, Body: `<html><body>login</body></html>`}, vendor.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startSim(t, false)
			c := newClient(t, f, nil, passwordSecrets())
			f.sim.FailNext("op", tt.fault)
			_, err := c.Status(ctx, ep)
			wantKind(t, err, tt.want)
		})
	}

	t.Run("gateway error retried", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, passwordSecrets())
		f.sim.FailNext("op", panossim.Fault{Status: 502, Body: "Bad Gateway"})
		if _, err := c.Status(ctx, ep); err != nil {
			t.Errorf("Status after one 502: %v", err)
		}
	})
	t.Run("register rejected per entry", func(t *testing.T) {
		f := startSim(t, false)
		c := newClient(t, f, nil, passwordSecrets())
		f.sim.FailNext("user-id", panossim.Fault{Status: 200, Body: `<response status="error"><msg><line><uid-response><version>2.0</version><payload><register><entry ip="10.20.0.11" message="Maximum number of tags reached"/></register></payload></uid-response></line></msg></response>`})
		_, err := c.Isolate(ctx, ep, vendor.Options{})
		ve := wantKind(t, err, vendor.ErrInvalid)
		if !strings.Contains(ve.Detail, "Maximum number of tags reached") {
			t.Errorf("detail = %q, want the entry message", ve.Detail)
		}
	})
}

func TestReleaseOfExpiredMapping(t *testing.T) {
	f := startSim(t, false)
	c := newClient(t, f, nil, passwordSecrets())
	ep := vendor.Endpoint{AgentID: "10.20.0.13"}

	// The first read still lists the mapping, which expires before the
	// unregister arrives: the firewall rejects that entry, and a second read
	// shows the IP released.
	f.sim.FailNext("op", panossim.Fault{Status: 200, Body: `<response status="success"><result><entry ip="10.20.0.13" from_agent="0" persistent="1"><tag><member>` + panos.DefaultTag + `</member></tag></entry><count>1</count></result></response>`})
	out, err := c.Release(context.Background(), ep, vendor.Options{})
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !out.AlreadyInState || out.Endpoint.Isolation != vendor.NotIsolated {
		t.Errorf("Release = %+v, want AlreadyInState and not isolated", out)
	}
	if got := f.sim.Calls("user-id"); got != 1 {
		t.Errorf("user-id requests = %d, want 1", got)
	}
}

func TestStatusPagesThroughRegistrations(t *testing.T) {
	f := startSim(t, false)
	c := newClient(t, f, nil, passwordSecrets())
	for i := 0; i < 1200; i++ {
		f.sim.Register("vsys1", fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), panos.DefaultTag)
	}
	f.sim.Register("vsys1", "10.9.9.9", panos.DefaultTag)
	f.sim.Register("vsys1", "10.9.9.8", "another-tag")

	st, err := c.Status(context.Background(), vendor.Endpoint{AgentID: "10.9.9.9"})
	if err != nil || st.Endpoint.Isolation != vendor.Isolated {
		t.Fatalf("Status of the last registered IP = %+v, %v, want isolated", st, err)
	}
	if got := f.sim.Calls("op"); got != 3 {
		t.Errorf("op requests = %d, want 3 pages of %d", got, panos.PageSize)
	}
	st, err = c.Status(context.Background(), vendor.Endpoint{AgentID: "10.9.9.8"})
	if err != nil || st.Endpoint.Isolation != vendor.NotIsolated {
		t.Errorf("Status of an IP with another tag = %+v, %v, want not isolated", st, err)
	}
}

func TestSimulatorRequests(t *testing.T) {
	f := startSim(t, false)
	tlsCfg, err := simharness.ClientTLS([]byte(f.ca))
	if err != nil {
		t.Fatalf("client TLS: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	send := func(method string, form url.Values, header http.Header) string {
		var resp *http.Response
		var err error
		if method == http.MethodGet {
			req, _ := http.NewRequest(method, f.url+"/api/?"+form.Encode(), nil)
			for k, v := range header {
				req.Header[k] = v
			}
			resp, err = hc.Do(req)
		} else {
			req, _ := http.NewRequest(method, f.url+"/api/", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range header {
				req.Header[k] = v
			}
			resp, err = hc.Do(req)
		}
		if err != nil {
			t.Fatalf("%s /api/: %v", method, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	show := `<show><object><registered-ip><all/></registered-ip></object></show>`

	tests := []struct {
		name     string
		method   string
		form     url.Values
		header   http.Header
		contains string
	}{
		{"key in query", http.MethodGet, url.Values{"type": {"op"}, "cmd": {show}, "key": {testAPIKey}}, nil, `status="success"`},
		{"key in header", http.MethodPost, url.Values{"type": {"op"}, "cmd": {show}}, http.Header{"X-Pan-Key": {testAPIKey}}, `status="success"`},
		{"missing key", http.MethodPost, url.Values{"type": {"op"}, "cmd": {show}}, nil, `code = '403'`},
		{"malformed uid-message", http.MethodPost, url.Values{"type": {"user-id"}, "cmd": {`<uid-message><payload>`}, "key": {testAPIKey}}, nil, `code="18"`},
		{"unknown op", http.MethodPost, url.Values{"type": {"op"}, "cmd": {`<show><clock/></show>`}, "key": {testAPIKey}}, nil, `code="17"`},
		{"unknown vsys", http.MethodPost, url.Values{"type": {"op"}, "cmd": {show}, "vsys": {"vsys9"}, "key": {testAPIKey}}, nil, `status="error"`},
		{"quoted tag rejected", http.MethodPost, url.Values{"type": {"user-id"}, "key": {testAPIKey}, "cmd": {`<uid-message><type>update</type><payload><register><entry ip="10.0.0.1"><tag><member>a"b</member></tag></entry></register></payload></uid-message>`}}, nil, `Invalid tag`},
		{"unregister missing", http.MethodPost, url.Values{"type": {"user-id"}, "key": {testAPIKey}, "cmd": {`<uid-message><type>update</type><payload><unregister><entry ip="10.0.0.1"><tag><member>x</member></tag></entry></unregister></payload></uid-message>`}}, nil, `Delete mapping failed`},
		{"keygen", http.MethodPost, url.Values{"type": {"keygen"}, "user": {testUser}, "password": {testPassword}}, nil, `<key>`},
		{"keygen wrong password", http.MethodPost, url.Values{"type": {"keygen"}, "user": {testUser}, "password": {"x"}}, nil, `Invalid Credential`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := send(tt.method, tt.form, tt.header)
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body = %s, want it to contain %s", body, tt.contains)
			}
			if _, err := panos.ParseResponse([]byte(body)); err != nil {
				t.Errorf("ParseResponse(%s): %v", body, err)
			}
		})
	}
}

func TestRegisteredSimulatorServesDemo(t *testing.T) {
	sim, ok := simharness.Lookup(vendor.KindPANOS)
	if !ok {
		t.Fatal("panos simulator is not registered")
	}
	run, err := sim.Start(simharness.Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer run.Close()
	if !strings.HasPrefix(run.URL, "https://") {
		t.Errorf("URL = %s, want https", run.URL)
	}

	factory, ok := vendor.Lookup(vendor.KindPANOS)
	if !ok {
		t.Fatal("panos factory is not registered")
	}
	cfg := vendor.Config{CompanyID: "demo", Service: vendor.ServicePaloAlto, Kind: vendor.KindPANOS, Settings: run.Settings, Secrets: run.Secrets}
	if err := factory.Check(cfg, testDeps()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	c, err := factory.NewContainment(cfg, testDeps())
	if err != nil {
		t.Fatalf("NewContainment: %v", err)
	}
	for _, h := range simharness.DemoHosts()[:3] {
		if !c.IsID(h.IPv4) {
			t.Errorf("IsID(%s) = false", h.IPv4)
		}
		out, err := c.Isolate(context.Background(), vendor.Endpoint{AgentID: h.IPv4}, vendor.Options{})
		if err != nil || out.Endpoint.Isolation != vendor.Isolated {
			t.Errorf("Isolate %s = %+v, %v", h.IPv4, out, err)
		}
	}
}

func TestPlanHasNoKey(t *testing.T) {
	f := startSim(t, false)
	c := newClient(t, f, nil, map[string]string{panos.SecretAPIKey: testAPIKey})
	calls := c.Plan(vendor.ActionIsolate, vendor.Endpoint{AgentID: "10.20.0.12"}, vendor.Options{})
	if len(calls) != 2 {
		t.Fatalf("Plan = %d calls, want 2", len(calls))
	}
	if !strings.Contains(string(calls[1].Body), "register") || !strings.Contains(string(calls[1].Body), "10.20.0.12") {
		t.Errorf("register call body = %s", calls[1].Body)
	}
	for _, call := range calls {
		if strings.Contains(string(call.Body), testAPIKey) || strings.Contains(call.URL, testAPIKey) {
			t.Errorf("planned call %+v contains the API key", call)
		}
	}
}

func TestStalledFirewallHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn) // accepted, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	f := startSim(t, false)
	f.url = "https://" + ln.Addr().String()
	c := newClient(t, f, nil, passwordSecrets())

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Status(ctx, vendor.Endpoint{AgentID: "10.20.0.14"})
	wantKind(t, err, vendor.ErrTimeout)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Status returned after %s, want about 300 ms", took)
	}
}
