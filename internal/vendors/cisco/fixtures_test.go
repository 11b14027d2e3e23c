package cisco_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/cisco"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return data
}

func TestFixturesParse(t *testing.T) {
	t.Run("computers list", func(t *testing.T) {
		var comps []cisco.Computer
		env, err := cisco.ParseEnvelope(readFixture(t, "computers_list_200.json"), &comps)
		if err != nil {
			t.Fatalf("ParseEnvelope: %v", err)
		}
		if len(comps) != 3 || env.Metadata.Results == nil || env.Metadata.Results.ItemsPerPage != 500 {
			t.Fatalf("list = %d computers, metadata %+v", len(comps), env.Metadata)
		}
		if comps[1].InternalIPs[1] != " 169.254.54.240" || comps[0].Isolation == nil || comps[0].Isolation.Status != cisco.StatusNotIsolated {
			t.Errorf("computers = %+v", comps)
		}
		if !cisco.IsConnectorGUID(comps[0].ConnectorGUID) {
			t.Errorf("connector GUID %q rejected", comps[0].ConnectorGUID)
		}
	})

	for _, name := range []string{"computer_get_200.json", "computer_patch_move_202.json"} {
		t.Run(name, func(t *testing.T) {
			var comp cisco.Computer
			if _, err := cisco.ParseEnvelope(readFixture(t, name), &comp); err != nil {
				t.Fatalf("ParseEnvelope: %v", err)
			}
			if comp.ConnectorGUID != "fc0365d7-50b2-4464-a222-f7a3e3431b10" || comp.Hostname != "EC2AMAZ-M367V5R" {
				t.Errorf("computer = %+v", comp)
			}
		})
	}

	t.Run("isolation get", func(t *testing.T) {
		body := readFixture(t, "isolation_get_200_RECONSTRUCTED.json")
		var iso cisco.Isolation
		if _, err := cisco.ParseEnvelope(body, &iso); err != nil {
			t.Fatalf("ParseEnvelope: %v", err)
		}
		if iso.Status != cisco.StatusIsolated || !iso.Available || iso.UnlockCode != "unlockme" {
			t.Errorf("isolation = %+v", iso)
		}
		if got := cisco.MapIsolation(iso.Status); got != vendor.Isolated {
			t.Errorf("MapIsolation = %s", got)
		}
	})

	t.Run("isolation put request", func(t *testing.T) {
		var req cisco.IsolationRequest
		if err := json.Unmarshal(readFixture(t, "isolation_put_request.json"), &req); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if req.UnlockCode != "unlockme" || req.Comment == "" {
			t.Errorf("request = %+v", req)
		}
	})

	errorsWant := map[string]int{
		"error_401_bad_creds.json":                        401,
		"error_404_not_found_file_list.json":              404,
		"error_409_conflict_file_list.json":               409,
		"isolation_put_409_already_isolated_PARTIAL.json": 409,
	}
	for name, code := range errorsWant {
		t.Run(name, func(t *testing.T) {
			env, err := cisco.ParseEnvelope(readFixture(t, name), nil)
			if err != nil {
				t.Fatalf("ParseEnvelope: %v", err)
			}
			if len(env.Errors) != 1 || strings.TrimSpace(string(env.Errors[0].ErrorCode)) != jsonInt(code) || env.ErrorText() == "" {
				t.Errorf("errors = %+v", env.Errors)
			}
		})
	}

	for _, name := range []string{"computers_list_200.headers.json", "isolation_put_409.headers.json"} {
		t.Run(name, func(t *testing.T) {
			var raw map[string]string
			if err := json.Unmarshal(readFixture(t, name), &raw); err != nil {
				t.Fatalf("decode: %v", err)
			}
			h := http.Header{}
			for k, v := range raw {
				h.Set(k, v)
			}
			if h.Get("X-RateLimit-Limit") != "3000" || h.Get("X-RateLimit-Reset") == "" {
				t.Errorf("headers = %v", h)
			}
		})
	}

	t.Run("isolation events", func(t *testing.T) {
		var events []struct {
			EventTypeID   int    `json:"event_type_id"`
			ConnectorGUID string `json:"connector_guid"`
		}
		if err := json.Unmarshal(readFixture(t, "events_isolation_start_stop.json"), &events); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(events) != 2 || events[0].EventTypeID != 553648204 || events[1].EventTypeID != 553648202 {
			t.Errorf("events = %+v", events)
		}
	})
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(bytes.TrimSpace(b))
}
