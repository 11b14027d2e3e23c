package panos_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors/panos"
)

// FuzzParseResponse checks that no response body makes the parser panic and
// that a parsed response renders its messages.
func FuzzParseResponse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`))
	f.Add([]byte(`<response status="error"><msg><line><uid-response><payload><unregister><entry ip="1.1.1.1" message="Delete mapping failed"/></unregister></payload></uid-response></line></msg></response>`))
	f.Add([]byte(`<response status="success"><result><key>abc==</key></result></response>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := panos.ParseResponse(body)
		if err != nil {
			return
		}
		_ = r.Text()
		if r.Status != "success" && r.Status != "error" {
			t.Fatalf("status %q accepted", r.Status)
		}
	})
}

// FuzzUIDMessageRoundTrip checks that a built uid-message parses back to the
// same target, tag and timeout, for every target and tag the client accepts.
func FuzzUIDMessageRoundTrip(f *testing.F) {
	f.Add("10.20.0.1", "smartpt-quarantine", 0, true)
	f.Add("2001:db8::1", `q<u>&"x`, 3600, true)
	f.Add("10.20.0.0/24", "]]>", 2592000, false)
	f.Add(`10.0.0.1"/><entry ip="0.0.0.0`, "tag", 1, true)
	f.Fuzz(func(t *testing.T, target, tag string, timeout int, register bool) {
		ip, err := panos.ParseTarget(target, true)
		if err != nil || panos.ValidateTag(tag) != nil || timeout < 0 || timeout > panos.MaxTimeoutSeconds {
			return
		}
		out, err := panos.BuildUIDMessage(register, ip, tag, timeout)
		if err != nil {
			t.Fatalf("BuildUIDMessage: %v", err)
		}

		var msg panos.UIDMessage
		if err := xml.Unmarshal(out, &msg); err != nil {
			t.Fatalf("parse built message %s: %v", out, err)
		}
		set := msg.Payload.Register
		if !register {
			set = msg.Payload.Unregister
		}
		if set == nil || len(set.Entries) != 1 || len(set.Entries[0].Tag.Members) != 1 {
			t.Fatalf("built message %s has not exactly one entry and tag", out)
		}
		e := set.Entries[0]
		if e.IP != ip || e.Tag.Members[0].Name != tag {
			t.Fatalf("round trip gave ip %q tag %q, want %q %q", e.IP, e.Tag.Members[0].Name, ip, tag)
		}
		wantTimeout := ""
		if register && timeout > 0 {
			wantTimeout = strconv.Itoa(timeout)
		}
		if e.Tag.Members[0].Timeout != wantTimeout {
			t.Fatalf("timeout = %q, want %q", e.Tag.Members[0].Timeout, wantTimeout)
		}
	})
}

// FuzzShowRegisteredIPRoundTrip checks the op command builder the same way.
func FuzzShowRegisteredIPRoundTrip(f *testing.F) {
	f.Add("smartpt-quarantine", 500, 1)
	f.Add(`a<b>&c`, 1, 1001)
	f.Fuzz(func(t *testing.T, tag string, limit, start int) {
		if panos.ValidateTag(tag) != nil || limit < 1 || start < 1 {
			return
		}
		out, err := panos.BuildShowRegisteredIP(tag, limit, start)
		if err != nil {
			t.Fatalf("BuildShowRegisteredIP: %v", err)
		}
		var cmd panos.ShowRegisteredIP
		if err := xml.Unmarshal(out, &cmd); err != nil {
			t.Fatalf("parse built command %s: %v", out, err)
		}
		q := cmd.Object.RegisteredIP
		if q.Tag == nil || q.Tag.Entry.Name != tag || q.Limit != limit || q.StartPoint != start || q.All != nil {
			t.Fatalf("round trip of %s = %+v", out, q)
		}
	})
}
