package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
)

// appendEvents appends n events to the trail of company acme in data.
func appendEvents(t *testing.T, data string, n int) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	company, err := tenant.New(db, nil, nil).Company(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(db)
	for i := 1; i <= n; i++ {
		if _, err := log.Append(ctx, audit.Event{CompanyID: company.ID, Type: "requested", Action: "isolate", Target: fmt.Sprintf("host-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// auditEvents returns the company's events as audit list --json prints them.
func auditEvents(t *testing.T, data string, extra ...string) ([]audit.Event, string) {
	t.Helper()
	args := append([]string{"audit", "list", "acme", "--data", data, "--json"}, extra...)
	code, out, errOut := runCLI(t, nil, args...)
	if code != 0 {
		t.Fatalf("audit list: exit %d, stderr %s", code, errOut)
	}
	var events []audit.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var ev audit.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit list line %q: %v", line, err)
		}
		events = append(events, ev)
	}
	return events, errOut
}

func TestAuditListShowsNewest(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "company", "create", "acme", "--data", data, "--by", "alice"); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}
	appendEvents(t, data, 150) // after the company create event: 151 events

	events, note := auditEvents(t, data)
	if len(events) != 100 {
		t.Fatalf("default list shows %d events, want 100", len(events))
	}
	if events[0].Seq != 52 || events[99].Seq != 151 {
		t.Errorf("default list shows seq %d to %d, want the newest, 52 to 151", events[0].Seq, events[99].Seq)
	}
	if want := "showing 100 of 151 events; use --limit or --since"; !strings.Contains(note, want) {
		t.Errorf("stderr %q, want %q", note, want)
	}

	events, note = auditEvents(t, data, "--limit", "0")
	if len(events) != 151 || events[0].Seq != 1 {
		t.Errorf("--limit 0 shows %d events from seq %d, want all 151 from 1", len(events), events[0].Seq)
	}
	if note != "" {
		t.Errorf("--limit 0 printed %q, want no note", note)
	}

	events, _ = auditEvents(t, data, "--limit", "3")
	if len(events) != 3 || events[0].Seq != 149 || events[2].Seq != 151 {
		t.Errorf("--limit 3 shows %+v, want seq 149, 150, 151 in that order", events)
	}
}

func TestAdminChangesAreAudited(t *testing.T) {
	data := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, nil, append(args, "--data", data)...)
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	run("company", "create", "acme", "--by", "alice")
	run("company", "disable", "acme", "--by", "alice")
	run("company", "enable", "acme", "--by", "alice")
	out := run("key", "rotate", "acme", "--by", "bob")
	keyID := regexp.MustCompile(`New key (\S+) `).FindStringSubmatch(out)[1]
	run("key", "revoke", "acme", keyID, "--by", "bob")
	run("integration", "set", "acme", "--service", "mail", "--kind", "smtp", "--setting", "host=mail.example.com",
		"--setting", "from=soc@example.com", "--secret", "password=hunter2-secret", "--by", "carol")
	run("integration", "delete", "acme", "--service", "mail", "--by", "carol")
	// The guard flags --data and --by come before its command.
	for _, args := range [][]string{
		{"guard", "--data", data, "--by", "dave", "protect", "add", "--company", "acme", "db01"},
		{"guard", "--data", data, "--by", "dave", "protect", "remove", "--company", "acme", "db01"},
		{"guard", "--data", data, "--by", "dave", "cap", "set", "--company", "acme", "--per-hour", "5"},
	} {
		if code, _, errOut := runCLI(t, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", args, code, errOut)
		}
	}

	events, _ := auditEvents(t, data, "--limit", "0")
	want := []struct{ action, requester, target string }{
		{"company create", "alice", "acme"},
		{"company disable", "alice", "acme"},
		{"company enable", "alice", "acme"},
		{"key rotate", "bob", keyID},
		{"key revoke", "bob", keyID},
		{"integration set", "carol", "mail"},
		{"integration delete", "carol", "mail"},
		{"guard protect add", "dave", "db01"},
		{"guard protect remove", "dave", "db01"},
		{"guard cap set", "dave", "5 per hour"},
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(events), len(want), events)
	}
	for i, w := range want {
		ev := events[i]
		if ev.Type != "admin" || ev.Action != w.action || ev.Requester != w.requester || ev.Target != w.target || ev.ClientAddr != "cli" {
			t.Errorf("event %d = type %q action %q requester %q target %q client %q; want admin %q %q %q cli",
				i+1, ev.Type, ev.Action, ev.Requester, ev.Target, ev.ClientAddr, w.action, w.requester, w.target)
		}
	}
	set := events[5]
	if !strings.Contains(set.Detail, "password") || !strings.Contains(set.Detail, "host") {
		t.Errorf("integration set detail %q does not name the changed settings and credentials", set.Detail)
	}
	for _, ev := range events {
		if strings.Contains(ev.Detail, "hunter2") || strings.Contains(ev.Detail, "mail.example.com") {
			t.Errorf("event %d records a value: %q", ev.Seq, ev.Detail)
		}
	}
}

