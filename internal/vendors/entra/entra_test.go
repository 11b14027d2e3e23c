package entra_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/entra"
	"github.com/smartpt/smartpt/internal/vendors/entra/entrasim"
	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"
)

// setup starts a simulator on loopback and a real client pointed at it.
func setup(t *testing.T, cfg entrasim.Config) (*entra.Client, *entrasim.Server) {
	t.Helper()
	return setupWith(t, cfg, entrasim.ClientSecret, false)
}

func setupWith(t *testing.T, cfg entrasim.Config, secret string, useTLS bool) (*entra.Client, *entrasim.Server) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Logger = logger
	sim := entrasim.New(cfg)
	srv, err := simharness.Serve(sim, useTLS)
	if err != nil {
		t.Fatalf("serve simulator: %v", err)
	}
	t.Cleanup(srv.Close)

	settings := map[string]string{
		"tenant_id": entrasim.TenantID,
		"client_id": entrasim.ClientID,
		"login_url": srv.URL,
		"graph_url": srv.URL,
	}
	if useTLS {
		settings["ca_pem"] = string(srv.CAPEM)
	}
	client, err := entra.New(vendor.Config{
		CompanyID: "acme", Service: vendor.ServiceAzureAD, Kind: vendor.KindEntra,
		Settings: settings,
		Secrets:  map[string]string{"client_secret": secret},
	}, vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return client, sim
}

func wantVendorError(t *testing.T, err error, kind vendor.ErrorKind, code string) *vendor.Error {
	t.Helper()
	ve, ok := vendor.AsError(err)
	if !ok {
		t.Fatalf("error = %v (%T), want *vendor.Error of kind %s", err, err, kind)
	}
	if ve.Kind != kind {
		t.Errorf("error kind = %s, want %s (%v)", ve.Kind, kind, err)
	}
	if code != "" && ve.Code != code {
		t.Errorf("error code = %q, want %q", ve.Code, code)
	}
	return ve
}

func TestBlockMember(t *testing.T) {
	client, sim := setup(t, entrasim.Config{})
	ctx := context.Background()
	upn := "user03@demo.example"
	_, validFrom, _ := sim.User(upn)

	out, err := client.Block(ctx, upn, vendor.Options{ActionID: "a1"})
	if err != nil {
		t.Fatalf("Block: %v", err)
	}

	if got := len(out.Steps); got != 2 {
		t.Fatalf("steps = %d, want 2: %+v", got, out.Steps)
	}
	for i, name := range []string{entra.StepDisable, entra.StepRevoke} {
		if out.Steps[i].Name != name || !out.Steps[i].Succeeded {
			t.Errorf("step %d = %+v, want %q succeeded", i, out.Steps[i], name)
		}
	}
	if out.User.AccountEnabled {
		t.Errorf("outcome user enabled = true, want false")
	}
	if len(out.Warnings) != 0 {
		t.Errorf("warnings = %q, want none", out.Warnings)
	}

	enabled, newValidFrom, _ := sim.User(upn)
	if enabled {
		t.Errorf("simulator account still enabled")
	}
	if !newValidFrom.After(validFrom) {
		t.Errorf("sessions valid-from = %v, want after %v", newValidFrom, validFrom)
	}
	patches := sim.Patches()
	if len(patches) != 1 || patches[0].Body != `{"accountEnabled":false}` {
		t.Errorf("PATCH bodies = %+v, want exactly one {\"accountEnabled\":false}", patches)
	}
}

func TestBlockGuestWarns(t *testing.T) {
	client, _ := setup(t, entrasim.Config{})

	out, err := client.Block(context.Background(), entrasim.GuestUPN, vendor.Options{})
	if err != nil {
		t.Fatalf("Block: %v", err)
	}
	if !out.User.IsGuest {
		t.Errorf("IsGuest = false, want true")
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "external") {
		t.Errorf("warnings = %q, want one about external users", out.Warnings)
	}
}

