package wazuhsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/smartpt/smartpt/internal/simharness"
)

type client struct {
	t     *testing.T
	sim   *Sim
	token string
}

func newClient(t *testing.T, opts Options) *client {
	t.Helper()
	sim := New(opts)
	c := &client{t: t, sim: sim}
	rec := c.do("POST", "/security/user/authenticate", "", true)
	var body struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Data.Token == "" {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	c.token = body.Data.Token
	return c
}

func (c *client) do(method, target, body string, basic bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if basic {
		req.SetBasicAuth("wazuh-wui", c.sim.Password)
	} else if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	rec := httptest.NewRecorder()
	c.sim.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, data)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAgentItemShapeMatchesSpecExample(t *testing.T) {
	c := newClient(t, Options{})
	rec := c.do("GET", "/agents?agents_list=001", "", false)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := decode(t, rec.Body.Bytes())
	want := fixture(t, "agents_get_200.json")

	gotItem := got["data"].(map[string]any)["affected_items"].([]any)[0].(map[string]any)
	wantItem := want["data"].(map[string]any)["affected_items"].([]any)[0].(map[string]any)
	if diff := cmp.Diff(keys(wantItem), keys(gotItem)); diff != "" {
		t.Errorf("agent item keys (-spec +sim):\n%s", diff)
	}
	if diff := cmp.Diff(keys(wantItem["os"].(map[string]any)), keys(gotItem["os"].(map[string]any))); diff != "" {
		t.Errorf("os keys (-spec +sim):\n%s", diff)
	}
	if diff := cmp.Diff(keys(want["data"].(map[string]any)), keys(got["data"].(map[string]any))); diff != "" {
		t.Errorf("data keys (-spec +sim):\n%s", diff)
	}
	if got["message"] != want["message"] || got["error"] != want["error"] {
		t.Errorf("message %v error %v", got["message"], got["error"])
	}
}

func TestAgentsListSelection(t *testing.T) {
	cases := []struct {
		name        string
		list        string
		wantIDs     []string
		wantMissing []string
		wantError   float64
	}{
		{"one", "002", []string{"002"}, nil, 0},
		{"id order, not list order", "003,001,002", []string{"001", "002", "003"}, nil, 0},
		{"named twice", "002,002", []string{"002"}, nil, 0},
		{"manager", "000", []string{"000"}, nil, 0},
		{"some unknown", "001,999", []string{"001"}, []string{"999"}, 2},
		{"all unknown", "998,999", nil, []string{"998", "999"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, Options{})
			rec := c.do("GET", "/agents?select=id&agents_list="+tc.list, "", false)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := decode(t, rec.Body.Bytes())
			data := got["data"].(map[string]any)

			var ids []string
			for _, item := range data["affected_items"].([]any) {
				ids = append(ids, item.(map[string]any)["id"].(string))
			}
			if diff := cmp.Diff(tc.wantIDs, ids); diff != "" {
				t.Errorf("affected ids (-want +got):\n%s", diff)
			}
			if data["total_affected_items"] != float64(len(tc.wantIDs)) {
				t.Errorf("total_affected_items %v, want %d", data["total_affected_items"], len(tc.wantIDs))
			}

			var missing []string
			for _, item := range data["failed_items"].([]any) {
				for _, id := range item.(map[string]any)["id"].([]any) {
					missing = append(missing, id.(string))
				}
			}
			if diff := cmp.Diff(tc.wantMissing, missing); diff != "" {
				t.Errorf("failed ids (-want +got):\n%s", diff)
			}
			if got["error"] != tc.wantError {
				t.Errorf("error %v, want %v", got["error"], tc.wantError)
			}
		})
	}
}

