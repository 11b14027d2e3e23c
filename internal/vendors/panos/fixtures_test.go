package panos_test

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors/panos"
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
	t.Run("uid register", func(t *testing.T) {
		var msg panos.UIDMessage
		if err := xml.Unmarshal(readFixture(t, "uid_register.xml"), &msg); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if msg.Type != "update" || msg.Payload.Register == nil || len(msg.Payload.Register.Entries) != 2 {
			t.Fatalf("message = %+v, want two register entries", msg)
		}
		e := msg.Payload.Register.Entries[0]
		if e.IP != "10.0.0.1" || len(e.Tag.Members) != 3 || e.Tag.Members[2].Timeout != "3600" || e.Tag.Members[2].Name != "tag03" {
			t.Errorf("first entry = %+v", e)
		}
		if msg.Payload.Register.Entries[1].Persistent != "0" {
			t.Errorf("second entry persistent = %q, want 0", msg.Payload.Register.Entries[1].Persistent)
		}
	})

	t.Run("uid unregister", func(t *testing.T) {
		var msg panos.UIDMessage
		if err := xml.Unmarshal(readFixture(t, "uid_unregister.xml"), &msg); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if msg.Payload.Unregister == nil || msg.Payload.Unregister.Entries[0].Tag.Members[0].Name != "tag01" {
			t.Errorf("message = %+v, want one unregister of tag01", msg)
		}
	})

	t.Run("show registered-ip command", func(t *testing.T) {
		var cmd panos.ShowRegisteredIP
		if err := xml.Unmarshal(readFixture(t, "show_registered_ip_op_cmd.xml"), &cmd); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if cmd.Object.RegisteredIP.All == nil {
			t.Errorf("command = %+v, want <all>", cmd)
		}
	})

	t.Run("show registered-ip response", func(t *testing.T) {
		r, err := panos.ParseResponse(readFixture(t, "show_registered_ip_response_RECONSTRUCTED.xml"))
		if err != nil {
			t.Fatalf("ParseResponse: %v", err)
		}
		if r.Status != "success" || r.Result == nil || len(r.Result.Entries) != 1 {
			t.Fatalf("response = %+v, want one entry", r)
		}
		e := r.Result.Entries[0]
		if e.IP != "10.0.0.1" || e.Persistent != "1" || len(e.Tags) != 1 || e.Tags[0] != "quarantine" || r.Result.Count != "1" {
			t.Errorf("entry = %+v, count %q", e, r.Result.Count)
		}
	})

	t.Run("error codes", func(t *testing.T) {
		var codes map[string]string
		if err := json.Unmarshal(readFixture(t, "xml_api_error_codes.json"), &codes); err != nil {
			t.Fatalf("decode: %v", err)
		}
		for code := range codes {
			if _, ok := panos.ErrorKindForCode(code); !ok {
				t.Errorf("error code %s has no mapping", code)
			}
		}
	})
}