func TestAdminOperatorDefaultsToUser(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"USER": "erin"}
	if code, _, errOut := runCLI(t, env, "company", "create", "acme", "--data", data); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}
	events, _ := auditEvents(t, data)
	if len(events) != 1 || events[0].Requester != "erin" {
		t.Errorf("events = %+v, want one with requester erin from $USER", events)
	}
}

func TestAuditVerifyExpectHead(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "company", "create", "acme", "--data", data); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}
	appendEvents(t, data, 4) // 5 events

	code, out, errOut := runCLI(t, nil, "audit", "verify", "acme", "--data", data)
	if code != 0 {
		t.Fatalf("audit verify: exit %d, stderr %s", code, errOut)
	}
	m := regexp.MustCompile(`Head: (5:[0-9a-f]{64})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("audit verify printed no head 5:HASH:\n%s", out)
	}
	head := m[1]

	if code, _, errOut := runCLI(t, nil, "audit", "verify", "acme", "--data", data, "--expect-head", head); code != 0 {
		t.Errorf("verify against the current head: exit %d, stderr %s", code, errOut)
	}
	appendEvents(t, data, 1)
	if code, _, errOut := runCLI(t, nil, "audit", "verify", "acme", "--data", data, "--expect-head", head); code != 0 {
		t.Errorf("verify of a chain that grew past the head: exit %d, stderr %s", code, errOut)
	}

	// Cut events 5 and 6 off the end and make the head row match event 4:
	// the chain alone still verifies, the anchor does not.
	db, err := store.Open(ctx, store.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	company, err := tenant.New(db, nil, nil).Company(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var hash4 string
	if err := db.SQL.QueryRowContext(ctx, "SELECT hash FROM audit_events WHERE company_id = ? AND seq = 4", company.ID).Scan(&hash4); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DELETE FROM audit_events WHERE company_id = ? AND seq > 4",
		"UPDATE audit_heads SET seq = 4, hash = '" + hash4 + "' WHERE company_id = ?",
	} {
		if _, err := db.SQL.ExecContext(ctx, q, company.ID); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	if code, _, errOut := runCLI(t, nil, "audit", "verify", "acme", "--data", data); code != 0 {
		t.Fatalf("a tail cut with its head rewritten is expected to pass without an anchor: exit %d, %s", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "audit", "verify", "acme", "--data", data, "--expect-head", head)
	if code != 1 || !strings.Contains(errOut, "removed from the end") {
		t.Errorf("verify of a cut tail against the anchor: exit %d, stderr %q; want exit 1 naming removed events", code, errOut)
	}

	wrongHash := "5:" + strings.Repeat("0", 64)
	if code, _, errOut := runCLI(t, nil, "audit", "verify", "acme", "--data", data, "--expect-head", "4:"+strings.Repeat("0", 64)); code != 1 || !strings.Contains(errOut, "rewritten") {
		t.Errorf("verify against a different hash: exit %d, stderr %q", code, errOut)
	}
	for _, bad := range []string{"5", "x:" + head[2:], "0:" + head[2:], wrongHash[:20]} {
		if code, _, _ := runCLI(t, nil, "audit", "verify", "acme", "--data", data, "--expect-head", bad); code != 2 {
			t.Errorf("--expect-head %q: exit %d, want 2", bad, code)
		}
	}
}

func TestIntegrationListShortensPEM(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "company", "create", "acme", "--data", data); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}
	certFile, _, _ := writeTestCert(t)
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, nil, "integration", "set", "acme", "--data", data, "--service", "wazuh", "--kind", "wazuh",
		"--setting", "url=https://127.0.0.1:55000", "--setting", "username=wazuh-wui", "--setting", "manager_ip=10.0.0.1",
		"--setting", "ca_pem="+string(pem), "--secret", "password=Secret-Passw0rd")
	if code != 0 {
		t.Fatalf("integration set: exit %d, stderr %s", code, errOut)
	}

	code, out, _ := runCLI(t, nil, "integration", "list", "acme", "--data", data)
	if code != 0 {
		t.Fatalf("integration list: exit %d", code)
	}
	if want := fmt.Sprintf("ca_pem=(PEM, %d bytes)", len(pem)); !strings.Contains(out, want) {
		t.Errorf("integration list does not show %q:\n%s", want, out)
	}
	if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines != 2 {
		t.Errorf("integration list has %d lines, want a header and one row:\n%s", lines, out)
	}
}

func TestIntegrationSetRejectsEntraWithoutCredential(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "company", "create", "acme", "--data", data); code != 0 {
		t.Fatalf("company create: %s", errOut)
	}
	ids := []string{"--setting", "tenant_id=8a1c7e52-0d3b-4f6e-9a21-5b7c3d9e4f10", "--setting", "client_id=3f2b9c41-6d7e-4a58-8b19-0c2d4e6f8a7b"}
	for _, kind := range []struct{ service, kind string }{{"azuread", "entra"}, {"defender", "defender"}} {
		args := append([]string{"integration", "set", "acme", "--data", data, "--service", kind.service, "--kind", kind.kind}, ids...)
		code, _, errOut := runCLI(t, nil, args...)
		if code != 1 || !strings.Contains(errOut, "client_secret") || !strings.Contains(errOut, "client_certificate") {
			t.Errorf("%s without a credential: exit %d, stderr %q; want exit 1 naming client_secret and client_certificate", kind.kind, code, errOut)
		}
		code, _, errOut = runCLI(t, nil, append(args, "--secret", "client_secret=s3cret-value")...)
		if code != 0 {
			t.Errorf("%s with client_secret: exit %d, stderr %s", kind.kind, code, errOut)
		}
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"smartpt serve", "smartpt guard"}},
		{[]string{"help"}, []string{"smartpt company"}},
		{[]string{"company", "-h"}, []string{"company create", "company disable"}},
		{[]string{"company", "help"}, []string{"company enable"}},
		{[]string{"key", "--help"}, []string{"key rotate", "key revoke", "key list"}},
		{[]string{"integration", "-h"}, []string{"integration set", "integration delete", "integration test"}},
		{[]string{"audit", "-h"}, []string{"audit list", "audit verify", "--expect-head"}},
		{[]string{"guard", "-h"}, []string{"protect add", "cap set", "-data DIR"}},
		{[]string{"guard", "--help"}, []string{"protect list"}},
		{[]string{"guard", "--data", "DIR", "help"}, []string{"cap show"}},
		{[]string{"company", "create", "-h"}, []string{"-by", "-data"}},
		{[]string{"company", "create", "help"}, []string{"-by"}},
		{[]string{"key", "rotate", "--help"}, []string{"-by"}},
		{[]string{"audit", "list", "help"}, []string{"-limit"}},
		{[]string{"audit", "verify", "-h"}, []string{"-expect-head"}},
		{[]string{"integration", "delete", "-h"}, []string{"-service"}},
		{[]string{"serve", "-h"}, []string{"-config"}},
		{[]string{"demo", "-h"}, []string{"-addr"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for i, a := range tc.args {
				if a == "DIR" {
					tc.args[i] = t.TempDir()
				}
			}
			code, out, errOut := runCLI(t, nil, tc.args...)
			if code != 0 {
				t.Errorf("exit %d, want 0; stderr %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("help does not mention %q:\n%s%s", w, out, errOut)
				}
			}
			if strings.Contains(errOut, "no store") || strings.Contains(errOut, "unknown subcommand") {
				t.Errorf("help answered with an error:\n%s", errOut)
			}
		})
	}
}

func TestDemoPrintsSimulatorCredentials(t *testing.T) {
	data := t.TempDir()
	_, _, stdout, _ := startCommand(t, nil, "demo", "--data", data, "--addr", "127.0.0.1:0")
	out := stdout.String()

	if !strings.Contains(out, "test-only credentials") {
		t.Fatalf("demo output has no simulator section:\n%s", out)
	}
	for _, svc := range []string{"azuread", "wazuh", "defender", "paloalto", "cisco", "cortex"} {
		if !strings.Contains(out, "--service "+svc+" --kind") || !strings.Contains(out, "integration test demo --data "+data+" --service "+svc) {
			t.Errorf("demo output has no integration set and test commands for %s", svc)
		}
	}
	for _, secret := range []string{"client_secret=", "password=", "api_key="} {
		if !strings.Contains(out, "--secret "+secret) {
			t.Errorf("demo output does not show the simulator credential %s", secret)
		}
	}
	if !regexp.MustCompile(`simulator \(/wazuh\): https?://127\.0\.0\.1:\d+`).MatchString(out) {
		t.Errorf("demo output does not show the Wazuh simulator's URL")
	}
}

func TestDemoRemovesTempFolderWhenPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	code, _, errOut := runCLI(t, nil, "demo", "--addr", busy.Addr().String())
	if code != 1 || !strings.Contains(errOut, "pass another --addr") {
		t.Errorf("demo on a busy port: exit %d, stderr %q; want exit 1 asking for another --addr", code, errOut)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "smartpt-demo-*"))
	if len(left) != 0 {
		t.Errorf("demo left its temporary folder behind: %v", left)
	}
}