func TestActiveResponseBodiesMatchFixtures(t *testing.T) {
	cases := []struct {
		name    string
		list    string
		prepare func(*Sim)
		fixture string
	}{
		{"sent to all", "001,002", nil, "active_response_put_200_all.json"},
		{"unknown agent", "251", nil, "active_response_put_200_unknown_agent_1701.json"},
		{"disabled on agent", "003", func(s *Sim) { s.SetActiveResponseDisabled("003", true) }, "active_response_put_200_ar_disabled_1750.json"},
		{"some not active", "002,004,005,007,010,012", func(s *Sim) {
			s.SetAgentStatus("010", "disconnected")
			s.SetAgentStatus("012", "never_connected")
		}, "active_response_put_200_partial_1707.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, Options{})
			if tc.prepare != nil {
				tc.prepare(c.sim)
			}
			rec := c.do("PUT", "/active-response?agents_list="+tc.list, `{"command":"!custom"}`, false)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if diff := cmp.Diff(fixture(t, tc.fixture), decode(t, rec.Body.Bytes())); diff != "" {
				t.Errorf("body (-fixture +sim):\n%s", diff)
			}
		})
	}
}

func TestActiveResponseRejectsBadRequests(t *testing.T) {
	cases := []struct {
		name, query, body string
		wantCode          int
		wantErr           float64
	}{
		{"not json", "?agents_list=001", `nope`, 400, 0},
		{"no command", "?agents_list=001", `{"arguments":[]}`, 400, 0},
		{"empty command", "?agents_list=001", `{"command":""}`, 400, 1650},
		{"command not in ar.conf", "?agents_list=001", `{"command":"isolate"}`, 400, 1652},
		{"3.x custom field", "?agents_list=001", `{"command":"!x","custom":"True"}`, 400, 0},
		{"alert not object", "?agents_list=001", `{"command":"!x","alert":"a"}`, 400, 0},
		{"arguments not strings", "?agents_list=001", `{"command":"!x","arguments":[1]}`, 400, 0},
		{"bad agent id", "?agents_list=1", `{"command":"!x"}`, 400, 0},
		{"unknown parameter", "?agents_list=001&force=1", `{"command":"!x"}`, 400, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, Options{})
			rec := c.do("PUT", "/active-response"+tc.query, tc.body, false)
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
			body := decode(t, rec.Body.Bytes())
			if body["title"] != "Bad Request" || body["detail"] == "" {
				t.Errorf("body = %v", body)
			}
			if code, _ := body["error"].(float64); code != tc.wantErr {
				t.Errorf("error = %v, want %v", body["error"], tc.wantErr)
			}
			if c.sim.ActiveResponseRequests() != 0 {
				t.Error("a rejected request was counted as sent")
			}
		})
	}
}

func TestAgentsFilters(t *testing.T) {
	c := newClient(t, Options{})
	c.sim.SetAgentStatus("002", "disconnected")
	cases := []struct {
		query   string
		wantIDs string
		wantErr float64
	}{
		{"?agents_list=003,999", "003", 2},
		{"?agents_list=999", "", 1},
		{"?name=demo-host-05", "005", 0},
		{"?ip=10.20.0.7", "007", 0},
		{"?status=disconnected", "002", 0},
		{"?limit=2&offset=1", "001,002", 0},
		{"?agents_list=004&select=name,os.platform", "004", 0},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			rec := c.do("GET", "/agents"+tc.query, "", false)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			body := decode(t, rec.Body.Bytes())
			var ids []string
			for _, item := range body["data"].(map[string]any)["affected_items"].([]any) {
				ids = append(ids, item.(map[string]any)["id"].(string))
			}
			if strings.Join(ids, ",") != tc.wantIDs || body["error"] != tc.wantErr {
				t.Errorf("ids %v error %v, want %s %v", ids, body["error"], tc.wantIDs, tc.wantErr)
			}
		})
	}

	rec := c.do("GET", "/agents?agents_list=004&select=name,os.platform", "", false)
	item := decode(t, rec.Body.Bytes())["data"].(map[string]any)["affected_items"].([]any)[0].(map[string]any)
	if diff := cmp.Diff([]string{"id", "name", "os"}, keys(item)); diff != "" {
		t.Errorf("selected keys (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"?select=password", "?limit=0", "?status=gone", "?agents_list=abc", "?colour=red"} {
		if rec := c.do("GET", "/agents"+bad, "", false); rec.Code != 400 {
			t.Errorf("GET /agents%s: status %d, want 400", bad, rec.Code)
		}
	}
}

