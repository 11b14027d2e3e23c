package attack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/notify/email"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// minCanaryChars is the shortest secret searched for, because shorter
// values would match by chance.
const minCanaryChars = 8

// canarySet is the secrets of a stack and the texts it produced besides
// logs and responses (errors returned to the test).
type canarySet struct {
	mu      sync.Mutex
	secrets map[string]string // value → what it is; guarded by mu
	texts   []string          // guarded by mu
}

func (c *canarySet) add(what, value string) {
	if len(value) < minCanaryChars {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secrets == nil {
		c.secrets = map[string]string{}
	}
	c.secrets[value] = what
}

// record keeps a text, such as an error message, for the scan.
func (c *canarySet) record(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.texts = append(c.texts, text)
}

// encodedForms returns the forms in which a secret may leak: as is, URL
// query and path escaped, JSON escaped, and base64 in the standard and URL
// alphabets. The base64 forms cover the three byte alignments a secret can
// have inside a longer encoded value such as a Basic authorization header.
func encodedForms(secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	if quoted, err := json.Marshal(secret); err == nil {
		forms = append(forms, string(quoted[1:len(quoted)-1]))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for offset := 0; offset < 3; offset++ {
			encoded := enc.EncodeToString(append(make([]byte, offset), secret...))
			// Drop the characters that mix in the unknown neighbouring
			// bytes: those of the prefix and the last group.
			start := (offset*8 + 5) / 6
			end := len(encoded) - 4
			if end-start >= minCanaryChars {
				forms = append(forms, encoded[start:end])
			}
		}
	}
	return forms
}

// checkNoSecrets fails for every secret of the stack found, in any encoded
// form, in its logs, its responses, the metrics text, the recorded errors or
// the audit trails.
func (s *stack) checkNoSecrets(ctx context.Context, metrics string) {
	s.t.Helper()
	texts := map[string]string{
		"log output": s.Logs.String(),
		"responses":  s.responses.text(),
		"/metrics":   metrics,
	}
	s.canaries.mu.Lock()
	texts["errors"] = strings.Join(s.canaries.texts, "\n")
	secrets := make(map[string]string, len(s.canaries.secrets))
	for value, what := range s.canaries.secrets {
		secrets[value] = what
	}
	s.canaries.mu.Unlock()

	for name, co := range s.Companies {
		events, err := s.Audit.List(ctx, co.ID, audit.Filter{Limit: 10000})
		if err != nil {
			s.t.Errorf("list the audit events of %s: %v", name, err)
			continue
		}
		data, _ := json.Marshal(events)
		texts["audit trail of "+name] = string(data)
	}

	for _, leak := range findSecrets(secrets, texts) {
		s.t.Error(leak)
	}
}

// findSecrets returns one message per secret form found in a text. secrets
// maps each value to a description; texts maps a description of each text
// to its content.
func findSecrets(secrets, texts map[string]string) []string {
	var leaks []string
	for value, what := range secrets {
		for _, form := range encodedForms(value) {
			for where, text := range texts {
				if i := strings.Index(text, form); i >= 0 {
					from, to := max(0, i-120), min(len(text), i+len(form)+40)
					leaks = append(leaks, fmt.Sprintf("the %s appears in the %s: ...%s...", what, where, text[from:to]))
				}
			}
		}
	}
	return leaks
}

// canaryLike returns a random value of the same shape as v: each digit,
// hex letter and other letter replaced by a random one of its class, other
// characters kept. Vendor formats stay valid, and the value is new.
func canaryLike(t testing.TB, v string) string {
	random := randomBytes(t, len(v))
	out := []byte(v)
	for i, c := range out {
		r := random[i]
		switch {
		case c >= '0' && c <= '9':
			out[i] = '0' + r%10
		case c >= 'a' && c <= 'f':
			out[i] = 'a' + r%6
		case c >= 'g' && c <= 'z':
			out[i] = 'g' + r%20
		case c >= 'A' && c <= 'F':
			out[i] = 'A' + r%6
		case c >= 'G' && c <= 'Z':
			out[i] = 'G' + r%20
		}
	}
	return string(out)
}

// replaceIntegration overwrites the integration of svc for company name
// with settings whose URLs are rewritten by rewrite and secrets replaced by
// canaries of the same shape.
func (s *stack) replaceIntegration(t testing.TB, name string, sim *countingSim, rewrite func(string) string) {
	t.Helper()
	ctx := context.Background()
	cfg, _, err := s.Tenants.Integration(ctx, s.Companies[name].ID, sim.Service)
	if err != nil {
		t.Fatalf("read the %s integration of %s: %v", sim.Service, name, err)
	}
	settings := map[string]string{}
	for k, v := range cfg.Settings {
		settings[k] = rewrite(v)
	}
	secrets := map[string]string{}
	for k, v := range cfg.Secrets {
		secrets[k] = canaryLike(t, v)
		s.canaries.add(fmt.Sprintf("planted %s secret %s of company %s", sim.Kind, k, name), secrets[k])
	}
	if err := s.Tenants.SetIntegration(ctx, name, sim.Service, sim.Kind, settings, secrets); err != nil {
		t.Fatalf("replace the %s integration of %s: %v", sim.Service, name, err)
	}
}

// closedAddr returns a loopback host:port where nothing listens.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// stallingAddr returns a loopback host:port whose server accepts
// connections and never answers; t.Cleanup closes it.
func stallingAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// actionsFor returns one request body per action of svc, on demo target n.
func actionsFor(svc vendor.Service, n int) []map[string]any {
	if svc == vendor.ServiceAzureAD {
		upn := fmt.Sprintf("user%02d@demo.example", n)
		var out []map[string]any
		for _, act := range []string{"AzureADStatus", "AzureADBlock", "AzureADUnblock", "AzureADSreport"} {
			out = append(out, map[string]any{"action": act, "Email": requester, "upn": upn})
		}
		out = append(out, map[string]any{"action": "AzureADBlock", "Email": requester, "upn": upn, "dry_run": true})
		return out
	}
	target := fmt.Sprintf("demo-host-%02d", n)
	if svc == vendor.ServicePaloAlto {
		target = fmt.Sprintf("10.20.0.%d", n)
	}
	var out []map[string]any
	for _, act := range []string{"status", "isolate", "releaseisolate"} {
		out = append(out, map[string]any{"action": act, "Email": requester, "agent_id": target, "comment": "canary run"})
	}
	out = append(out, map[string]any{"action": "isolate", "Email": requester, "agent_id": target, "dry_run": true})
	return out
}

// TestCanarySecrets plants unique secrets in every credential (vendor
// credentials, company keys, the master key and the SMTP password) and runs
// every action through healthy, misconfigured, unreachable and stalling
// vendors. The stack's cleanup then scans all log output, responses,
// errors, audit trails and /metrics for any of them.
func TestCanarySecrets(t *testing.T) {
	t.Parallel()
	smtpPassword := "smtp-canary-" + randomHex(t, 24)
	relay, relayCA := startRejectingRelay(t)
	s := newStack(t, stackOptions{
		Companies:     []string{"healthy", "wrongcreds", "down", "stall"},
		ActionTimeout: 3 * time.Second,
		Mail: email.Config{
			Host: "127.0.0.1", Port: portOf(relay), TLS: email.TLSStartTLS, CAPEM: relayCA,
			Username: "smartpt-relay", Password: smtpPassword, From: "smartpt@corp.example",
		},
	})
	// The integrations keep their URL schemes and point at a closed port
	// or at a server that never answers.
	dead, stall := closedAddr(t), stallingAddr(t)

	for _, sim := range s.Companies["wrongcreds"].Sims {
		s.replaceIntegration(t, "wrongcreds", sim, func(v string) string { return v })
	}
	for _, sim := range s.Companies["down"].Sims {
		front := hostPort(sim.front.URL)
		s.replaceIntegration(t, "down", sim, func(v string) string { return strings.ReplaceAll(v, front, dead) })
	}
	for _, sim := range s.Companies["stall"].Sims {
		front := hostPort(sim.front.URL)
		s.replaceIntegration(t, "stall", sim, func(v string) string { return strings.ReplaceAll(v, front, stall) })
	}

	// Every company runs every action on every route. Requests run in
	// parallel so that the stalls overlap.
	var wg sync.WaitGroup
	for name, co := range s.Companies {
		for svc := range co.Sims {
			for _, body := range actionsFor(svc, 3) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp := s.post(t, pathOfService[svc], co.Key, body)
					t.Logf("%s %s %v: %d %s", name, svc, body["action"], resp.Status, resp.Body)
					if name == "healthy" && resp.Status != http.StatusOK && body["action"] != "AzureADSreport" {
						t.Errorf("healthy %s %v: status %d, body %s", svc, body["action"], resp.Status, resp.Body)
					}
					if name != "healthy" && resp.Status < 400 && body["dry_run"] == nil {
						t.Errorf("%s %s %v: status %d, want an error; body %s", name, svc, body["action"], resp.Status, resp.Body)
					}
					var parsed map[string]any
					_ = json.Unmarshal(resp.Body, &parsed)
					if id := actionID(parsed); id != "" {
						s.do(t, request{Method: http.MethodGet, Path: "/v1/actions/" + id, Key: co.Key})
					}
				}()
			}
		}
	}
	wg.Wait()

	// The vendor's cheapest authenticated read, as "smartpt integration
	// test" runs it, fails with the planted credentials; its error must not
	// carry them either.
	logger := slog.New(slog.NewJSONHandler(s.Logs, nil))
	for _, name := range []string{"wrongcreds", "down"} {
		for svc, sim := range s.Companies[name].Sims {
			factory, _ := vendor.Lookup(sim.Kind)
			if factory.Check == nil {
				continue
			}
			cfg, _, err := s.Tenants.Integration(context.Background(), s.Companies[name].ID, svc)
			if err != nil {
				t.Fatalf("read integration: %v", err)
			}
			err = factory.Check(cfg, vendor.Deps{HTTP: vendorhttp.NewPool(logger), Logger: logger})
			if err == nil {
				t.Errorf("check of %s %s succeeded with planted credentials", name, sim.Kind)
				continue
			}
			s.canaries.record(err.Error())
		}
	}

	// Let confirmations finish so that their logs are scanned too.
	s.quiesce()
	s.stop()

}

