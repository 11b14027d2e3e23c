package defendersim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors/defender/defendersim"
)

func accessToken(t *testing.T, srv *httptest.Server, scope string) string {
	t.Helper()
	resp, err := http.PostForm(srv.URL+"/"+defendersim.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {defendersim.ClientID},
		"client_secret": {defendersim.ClientSecret}, "scope": {scope},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

func call(t *testing.T, srv *httptest.Server, method, path, bearer, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestDemoMachines(t *testing.T) {
	id := defendersim.MachineID("demo-host-01")
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(id) || id != defendersim.MachineID("DEMO-HOST-01") {
		t.Errorf("MachineID = %q, want 40 lower-case hex, stable across case", id)
	}

	srv := httptest.NewServer(defendersim.New(defendersim.Config{}))
	defer srv.Close()
	tok := accessToken(t, srv, defendersim.Audience+"/.default")

	status, _, body := call(t, srv, "GET", "/api/machines", tok, "")
	if status != 200 {
		t.Fatalf("list status = %d", status)
	}
	machines := body["value"].([]any)
	if len(machines) != simharness.DemoHostCount {
		t.Fatalf("machines = %d, want %d", len(machines), simharness.DemoHostCount)
	}
	first := machines[0].(map[string]any)
	if first["computerDnsName"] != "demo-host-01.demo.example" || first["lastIpAddress"] != "10.20.0.1" || first["id"] != id {
		t.Errorf("first machine = %v", first)
	}

	_, _, page := call(t, srv, "GET", "/api/machines?$top=2&$skip=1", tok, "")
	names := []string{}
	for _, m := range page["value"].([]any) {
		names = append(names, m.(map[string]any)["computerDnsName"].(string))
	}
	if strings.Join(names, ",") != "demo-host-02.demo.example,demo-host-03.demo.example" {
		t.Errorf("$top=2&$skip=1 = %q, want hosts 02 and 03", names)
	}
}

func TestAPIErrors(t *testing.T) {
	srv := httptest.NewServer(defendersim.New(defendersim.Config{}))
	defer srv.Close()
	tok := accessToken(t, srv, defendersim.Audience+"/.default")
	graphTok := accessToken(t, srv, "https://graph.microsoft.com/.default")
	id := defendersim.MachineID("demo-host-02")

	cases := []struct {
		name, method, path, bearer, body string
		status                           int
		code                             string
	}{
		{"no token", "GET", "/api/machines", "", "", 401, "Unauthorized"},
		{"foreign audience", "GET", "/api/machines", graphTok, "", 401, "Unauthorized"},
		{"unknown machine", "GET", "/api/machines/" + strings.Repeat("0", 40), tok, "", 404, "ResourceNotFound"},
		{"unknown path", "GET", "/api/widgets", tok, "", 404, "NotFound"},
		{"wrong method", "DELETE", "/api/machines", tok, "", 405, "MethodNotAllowed"},
		{"lower-case comment", "POST", "/api/machines/" + id + "/isolate", tok, `{"comment":"x","IsolationType":"Full"}`, 400, "MissingRequiredParameter"},
		{"wrong isolation type", "POST", "/api/machines/" + id + "/isolate", tok, `{"Comment":"x","IsolationType":"full"}`, 400, "InvalidRequestBody"},
		{"unknown field", "POST", "/api/machines/" + id + "/unisolate", tok, `{"Comment":"x","IsolationType":"Full"}`, 400, "InvalidRequestBody"},
		{"not JSON", "POST", "/api/machines/" + id + "/isolate", tok, `Comment=x`, 400, "InvalidRequestBody"},
		{"bad filter field", "GET", "/api/machines?$filter=" + url.QueryEscape("riskScore eq 'High'"), tok, "", 400, "ODataError"},
		{"bad filter syntax", "GET", "/api/machines?$filter=" + url.QueryEscape("computerDnsName eq host"), tok, "", 400, "ODataError"},
		{"unknown option", "GET", "/api/machines?$orderby=lastSeen", tok, "", 400, "ODataError"},
		{"findbyip too old", "GET", "/api/machines/findbyip(ip='10.20.0.1',timestamp=2019-09-22T08:44:05Z)", tok, "", 400, "InvalidInput"},
		{"findbyip bad ip", "GET", "/api/machines/findbyip(ip='10.20.0.999',timestamp=" + time.Now().UTC().Format(time.RFC3339) + ")", tok, "", 400, "InvalidInput"},
		{"unknown machine action", "GET", "/api/machineactions/f123cb8d-1cee-4da9-8cd1-74b4d14f5dc2", tok, "", 404, "ResourceNotFound"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := call(t, srv, tc.method, tc.path, tc.bearer, tc.body)
			if status != tc.status || errorCode(body) != tc.code {
				t.Errorf("status %d code %q, want %d %q (body %v)", status, errorCode(body), tc.status, tc.code, body)
			}
		})
	}
}

func TestActionLifecycle(t *testing.T) {
	srv := httptest.NewServer(defendersim.New(defendersim.Config{PendingDelay: 400 * time.Millisecond}))
	defer srv.Close()
	tok := accessToken(t, srv, defendersim.Audience+"/.default")
	id := defendersim.MachineID("demo-host-03")

	status, _, created := call(t, srv, "POST", "/api/machines/"+id+"/isolate", tok, `{"Comment":"test","IsolationType":"Selective"}`)
	if status != http.StatusCreated || created["status"] != "Pending" || created["type"] != "Isolate" || created["scope"] != "Selective" {
		t.Fatalf("create = %d %v", status, created)
	}

	status, _, dup := call(t, srv, "POST", "/api/machines/"+id+"/unisolate", tok, `{"Comment":"test"}`)
	if status != http.StatusBadRequest || errorCode(dup) != "ActiveRequestAlreadyExists" {
		t.Errorf("duplicate = %d %v, want 400 ActiveRequestAlreadyExists", status, dup)
	}

	time.Sleep(250 * time.Millisecond)
	_, _, mid := call(t, srv, "GET", "/api/machineactions/"+created["id"].(string), tok, "")
	if mid["status"] != "InProgress" {
		t.Errorf("status after half the delay = %v, want InProgress", mid["status"])
	}
	time.Sleep(250 * time.Millisecond)
	_, _, done := call(t, srv, "GET", "/api/machineactions/"+created["id"].(string), tok, "")
	if done["status"] != "Succeeded" {
		t.Errorf("status after the delay = %v, want Succeeded", done["status"])
	}

	filter := url.QueryEscape("machineId eq '" + id + "' and (type eq 'Isolate' or type eq 'Unisolate')")
	_, _, list := call(t, srv, "GET", "/api/machineactions?$filter="+filter, tok, "")
	if n := len(list["value"].([]any)); n != 1 {
		t.Errorf("filtered actions = %d, want 1", n)
	}
}

func TestRateLimitRetryAfter(t *testing.T) {
	srv := httptest.NewServer(defendersim.New(defendersim.Config{PerMinute: 2}))
	defer srv.Close()
	tok := accessToken(t, srv, defendersim.Audience+"/.default")

	for i := 0; i < 2; i++ {
		if status, _, _ := call(t, srv, "GET", "/api/machines?$top=1", tok, ""); status != 200 {
			t.Fatalf("call %d status = %d", i, status)
		}
	}
	status, header, body := call(t, srv, "GET", "/api/machines?$top=1", tok, "")
	if status != http.StatusTooManyRequests || errorCode(body) != "TooManyRequests" || header.Get("Retry-After") == "" {
		t.Errorf("third call = %d %v Retry-After %q, want 429 TooManyRequests with Retry-After", status, body, header.Get("Retry-After"))
	}
}

func TestStart(t *testing.T) {
	run, err := defendersim.Start(simharness.Options{PendingDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if run.Settings["api_url"] != run.URL || run.Secrets["client_secret"] != defendersim.ClientSecret {
		t.Errorf("running = %+v", run)
	}
	if sim, ok := simharness.Lookup("defender"); !ok || sim.Start == nil {
		t.Errorf("defender simulator not registered")
	}
}