func TestBlockErrors(t *testing.T) {
	cases := []struct {
		name string
		upn  string
		kind vendor.ErrorKind
		code string
	}{
		{"privileged user", entrasim.PrivilegedUPN, vendor.ErrForbidden, "Authorization_RequestDenied"},
		{"unknown user", "nobody@demo.example", vendor.ErrNotFound, "Request_ResourceNotFound"},
		{"invalid upn", "bad user@demo.example", vendor.ErrInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, sim := setup(t, entrasim.Config{})

			_, err := client.Block(context.Background(), tc.upn, vendor.Options{})

			wantVendorError(t, err, tc.kind, tc.code)
			if got := sim.Requests("POST revokeSignInSessions"); got != 0 {
				t.Errorf("revoke requests = %d, want 0 after a failed disable", got)
			}
		})
	}
}

func TestBlockRevokeFailureIsWarning(t *testing.T) {
	client, sim := setup(t, entrasim.Config{})
	sim.Inject(entrasim.Fault{PathContains: "revokeSignInSessions", Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation.", Count: 5})

	out, err := client.Block(context.Background(), "user04@demo.example", vendor.Options{})
	if err != nil {
		t.Fatalf("Block: %v, want an outcome with a warning", err)
	}
	if len(out.Steps) != 2 || !out.Steps[0].Succeeded || out.Steps[1].Succeeded {
		t.Errorf("steps = %+v, want disable succeeded then revoke failed", out.Steps)
	}
	if len(out.Warnings) == 0 || !strings.Contains(out.Warnings[0], "revoking its sign-in sessions failed") {
		t.Errorf("warnings = %q, want the revoke failure", out.Warnings)
	}
	if enabled, _, _ := sim.User("user04@demo.example"); enabled {
		t.Errorf("account enabled after block, want disabled")
	}
}

func TestUnblock(t *testing.T) {
	client, sim := setup(t, entrasim.Config{})
	ctx := context.Background()
	upn := "user05@demo.example"
	if _, err := client.Block(ctx, upn, vendor.Options{}); err != nil {
		t.Fatalf("Block: %v", err)
	}

	out, err := client.Unblock(ctx, upn, vendor.Options{})
	if err != nil {
		t.Fatalf("Unblock: %v", err)
	}
	if !out.User.AccountEnabled || len(out.Steps) != 1 || out.Steps[0].Name != entra.StepEnable {
		t.Errorf("outcome = %+v, want enabled with one enable step", out)
	}
	if enabled, _, _ := sim.User(upn); !enabled {
		t.Errorf("simulator account disabled after unblock")
	}
	patches := sim.Patches()
	if last := patches[len(patches)-1].Body; last != `{"accountEnabled":true}` {
		t.Errorf("last PATCH body = %s, want {\"accountEnabled\":true}", last)
	}
}

func TestStatus(t *testing.T) {
	client, _ := setup(t, entrasim.Config{})

	out, err := client.Status(context.Background(), "user01@demo.example")
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	u := out.User
	if u.UserPrincipalName != "user01@demo.example" || !u.AccountEnabled || u.UserType != "Member" {
		t.Errorf("user = %+v, want enabled member user01", u)
	}
	if u.SessionsValidFrom == nil || u.LastSignIn == nil {
		t.Errorf("sessions valid-from = %v, last sign-in = %v, want both set", u.SessionsValidFrom, u.LastSignIn)
	}
	if len(out.Warnings) != 0 {
		t.Errorf("warnings = %q, want none", out.Warnings)
	}
}

func TestStatusWithoutPremium(t *testing.T) {
	client, _ := setup(t, entrasim.Config{NoPremium: true})

	out, err := client.Status(context.Background(), "user01@demo.example")
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if out.User.LastSignIn != nil {
		t.Errorf("last sign-in = %v, want nil without a licence", out.User.LastSignIn)
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "P1 or P2") {
		t.Errorf("warnings = %q, want the licence warning", out.Warnings)
	}
}

func TestStatusUnusualUPNs(t *testing.T) {
	upns := []string{
		entrasim.GuestUPN,
		"o'neil+ops@demo.example",
		"$svc-backup@demo.example",
	}
	client, _ := setup(t, entrasim.Config{})
	for _, upn := range upns {
		t.Run(upn, func(t *testing.T) {
			out, err := client.Status(context.Background(), upn)
			if err != nil {
				t.Fatalf("Status(%q): %v", upn, err)
			}
			if out.User.UserPrincipalName != upn {
				t.Errorf("userPrincipalName = %q, want %q", out.User.UserPrincipalName, upn)
			}
		})
	}
}

func TestThrottling(t *testing.T) {
	t.Run("retried after Retry-After", func(t *testing.T) {
		client, sim := setup(t, entrasim.Config{})
		sim.Inject(entrasim.Fault{PathContains: "/users/", Status: http.StatusTooManyRequests, RetryAfter: "0.1", Count: 1})

		if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
			t.Fatalf("Status after one 429: %v", err)
		}
	})

	t.Run("persistent 429", func(t *testing.T) {
		client, sim := setup(t, entrasim.Config{})
		sim.Inject(entrasim.Fault{PathContains: "/users/", Status: http.StatusTooManyRequests, RetryAfter: "0.2", Count: 100})

		_, err := client.Status(context.Background(), "user01@demo.example")

		ve := wantVendorError(t, err, vendor.ErrThrottled, "TooManyRequests")
		if ve.RetryAfter != 200*time.Millisecond {
			t.Errorf("RetryAfter = %v, want 200ms", ve.RetryAfter)
		}
	})
}

func TestServerErrorUnavailable(t *testing.T) {
	client, sim := setup(t, entrasim.Config{})
	sim.Inject(entrasim.Fault{PathContains: "/users/", Status: http.StatusServiceUnavailable, Count: 100})

	_, err := client.Status(context.Background(), "user01@demo.example")

	wantVendorError(t, err, vendor.ErrUnavailable, "serviceNotAvailable")
	if got := sim.Requests("GET user"); got != 0 {
		t.Errorf("requests past the fault = %d, want 0", got)
	}
}

func TestTokenLifecycle(t *testing.T) {
	t.Run("one token for many calls", func(t *testing.T) {
		client, sim := setup(t, entrasim.Config{})
		for range 5 {
			if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
				t.Fatalf("Status: %v", err)
			}
		}
		if got := sim.Issuer().Requests(); got != 1 {
			t.Errorf("token requests = %d, want 1", got)
		}
	})

	t.Run("expired token renewed once", func(t *testing.T) {
		client, sim := setup(t, entrasim.Config{})
		if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
			t.Fatalf("Status: %v", err)
		}
		sim.Issuer().ExpireAll()

		if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
			t.Fatalf("Status after expiry: %v", err)
		}
		if got := sim.Issuer().Requests(); got != 2 {
			t.Errorf("token requests = %d, want 2", got)
		}
	})

	t.Run("short lifetime renewed at half-life", func(t *testing.T) {
		client, sim := setup(t, entrasim.Config{TokenLifetime: 2 * time.Second})
		if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
			t.Fatalf("Status: %v", err)
		}
		if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
			t.Fatalf("Status: %v", err)
		}
		if got := sim.Issuer().Requests(); got != 1 {
			t.Errorf("token requests before half-life = %d, want 1", got)
		}

		time.Sleep(1100 * time.Millisecond)
		if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
			t.Fatalf("Status after half-life: %v", err)
		}
		if got := sim.Issuer().Requests(); got != 2 {
			t.Errorf("token requests after half-life = %d, want 2", got)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		secret := "wrong-secret-value-123"
		client, _ := setupWith(t, entrasim.Config{}, secret, false)

		_, err := client.Status(context.Background(), "user01@demo.example")

		wantVendorError(t, err, vendor.ErrAuth, "invalid_client")
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the client secret", err)
		}
	})
}

