package cortex_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/cortex"
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
	t.Run("get_endpoint reply", func(t *testing.T) {
		var reply cortex.GetEndpointReply
		if _, err := cortex.ParseReply(readFixture(t, "get_endpoint_reply.json"), &reply); err != nil {
			t.Fatalf("ParseReply: %v", err)
		}
		if reply.ResultCount != 1 || len(reply.Endpoints) != 1 {
			t.Fatalf("reply = %+v, want one endpoint", reply)
		}
		ep := reply.Endpoints[0]
		if ep.EndpointID != "1111" || ep.EndpointStatus != cortex.StatusConnected || len(ep.IP) != 1 || ep.IP[0] != "3.3.3.3" {
			t.Errorf("endpoint = %+v", ep)
		}
		if got := cortex.MapIsolation(ep.IsIsolated); got != vendor.NotIsolated {
			t.Errorf("isolation = %s, want %s", got, vendor.NotIsolated)
		}
	})

	t.Run("get_action_status reply", func(t *testing.T) {
		var reply cortex.ActionStatusReply
		if _, err := cortex.ParseReply(readFixture(t, "get_action_status_reply.json"), &reply); err != nil {
			t.Fatalf("ParseReply: %v", err)
		}
		if got := reply.Data["aeec6a2cc92e46fab3b6f621722e9916"]; got != cortex.ActionCompletedSuccessfully {
			t.Errorf("status = %q, want %s", got, cortex.ActionCompletedSuccessfully)
		}
		if len(reply.Data) != 3 || len(reply.ErrorReasons) != 1 {
			t.Errorf("reply = %+v, want 3 statuses and 1 error reason", reply)
		}
	})

	t.Run("unisolate reply", func(t *testing.T) {
		var reply cortex.ActionReply
		if _, err := cortex.ParseReply(readFixture(t, "unisolate_reply.json"), &reply); err != nil {
			t.Fatalf("ParseReply: %v", err)
		}
		if !strings.Contains(string(reply.ActionID), "action ID") {
			t.Errorf("action_id = %s", reply.ActionID)
		}
	})

	t.Run("error 500 reply", func(t *testing.T) {
		body := readFixture(t, "error_500_no_endpoint_for_action.json")
		e, ok := cortex.ParseError(body)
		if !ok {
			t.Fatal("ParseError found no error")
		}
		if !strings.Contains(e.Error(), "err_code 500") || !strings.Contains(e.Error(), "can't create group action id for ISOLATE") {
			t.Errorf("error = %q", e.Error())
		}
		if _, err := cortex.ParseReply(body, nil); err == nil {
			t.Error("ParseReply accepted an error reply")
		}
	})

	requests := map[string]string{
		"get_action_status_request.json":        "group_action_id",
		"get_endpoint_request_by_hostname.json": "hostname",
		"isolate_request_filters.json":          "endpoint_id_list",
		"isolate_request_single.json":           "endpoint_id",
	}
	for name, field := range requests {
		t.Run(name, func(t *testing.T) {
			var req struct {
				RequestData map[string]any `json:"request_data"`
			}
			if err := jsonUnmarshal(readFixture(t, name), &req); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !strings.Contains(mustJSON(t, req.RequestData), field) {
				t.Errorf("request_data = %v, want field %s", req.RequestData, field)
			}
		})
	}
}
