package api

import (
	"testing"
)

// FuzzDecodeObject checks that any body either decodes into the accepted
// fields with the right types or is rejected with a 400 or 413 message, and
// never panics.
func FuzzDecodeObject(f *testing.F) {
	seeds := []string{
		`{"action":"isolate","Email":"analyst@example.com","agent_id":"001"}`,
		`{"action":"isolate","action":"status"}`,
		`{"dry_run":true,"comment":"a\"}b"}`,
		`{"comment":"[[[[[["}`,
		`[[[[[[[[]]]]]]]]`,
		`{"a":1} {}`,
		"{\"agent_id\":\"\xff\"}",
		`{"agent_id":"\ud800"}`,
		``,
		`null`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	route := ActionRoutes()[0]

	f.Fuzz(func(t *testing.T, body []byte) {
		values, err := decodeObject(body, route.Fields, route.Path)
		if err != nil {
			if err.Status != 400 || len(err.Message) < len("Bad Request: ") {
				t.Fatalf("rejection = %d %q, want 400 with a message", err.Status, err.Message)
			}
			return
		}
		for name, raw := range values {
			kind, ok := route.Fields[name]
			if !ok {
				t.Fatalf("decoded unknown field %q", name)
			}
			if !hasKind(raw, kind) {
				t.Fatalf("field %q = %s, want %s", name, raw, kind)
			}
		}
		// A decoded body must also pass validation without panicking.
		_, _ = parseActionRequest(route, values)
	})
}