func TestTLS(t *testing.T) {
	client, _ := setupWith(t, entrasim.Config{}, entrasim.ClientSecret, true)

	if _, err := client.Status(context.Background(), "user01@demo.example"); err != nil {
		t.Fatalf("Status over TLS: %v", err)
	}
}

func TestReport(t *testing.T) {
	client, sim := setup(t, entrasim.Config{PageSize: 7})
	ctx := context.Background()
	upn := "user02@demo.example"
	if _, err := client.Block(ctx, upn, vendor.Options{}); err != nil {
		t.Fatalf("Block: %v", err)
	}

	rep, err := client.Report(ctx, upn, vendor.Options{ActionID: "r1"})
	if err != nil {
		t.Fatalf("Report: %v", err)
	}

	var summary struct {
		User    struct{ UserPrincipalName string }
		SignIns struct {
			Total, Succeeded, Failed int
			PerDay                   []struct{ Date string } `json:"per_day"`
			IPs                      []string                `json:"ip_addresses"`
			Countries                []string                `json:"countries"`
			Applications             []string                `json:"applications"`
		} `json:"sign_ins"`
		Audits    []struct{ Activity string } `json:"directory_audits"`
		Truncated bool
	}
	if err := json.Unmarshal(rep.Summary, &summary); err != nil {
		t.Fatalf("summary JSON: %v\n%s", err, rep.Summary)
	}
	if summary.User.UserPrincipalName != upn {
		t.Errorf("summary user = %q, want %q", summary.User.UserPrincipalName, upn)
	}
	if summary.SignIns.Total == 0 || summary.SignIns.Total != summary.SignIns.Succeeded+summary.SignIns.Failed {
		t.Errorf("sign-in counts = %+v, want a non-zero total of succeeded and failed", summary.SignIns)
	}
	if got := len(summary.SignIns.PerDay); got != 31 {
		t.Errorf("per-day entries = %d, want 31", got)
	}
	if len(summary.SignIns.IPs) == 0 || len(summary.SignIns.Countries) == 0 || len(summary.SignIns.Applications) == 0 {
		t.Errorf("distinct values missing: %+v", summary.SignIns)
	}
	if pages := sim.Requests("GET signIns"); pages < 2 {
		t.Errorf("signIns pages read = %d, want several with page size 7", pages)
	}
	activities := []string{}
	for _, a := range summary.Audits {
		activities = append(activities, a.Activity)
	}
	if !strings.Contains(strings.Join(activities, ","), "Disable account") {
		t.Errorf("audit activities = %q, want Disable account", activities)
	}

	msg := rep.Email
	if len(msg.Inline) != 1 || msg.Inline[0].ContentType != "image/png" || !strings.Contains(msg.HTML, "cid:"+msg.Inline[0].ContentID) {
		t.Errorf("inline parts = %+v, want one PNG referenced from the HTML", msg.Inline)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "text/csv" {
		t.Fatalf("attachments = %+v, want one CSV", msg.Attachments)
	}
	if rows := strings.Count(string(msg.Attachments[0].Data), "\n"); rows != summary.SignIns.Total+1 {
		t.Errorf("CSV rows = %d, want %d sign-ins plus a header", rows, summary.SignIns.Total+1)
	}
}

func TestReportWithoutPremium(t *testing.T) {
	client, _ := setup(t, entrasim.Config{NoPremium: true})

	rep, err := client.Report(context.Background(), "user01@demo.example", vendor.Options{})
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	var summary struct{ Warnings []string }
	if err := json.Unmarshal(rep.Summary, &summary); err != nil {
		t.Fatalf("summary JSON: %v", err)
	}
	if len(summary.Warnings) != 2 {
		t.Errorf("warnings = %q, want the sign-in activity and sign-in log warnings", summary.Warnings)
	}
}

func TestPlanEscapes(t *testing.T) {
	client, _ := setup(t, entrasim.Config{})

	calls := client.Plan(vendor.ActionBlock, "a#EXT#@demo.example", vendor.Options{})

	if len(calls) != 3 {
		t.Fatalf("calls = %d, want 3", len(calls))
	}
	if !strings.HasSuffix(calls[1].URL, "/v1.0/users/a%23EXT%23@demo.example") || string(calls[1].Body) != `{"accountEnabled":false}` {
		t.Errorf("PATCH call = %s %s %s", calls[1].Method, calls[1].URL, calls[1].Body)
	}
}

func TestFactoryRegistered(t *testing.T) {
	f, ok := vendor.Lookup(vendor.KindEntra)
	if !ok || f.NewDirectory == nil || f.Check == nil {
		t.Fatalf("entra factory = %+v, %v; want a directory factory with Check", f, ok)
	}
	_, err := f.NewDirectory(vendor.Config{Settings: map[string]string{"tenant_id": "x/../y"}}, vendor.Deps{HTTP: vendorhttp.NewPool(nil)})
	var ve *vendor.Error
	if !errors.As(err, &ve) || ve.Kind != vendor.ErrMisconfigure {
		t.Errorf("bad tenant error = %v, want ErrMisconfigure", err)
	}
}

func TestCheckThroughFactory(t *testing.T) {
	run, err := entrasim.Start(simharness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	f, _ := vendor.Lookup(vendor.KindEntra)
	cfg := vendor.Config{CompanyID: "acme", Service: vendor.ServiceAzureAD, Kind: vendor.KindEntra, Settings: run.Settings, Secrets: run.Secrets}
	deps := vendor.Deps{HTTP: vendorhttp.NewPool(slog.New(slog.NewTextHandler(io.Discard, nil)))}

	if err := f.Check(cfg, deps); err != nil {
		t.Errorf("Check: %v", err)
	}

	cfg.Secrets = map[string]string{"client_secret": "wrong"}
	err = f.Check(cfg, deps)
	wantVendorError(t, err, vendor.ErrAuth, "invalid_client")
}

func TestCertificateCredentials(t *testing.T) {
	registered, bundle, err := mssim.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	_, otherBundle, err := mssim.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		bundle  []byte
		wantErr bool
	}{
		{"registered certificate", bundle, false},
		{"unknown certificate", otherBundle, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			sim := entrasim.New(entrasim.Config{Logger: logger})
			sim.Issuer().Certificate = registered
			srv, err := simharness.Serve(sim, false)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			client, err := entra.New(vendor.Config{
				CompanyID: "acme", Service: vendor.ServiceAzureAD, Kind: vendor.KindEntra,
				Settings: map[string]string{"tenant_id": entrasim.TenantID, "client_id": entrasim.ClientID, "login_url": srv.URL, "graph_url": srv.URL},
				Secrets:  map[string]string{"client_certificate": string(tc.bundle)},
			}, vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger})
			if err != nil {
				t.Fatalf("New: %v", err)
			}

			_, err = client.Status(context.Background(), "user01@demo.example")

			if !tc.wantErr && err != nil {
				t.Fatalf("Status: %v", err)
			}
			if tc.wantErr {
				wantVendorError(t, err, vendor.ErrAuth, "invalid_client")
			}
		})
	}
}

