package entrasim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors/entra/entrasim"
)

func token(t *testing.T, srv *httptest.Server, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(srv.URL+"/"+entrasim.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func goodForm(scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {entrasim.ClientID}, "client_secret": {entrasim.ClientSecret}, "scope": {scope}}
}

func accessToken(t *testing.T, srv *httptest.Server, scope string) string {
	t.Helper()
	resp, body := token(t, srv, goodForm(scope))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token status = %d, body %v", resp.StatusCode, body)
	}
	return body["access_token"].(string)
}

func TestTokenEndpoint(t *testing.T) {
	srv := httptest.NewServer(entrasim.New(entrasim.Config{}))
	defer srv.Close()

	cases := []struct {
		name   string
		mutate func(url.Values)
		status int
		code   string
	}{
		{"wrong secret", func(f url.Values) { f.Set("client_secret", "x") }, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", func(f url.Values) { f.Set("client_id", "00000000-0000-0000-0000-000000000000") }, http.StatusBadRequest, "unauthorized_client"},
		{"bad scope", func(f url.Values) { f.Set("scope", "https://graph.microsoft.com/User.Read") }, http.StatusBadRequest, "invalid_scope"},
		{"bad grant", func(f url.Values) { f.Set("grant_type", "password") }, http.StatusBadRequest, "unsupported_grant_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := goodForm(entrasim.Audience + "/.default")
			tc.mutate(form)
			resp, body := token(t, srv, form)
			if resp.StatusCode != tc.status || body["error"] != tc.code {
				t.Errorf("status %d error %v, want %d %s", resp.StatusCode, body["error"], tc.status, tc.code)
			}
			if desc, _ := body["error_description"].(string); !strings.HasPrefix(desc, "AADSTS") {
				t.Errorf("error_description = %q, want an AADSTS code", desc)
			}
		})
	}

	resp, err := http.PostForm(srv.URL+"/other-tenant/oauth2/v2.0/token", goodForm(entrasim.Audience+"/.default"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("foreign tenant status = %d, want 400", resp.StatusCode)
	}
}

func graphRequest(t *testing.T, srv *httptest.Server, method, path, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestGraphErrors(t *testing.T) {
	srv := httptest.NewServer(entrasim.New(entrasim.Config{}))
	defer srv.Close()
	graph := accessToken(t, srv, entrasim.Audience+"/.default")
	defender := accessToken(t, srv, "https://api.securitycenter.microsoft.com/.default")

	cases := []struct {
		name, method, path, bearer, body string
		status                           int
		code                             string
	}{
		{"no token", "GET", "/v1.0/users/user01@demo.example", "", "", 401, "InvalidAuthenticationToken"},
		{"foreign audience", "GET", "/v1.0/users/user01@demo.example", defender, "", 401, "InvalidAuthenticationToken"},
		{"unknown segment", "GET", "/v1.0/widgets", graph, "", 400, "BadRequest"},
		{"unknown version", "GET", "/v9/users", graph, "", 400, "BadRequest"},
		{"wrong method", "DELETE", "/v1.0/users/user01@demo.example", graph, "", 405, "Request_BadRequest"},
		{"unknown user", "GET", "/v1.0/users/nobody@demo.example", graph, "", 404, "Request_ResourceNotFound"},
		{"unknown select", "GET", "/v1.0/users/user01@demo.example?$select=password", graph, "", 400, "BadRequest"},
		{"patch unknown property", "PATCH", "/v1.0/users/user01@demo.example", graph, `{"accountEnabld":false}`, 400, "Request_BadRequest"},
		{"patch wrong type", "PATCH", "/v1.0/users/user01@demo.example", graph, `{"accountEnabled":"false"}`, 400, "Request_BadRequest"},
		{"patch read-only", "PATCH", "/v1.0/users/user01@demo.example", graph, `{"id":"x"}`, 400, "Request_BadRequest"},
		{"patch not JSON", "PATCH", "/v1.0/users/user01@demo.example", graph, `accountEnabled=false`, 400, "BadRequest"},
		{"patch privileged", "PATCH", "/v1.0/users/" + entrasim.PrivilegedUPN, graph, `{"accountEnabled":false}`, 403, "Authorization_RequestDenied"},
		{"bare dollar UPN", "GET", "/v1.0/users/$svc-backup@demo.example", graph, "", 400, "BadRequest"},
		{"bad skiptoken", "GET", "/v1.0/auditLogs/signIns?$skiptoken=forged", graph, "", 400, "Request_BadRequest"},
		{"unsupported filter", "GET", "/v1.0/auditLogs/signIns?$filter=" + url.QueryEscape("riskState eq 'atRisk'"), graph, "", 400, "Request_UnsupportedQuery"},
		{"filter syntax", "GET", "/v1.0/auditLogs/signIns?$filter=" + url.QueryEscape("userPrincipalName eq 'x"), graph, "", 400, "BadRequest"},
		{"top too large", "GET", "/v1.0/auditLogs/signIns?$top=5000", graph, "", 400, "Request_UnsupportedQuery"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := graphRequest(t, srv, tc.method, tc.path, tc.bearer, tc.body)
			if status != tc.status || errorCode(body) != tc.code {
				t.Errorf("status %d code %q, want %d %q (body %v)", status, errorCode(body), tc.status, tc.code, body)
			}
		})
	}
}

func TestSignInPaging(t *testing.T) {
	srv := httptest.NewServer(entrasim.New(entrasim.Config{}))
	defer srv.Close()
	graph := accessToken(t, srv, entrasim.Audience+"/.default")

	filter := url.QueryEscape("userPrincipalName eq 'user01@demo.example'")
	path := "/v1.0/auditLogs/signIns?$top=10&$filter=" + filter
	seen := map[string]bool{}
	for pages := 0; path != ""; pages++ {
		if pages > 100 {
			t.Fatalf("more than 100 pages")
		}
		status, body := graphRequest(t, srv, "GET", path, graph, "")
		if status != http.StatusOK {
			t.Fatalf("page %d status %d: %v", pages, status, body)
		}
		for _, v := range body["value"].([]any) {
			entry := v.(map[string]any)
			if entry["userPrincipalName"] != "user01@demo.example" {
				t.Errorf("entry for %v in a filtered page", entry["userPrincipalName"])
			}
			if seen[entry["id"].(string)] {
				t.Errorf("entry %v on two pages", entry["id"])
			}
			seen[entry["id"].(string)] = true
		}
		path = ""
		if next, ok := body["@odata.nextLink"].(string); ok {
			if !strings.Contains(next, "$skiptoken=") || strings.Contains(next, "filter") {
				t.Errorf("next link = %s, want only $top and $skiptoken", next)
			}
			path = strings.TrimPrefix(next, srv.URL)
		}
	}
	if len(seen) < 20 {
		t.Errorf("sign-ins = %d, want 30 days of demo data", len(seen))
	}
}

func TestStartWithTLS(t *testing.T) {
	run, err := entrasim.Start(simharness.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if !strings.HasPrefix(run.URL, "https://127.0.0.1:") || run.Settings["ca_pem"] == "" || run.Secrets["client_secret"] != entrasim.ClientSecret {
		t.Errorf("running = %+v", run)
	}
	if sim, ok := simharness.Lookup("entra"); !ok || sim.Start == nil {
		t.Errorf("entra simulator not registered")
	}
}