func TestAuthentication(t *testing.T) {
	c := newClient(t, Options{})
	for name, header := range map[string]string{"no token": "", "bad signature": "Bearer a.b.c", "basic": "Basic eDp5"} {
		req := httptest.NewRequest("GET", "/agents", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		c.sim.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Errorf("%s: status %d, want 401", name, rec.Code)
		}
	}
	if rec := c.do("GET", "/agents", "", false); rec.Code != 200 {
		t.Fatalf("valid token: %d", rec.Code)
	}
	if rec := c.do("PUT", "/security/config", `{"auth_token_exp_timeout":60}`, false); rec.Code != 200 {
		t.Fatalf("PUT /security/config: %d %s", rec.Code, rec.Body)
	}
	if rec := c.do("GET", "/agents", "", false); rec.Code != 401 {
		t.Errorf("token after a security change: %d, want 401", rec.Code)
	}

	raw := httptest.NewRequest("POST", "/security/user/authenticate?raw=true", nil)
	raw.SetBasicAuth("wazuh-wui", c.sim.Password)
	rec := httptest.NewRecorder()
	c.sim.ServeHTTP(rec, raw)
	if rec.Code != 200 || strings.Count(rec.Body.String(), ".") != 2 {
		t.Errorf("raw login: %d %q", rec.Code, rec.Body)
	}
}

func TestRateLimit(t *testing.T) {
	c := newClient(t, Options{RequestsPerMinute: 3})
	for i := 1; i <= 4; i++ {
		rec := c.do("GET", "/agents?limit=1", "", false)
		if i <= 3 && rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
		if i == 4 {
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("request 4: %d, want 429", rec.Code)
			}
			if diff := cmp.Diff(fixture(t, "error_429_too_many_requests.json"), decode(t, rec.Body.Bytes())); diff != "" {
				t.Errorf("429 body (-fixture +sim):\n%s", diff)
			}
		}
	}
}

func TestReadOnlyUserForbidden(t *testing.T) {
	sim := New(Options{Users: map[string]string{"reader": "pw"}, ReadOnlyUsers: map[string]bool{"reader": true}})
	login := httptest.NewRequest("POST", "/security/user/authenticate", nil)
	login.SetBasicAuth("reader", "pw")
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, login)
	token := decode(t, rec.Body.Bytes())["data"].(map[string]any)["token"].(string)

	req := httptest.NewRequest("PUT", "/active-response?agents_list=001", strings.NewReader(`{"command":"!x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	rec = httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	body := decode(t, rec.Body.Bytes())
	if rec.Code != 403 || body["error"] != float64(4000) || body["title"] != "Permission Denied" {
		t.Errorf("status %d body %v", rec.Code, body)
	}
}

func TestStartServesDemoInventory(t *testing.T) {
	running, err := Start(simharness.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	if running.Settings["url"] != running.URL || running.Secrets["password"] == "" || running.Settings["ca_pem"] == "" {
		t.Errorf("running = %+v", running.Settings)
	}
	sim := running.Handler.(*Sim)
	var ids []string
	sim.mu.Lock()
	for _, a := range sim.agents {
		ids = append(ids, a.ID+"="+a.Name+"@"+a.IP+":"+a.Status)
	}
	sim.mu.Unlock()
	if len(ids) != 21 || ids[1] != "001=demo-host-01@10.20.0.1:active" || ids[20] != "020=demo-host-20@10.20.0.20:active" {
		t.Errorf("inventory = %v", ids)
	}
}

func TestActiveResponseAcceptsRealRequests(t *testing.T) {
	for _, file := range []string{
		"active_response_put_request_custom.json",
		"active_response_put_request_restart.json",
		"active_response_put_request_block_ip_tracecat.json",
	} {
		t.Run(file, func(t *testing.T) {
			c := newClient(t, Options{})
			body, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			rec := c.do("PUT", "/active-response?agents_list=001", string(body), false)
			if rec.Code != http.StatusOK || decode(t, rec.Body.Bytes())["error"] != float64(0) {
				t.Errorf("status %d: %s", rec.Code, rec.Body)
			}
		})
	}
}