// TestBlockWithoutTokenNotSent: a token request can fail after it reached
// the login server (here the server drops the connection). No Graph
// request was then sent, so the error sets NotSent, and the engine fails
// the action at once instead of holding it as possibly done.
func TestBlockWithoutTokenNotSent(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := entrasim.New(entrasim.Config{Logger: logger})
	graph, err := simharness.Serve(sim, false)
	if err != nil {
		t.Fatalf("serve simulator: %v", err)
	}
	t.Cleanup(graph.Close)
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(login.Close)

	client, err := entra.New(vendor.Config{
		CompanyID: "acme", Service: vendor.ServiceAzureAD, Kind: vendor.KindEntra,
		Settings: map[string]string{"tenant_id": entrasim.TenantID, "client_id": entrasim.ClientID, "login_url": login.URL, "graph_url": graph.URL},
		Secrets:  map[string]string{"client_secret": entrasim.ClientSecret},
	}, vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = client.Block(ctx, "adele.vance@contoso.example", vendor.Options{})
	ve, ok := vendor.AsError(err)
	if !ok {
		t.Fatalf("Block error = %v (%T), want *vendor.Error", err, err)
	}
	if !ve.NotSent {
		t.Errorf("NotSent = false, want true: %v", err)
	}
	if got := sim.Requests("GET user"); got != 0 {
		t.Errorf("Graph user reads = %d, want 0", got)
	}
}
