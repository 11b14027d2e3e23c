package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeWazuh accepts one user, issues numbered tokens and expires the first
// one after two requests, so that a client must log in again.
type fakeWazuh struct {
	mu       sync.Mutex
	logins   int
	uses     int
	requests []string // method, path and query of each API request
	bodies   []string
}

func (f *fakeWazuh) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()

	if r.URL.Path == "/security/user/authenticate" {
		user, pass, ok := r.BasicAuth()
		if r.Method != http.MethodPost || !ok || user != "wazuh-wui" || pass != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.logins++
		f.uses = 0
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"token": "t" + strings.Repeat("x", f.logins)}, "error": 0})
		return
	}

	f.uses++
	if f.logins == 1 && f.uses > 2 {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
	f.bodies = append(f.bodies, string(body))
	w.Write([]byte(`{"data":{},"error":0}`))
}

func TestWazuhNativeRequestsAndRelogin(t *testing.T) {
	fake := &fakeWazuh{}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	client := srv.Client()
	ctx := context.Background()
	w := &WazuhNative{BaseURL: srv.URL, User: "wazuh-wui", Password: "pw"}
	if err := w.Prepare(ctx, client); err != nil {
		t.Fatal(err)
	}

	send := func(op Op) int {
		req, err := w.NewRequest(ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		w.Observe(ctx, client, req, resp.StatusCode)
		return resp.StatusCode
	}

	send(Op{ActionStatus, 7})
	send(Op{ActionIsolate, 7})
	if got := send(Op{ActionRelease, 7}); got != http.StatusUnauthorized {
		t.Fatalf("third request with the first token: status %d, want 401", got)
	}
	if got := send(Op{ActionRelease, 7}); got != http.StatusOK {
		t.Fatalf("request after the 401: status %d, want 200 with a new token", got)
	}

	want := []string{
		"GET /agents?agents_list=007&select=" + wazuhAgentFields + " Bearer tx",
		"PUT /active-response?agents_list=007 Bearer tx",
		"PUT /active-response?agents_list=007 Bearer txx",
	}
	if len(fake.requests) != len(want) {
		t.Fatalf("requests = %q, want %q", fake.requests, want)
	}
	for i := range want {
		if fake.requests[i] != want[i] {
			t.Errorf("request %d = %q, want %q", i, fake.requests[i], want[i])
		}
	}
	if fake.logins != 2 {
		t.Errorf("logins = %d, want 2", fake.logins)
	}

	var isolate struct {
		Command   string   `json:"command"`
		Arguments []string `json:"arguments"`
	}
	if err := json.Unmarshal([]byte(fake.bodies[1]), &isolate); err != nil {
		t.Fatal(err)
	}
	if isolate.Command != "!smartpt-isolation" || len(isolate.Arguments) == 0 || isolate.Arguments[0] != "isolate" {
		t.Errorf("isolate body = %s, want command !smartpt-isolation with first argument isolate", fake.bodies[1])
	}
	if !strings.Contains(fake.bodies[2], `"arguments":["release"`) {
		t.Errorf("release body = %s, want first argument release", fake.bodies[2])
	}
}

func TestWazuhNativeLoginRejected(t *testing.T) {
	srv := httptest.NewServer(&fakeWazuh{})
	defer srv.Close()

	w := &WazuhNative{BaseURL: srv.URL, User: "wazuh-wui", Password: "wrong"}
	err := w.Prepare(context.Background(), srv.Client())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Prepare with a wrong password: %v, want an error naming HTTP 401", err)
	}
}

func TestGatewayRequest(t *testing.T) {
	g := newTestGateway(t, "http://127.0.0.1:1/")
	req, err := g.NewRequest(context.Background(), Op{ActionIsolate, 3})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)

	if req.Method != http.MethodPost || req.URL.String() != "http://127.0.0.1:1/wazuh/agents" {
		t.Errorf("request = %s %s, want POST http://127.0.0.1:1/wazuh/agents", req.Method, req.URL)
	}
	if req.Header.Get("x-sha256") != "k" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v, want x-sha256 k and JSON content type", req.Header)
	}
	if string(body) != `{"Email":"soc@example.com","action":"isolate","agent_id":"003"}` {
		t.Errorf("body = %s", body)
	}

	if _, err := NewGateway(Gateway{Service: "wazuh", TargetForm: "id"}, 1); err == nil {
		t.Error("gateway without a company key: no error, want one")
	}
}
