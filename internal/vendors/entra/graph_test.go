package entra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/vendors/entra/report"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFixtures(t *testing.T) {
	t.Run("patch request is the exact body sent", func(t *testing.T) {
		var want, got any
		if err := json.Unmarshal(readFixture(t, "user_patch_disable_request.json"), &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(`{"accountEnabled":false}`), &got); err != nil {
			t.Fatal(err)
		}
		if want.(map[string]any)["accountEnabled"] != got.(map[string]any)["accountEnabled"] || len(want.(map[string]any)) != 1 {
			t.Errorf("fixture %v differs from the client body %v", want, got)
		}
	})

	t.Run("revoke response", func(t *testing.T) {
		var v struct{ Value bool }
		if err := json.Unmarshal(readFixture(t, "revoke_sign_in_sessions_200.json"), &v); err != nil || !v.Value {
			t.Errorf("revoke fixture value = %t, %v; want true", v.Value, err)
		}
	})

	t.Run("sign-in page", func(t *testing.T) {
		var p page[report.SignIn]
		if err := json.Unmarshal(readFixture(t, "signins_list_200.json"), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Value) != 1 || p.NextLink == "" {
			t.Fatalf("page = %d entries, next %q; want 1 and a link", len(p.Value), p.NextLink)
		}
		si := p.Value[0]
		if si.UserPrincipalName != "testaccount1@contoso.com" || si.IPAddress != "131.107.159.37" || si.Location.CountryOrRegion != "US" || !si.Succeeded() || si.Risky() {
			t.Errorf("sign-in = %+v", si)
		}
		c := &Client{graphBase: "https://graph.microsoft.com/v1.0"}
		rel, err := c.relativeNextLink(p.NextLink)
		if err != nil || !strings.HasPrefix(rel, "/auditLogs/signIns?$top=1&$skiptoken=") {
			t.Errorf("relative next link = %q, %v", rel, err)
		}
	})

	for _, tc := range []struct{ file, code string }{
		{"error_403_authorization_request_denied.json", "Authorization_RequestDenied"},
		{"error_404_request_resource_not_found.json", "Request_ResourceNotFound"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			code, msg, ok := mslogin.ParseError(readFixture(t, tc.file))
			if !ok || code != tc.code || msg == "" {
				t.Errorf("ParseError = %q, %q, %t; want %q with a message", code, msg, ok, tc.code)
			}
		})
	}
}

func TestRelativeNextLinkRejectsOtherHosts(t *testing.T) {
	c := &Client{graphBase: "https://graph.microsoft.com/v1.0"}
	for _, link := range []string{
		"https://evil.example/v1.0/auditLogs/signIns?$skiptoken=x",
		"http://graph.microsoft.com/v1.0/auditLogs/signIns",
		"https://graph.microsoft.com/beta/auditLogs/signIns",
		"https://graph.microsoft.com/v1.0",
	} {
		if rel, err := c.relativeNextLink(link); err == nil {
			t.Errorf("relativeNextLink(%q) = %q, want an error", link, rel)
		}
	}
}

func TestParseUser(t *testing.T) {
	u, err := parseUser([]byte(`{"id":"1","userPrincipalName":"a_b.com#EXT#@c.com","accountEnabled":false,"userType":"Guest",
		"signInActivity":{"lastSignInDateTime":"2026-01-01T00:00:00Z","lastNonInteractiveSignInDateTime":"2026-01-02T00:00:00Z"}}`))
	if err != nil {
		t.Fatal(err)
	}
	vu := u.toUser()
	if vu.AccountEnabled || !vu.IsGuest || vu.LastSignIn == nil || !vu.LastSignIn.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("user = %+v, want disabled guest with the later last sign-in", vu)
	}
	if _, err := parseUser([]byte(`{"id":"1"}`)); err == nil {
		t.Errorf("parseUser accepted a body without accountEnabled")
	}
}

func FuzzParseUser(f *testing.F) {
	f.Add([]byte(`{"id":"1","accountEnabled":true,"signInActivity":{"lastSignInDateTime":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"accountEnabled":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := parseUser(body)
		if err == nil {
			_ = u.toUser()
		}
	})
}

func FuzzParseSignInPage(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"x","createdDateTime":"2026-01-01T00:00:00Z","status":{"errorCode":50126}}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/auditLogs/signIns?$skiptoken=1"}`))
	f.Add([]byte(`{"value":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p page[report.SignIn]
		if json.Unmarshal(body, &p) != nil {
			return
		}
		c := &Client{graphBase: "https://graph.microsoft.com/v1.0"}
		if rel, err := c.relativeNextLink(p.NextLink); err == nil && !strings.HasPrefix(rel, "/") {
			t.Fatalf("relative link %q does not start with /", rel)
		}
		_ = report.Summarize(report.Input{SignIns: p.Value, From: time.Now().Add(-time.Hour), To: time.Now()})
	})
}
