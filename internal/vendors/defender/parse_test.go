package defender

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors"
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
	t.Run("machine", func(t *testing.T) {
		m, err := ParseMachine(readFixture(t, "machine_get_200.json"))
		if err != nil {
			t.Fatal(err)
		}
		ep := m.endpoint(vendor.Unknown)
		if ep.AgentID != "1e5bc9d7e413ddd7902c2932e418702b84d0cc07" || ep.Hostname != "mymachine1.contoso.com" || ep.IP != "172.17.230.209" || !ep.Online {
			t.Errorf("endpoint = %+v", ep)
		}
	})

	t.Run("machine list", func(t *testing.T) {
		ms, err := ParseMachines(readFixture(t, "machines_list_200.json"))
		if err != nil || len(ms) != 1 || ms[0].HealthStatus != "Active" {
			t.Errorf("machines = %+v, %v", ms, err)
		}
	})

	t.Run("isolate 201", func(t *testing.T) {
		a, err := ParseMachineAction(readFixture(t, "machineaction_isolate_201.json"))
		if err != nil || a.Type != "Isolate" || !a.Open() {
			t.Errorf("action = %+v, %v; want an open Isolate", a, err)
		}
	})

	t.Run("succeeded action", func(t *testing.T) {
		a, err := ParseMachineAction(readFixture(t, "machineaction_get_succeeded.json"))
		if err != nil || a.Status != StatusSucceeded || a.Scope != "Selective" || a.Open() {
			t.Errorf("action = %+v, %v; want a final Selective isolation", a, err)
		}
		if got := isolationState([]MachineAction{a}); got != vendor.Isolated {
			t.Errorf("state = %s, want isolated", got)
		}
	})

	t.Run("request bodies match the client's", func(t *testing.T) {
		var iso isolateBody
		if err := json.Unmarshal(readFixture(t, "isolate_request.json"), &iso); err != nil || iso.Comment == "" || iso.IsolationType != IsolationFull {
			t.Errorf("isolate fixture = %+v, %v", iso, err)
		}
		var rel releaseBody
		if err := json.Unmarshal(readFixture(t, "unisolate_request.json"), &rel); err != nil || rel.Comment == "" {
			t.Errorf("unisolate fixture = %+v, %v", rel, err)
		}
		body, _ := json.Marshal(isolateBody{Comment: "c", IsolationType: IsolationSelective})
		if string(body) != `{"Comment":"c","IsolationType":"Selective"}` {
			t.Errorf("isolate body = %s", body)
		}
	})

	for _, tc := range []struct{ file, code string }{
		{"error_400_active_request_already_exists.json", "ActiveRequestAlreadyExists"},
		{"error_400_invalid_request_body.json", "InvalidRequestBody"},
		{"error_404_resource_not_found.json", "ResourceNotFound"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			code, msg, ok := mslogin.ParseError(readFixture(t, tc.file))
			if !ok || code != tc.code || msg == "" {
				t.Errorf("ParseError = %q, %q, %t; want %q", code, msg, ok, tc.code)
			}
		})
	}
}

func TestIsID(t *testing.T) {
	cases := map[string]bool{
		"1e5bc9d7e413ddd7902c2932e418702b84d0cc07":  true,
		"1E5BC9D7E413DDD7902C2932E418702B84D0CC07":  true,
		"1e5bc9d7e413ddd7902c2932e418702b84d0cc0":   false,
		"1e5bc9d7e413ddd7902c2932e418702b84d0cc07a": false,
		"1e5bc9d7e413ddd7902c2932e418702b84d0ccg7":  false,
		"demo-host-01": false,
	}
	for s, want := range cases {
		if got := IsID(s); got != want {
			t.Errorf("IsID(%q) = %t, want %t", s, got, want)
		}
	}
}

func TestIsolationState(t *testing.T) {
	act := func(typ, status string) MachineAction { return MachineAction{Type: typ, Status: status} }
	cases := []struct {
		name    string
		actions []MachineAction
		want    vendor.Isolation
	}{
		{"none", nil, vendor.NotIsolated},
		{"isolate pending", []MachineAction{act("Isolate", StatusPending)}, vendor.Isolating},
		{"release in progress", []MachineAction{act("Unisolate", StatusInProgress), act("Isolate", StatusSucceeded)}, vendor.Releasing},
		{"isolated", []MachineAction{act("Isolate", StatusSucceeded)}, vendor.Isolated},
		{"failed release keeps isolation", []MachineAction{act("Unisolate", StatusFailed), act("Isolate", StatusSucceeded)}, vendor.Isolated},
		{"released", []MachineAction{act("Unisolate", StatusSucceeded), act("Isolate", StatusSucceeded)}, vendor.NotIsolated},
	}
	for _, tc := range cases {
		if got := isolationState(tc.actions); got != tc.want {
			t.Errorf("%s: state = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestComment(t *testing.T) {
	got := comment("Isolated", vendor.Options{ActionID: "a1", Requester: "soc@example.com"})
	if got != "Isolated by SmartPT (action a1) at the request of soc@example.com" {
		t.Errorf("comment = %q", got)
	}
	if long := comment("x", vendor.Options{Comment: strings.Repeat("c", 5000)}); len(long) != maxComment {
		t.Errorf("long comment length = %d, want %d", len(long), maxComment)
	}
}

func FuzzParseMachines(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"1e5bc9d7e413ddd7902c2932e418702b84d0cc07","computerDnsName":"a.b","lastSeen":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"value":[{"id":"x"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, err := ParseMachines(body)
		if err != nil {
			return
		}
		for _, m := range ms {
			if !IsID(m.ID) {
				t.Fatalf("accepted machine id %q", m.ID)
			}
		}
	})
}

func FuzzParseMachineActions(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"f123cb8d-1cee-4da9-8cd1-74b4d14f5dc2","type":"Isolate","status":"Pending","creationDateTimeUtc":"2021-01-26T20:33:57.7220239Z"}]}`))
	f.Add([]byte(`{"value":[{"id":"f123cb8d-1cee-4da9-8cd1-74b4d14f5dc2","status":"Weird"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		actions, err := ParseMachineActions(body)
		if err != nil {
			return
		}
		_ = isolationState(actions)
	})
}