// actionID returns the action_id of an action response, or "".
func actionID(body map[string]any) string {
	if id, ok := body["action_id"].(string); ok {
		return id
	}
	if inner, ok := body["body"].(map[string]any); ok {
		if id, ok := inner["action_id"].(string); ok {
			return id
		}
	}
	return ""
}

// portOf returns the port of host:port.
func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	return port
}

// hostPort returns the host:port of a URL.
func hostPort(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}

// TestSecretScanFinds checks the scan itself: a secret hidden in each
// encoded form is found.
func TestSecretScanFinds(t *testing.T) {
	secret := "canary-" + randomHex(t, 20)
	secrets := map[string]string{secret: "test secret"}
	hidden := map[string]string{
		"plain":          "error: login as admin:" + secret + " failed",
		"query":          "GET /x?key=" + url.QueryEscape(secret+"/"),
		"basic auth":     "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+secret)),
		"base64 url":     base64.URLEncoding.EncodeToString([]byte("xy" + secret + "z")),
		"json":           `{"password":"` + secret + `"}`,
		"basic auth raw": base64.StdEncoding.EncodeToString([]byte("a:" + secret)),
	}
	for name, text := range hidden {
		if leaks := findSecrets(secrets, map[string]string{name: text}); len(leaks) == 0 {
			t.Errorf("secret hidden as %s in %q not found", name, text)
		}
	}
	if leaks := findSecrets(secrets, map[string]string{"clean": "nothing to see " + randomHex(t, 40)}); len(leaks) != 0 {
		t.Errorf("found a secret in a clean text: %v", leaks)
	}
}
