package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/smartpt/smartpt/internal/api"
	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
)

// openAPIChecker validates real responses against the served document.
type openAPIChecker struct {
	t      *testing.T
	router routers.Router
}

func newOpenAPIChecker(t *testing.T) *openAPIChecker {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIDocument())
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("build OpenAPI router: %v", err)
	}
	return &openAPIChecker{t: t, router: router}
}

// do sends one request and checks its response against the document.
func (c *openAPIChecker) do(method, url, key, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("x-sha256", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)

	checked, _ := http.NewRequest(method, url, strings.NewReader(body))
	checked.Header = req.Header.Clone()
	route, params, err := c.router.FindRoute(checked)
	if err != nil {
		c.t.Fatalf("find OpenAPI route of %s %s: %v", method, url, err)
	}
	input := &openapi3filter.RequestValidationInput{Request: checked, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		c.t.Errorf("%s %s: %d response does not match the document: %v\n%s", method, url, resp.StatusCode, err, raw)
	}

	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: response is not JSON: %s", method, url, raw)
	}
	return resp.StatusCode, out
}

// TestDemoActionsMatchOpenAPI runs every action of every configured route
// through the real engine and the vendor simulators, and validates each
// response against the OpenAPI document.
func TestDemoActionsMatchOpenAPI(t *testing.T) {
	data := t.TempDir()
	url, key, _, _ := startCommand(t, nil, "demo", "--data", data, "--addr", "127.0.0.1:0")
	check := newOpenAPIChecker(t)

	for _, path := range demoRoutes() {
		svc := vendor.Routes[path]
		kind := demoKind(svc)
		if _, ok := vendor.Lookup(kind); !ok || !simulatorRegistered(kind) {
			continue
		}
		t.Run(path, func(t *testing.T) {
			check.t = t
			field, actions := "agent_id", []string{"status", "isolate", "status", "releaseisolate"}
			if svc == vendor.ServiceAzureAD {
				field, actions = "upn", []string{"AzureADStatus", "AzureADBlock", "AzureADUnblock", "AzureADSreport"}
			}
			for _, act := range actions {
				body := `{"action":"` + act + `","Email":"analyst@demo.example","` + field + `":"` + demoTargets[svc] + `","comment":"demo test"}`
				code, out := check.do(http.MethodPost, url+path, key, body)
				if code != http.StatusOK {
					t.Errorf("%s: status %d, body %v", act, code, out)
					continue
				}
				id, _ := out["action_id"].(string)
				if inner, ok := out["body"].(map[string]any); ok {
					id, _ = inner["action_id"].(string)
				}
				if id == "" {
					t.Errorf("%s: no action_id in %v", act, out)
					continue
				}
				if code, rec := check.do(http.MethodGet, url+"/v1/actions/"+id, key, ""); code != http.StatusOK {
					t.Errorf("GET action of %s: status %d, body %v", act, code, rec)
				}
			}
		})
	}

	// AzureADSreport mailed its report to the outbox, as no SMTP server is
	// configured.
	if _, ok := vendor.Lookup(vendor.KindEntra); ok && simulatorRegistered(vendor.KindEntra) {
		mails, _ := filepath.Glob(filepath.Join(data, "outbox", "*.eml"))
		if len(mails) != 1 {
			t.Errorf("outbox holds %d .eml files, want the one report", len(mails))
		}
	}

	// A protect-list entry added with "smartpt guard" while the demo runs
	// makes the isolation of that host fail with 403.
	if _, ok := vendor.Lookup(vendor.KindWazuh); ok && simulatorRegistered(vendor.KindWazuh) {
		check.t = t
		if code, out, errOut := runCLI(t, nil, "guard", "--data", data, "protect", "add", "--company", demoCompany, "demo-host-09"); code != 0 {
			t.Fatalf("guard protect add: exit %d, stdout %s, stderr %s", code, out, errOut)
		}
		code, out := check.do(http.MethodPost, url+"/wazuh/agents", key, `{"action":"isolate","Email":"analyst@demo.example","agent_id":"demo-host-09"}`)
		if msg, _ := out["message"].(string); code != http.StatusForbidden || !strings.Contains(msg, "demo-host-09") {
			t.Errorf("isolate a protected host: status %d, body %v; want 403 naming demo-host-09", code, out)
		}
	}

	// A Wazuh isolation stays dispatched until the agent's result arrives
	// through /v1/wazuh/events.
	if _, ok := vendor.Lookup(vendor.KindWazuh); ok && simulatorRegistered(vendor.KindWazuh) {
		check.t = t
		code, out := check.do(http.MethodPost, url+"/wazuh/agents", key, `{"action":"isolate","Email":"analyst@demo.example","agent_id":"demo-host-07"}`)
		if code != http.StatusOK {
			t.Fatalf("isolate demo-host-07: status %d, body %v", code, out)
		}
		body, _ := out["body"].(map[string]any)
		endpoint, _ := body["endpoint"].(map[string]any)
		agentID, _ := endpoint["agent_id"].(string)

		deadline := time.Now().Add(10 * time.Second)
		for {
			code, rec := check.do(http.MethodPost, url+"/v1/wazuh/events", key, `{"agent_id":"`+agentID+`","action":"isolate","result":"success","detail":"isolated by the agent"}`)
			if code == http.StatusOK && rec["state"] == "confirmed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Wazuh event: status %d, body %v; want the action confirmed", code, rec)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func demoKind(svc vendor.Service) vendor.Kind {
	for kind, s := range demoServices {
		if s == svc {
			return kind
		}
	}
	return ""
}

func simulatorRegistered(kind vendor.Kind) bool {
	_, ok := simharness.Lookup(kind)
	return ok
}
