package attack

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSideChannelAttacks covers attacks that do not fit the body
// table: the key in the query string, a compressed body, a huge declared
// length, an Idempotency-Key reused for another request, and client values
// that must not become metric labels.
func TestSideChannelAttacks(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Companies: []string{"a"}})
	a := s.Companies["a"]
	body := object("action", "status", "Email", requester, "agent_id", "demo-host-01")

	t.Run("key in the query string", func(t *testing.T) {
		before := s.quiesce()
		resp := s.do(t, request{Path: "/wazuh/agents?x-sha256=" + a.Key, Body: body})
		checkJSONError(t, resp, http.StatusUnauthorized)
		s.checkNoVendorCall(t, before)
	})

	t.Run("gzip body", func(t *testing.T) {
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		_, _ = zw.Write(body)
		_ = zw.Close()
		before := s.quiesce()
		resp := s.do(t, request{Path: "/wazuh/agents", Key: a.Key, Body: zipped.Bytes(), Header: map[string]string{"Content-Encoding": "gzip"}})
		checkJSONError(t, resp, http.StatusBadRequest)
		s.checkNoVendorCall(t, before)
	})

	t.Run("huge declared length", func(t *testing.T) {
		before := s.quiesce()
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		head := "POST /wazuh/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-sha256: " + a.Key +
			"\r\nContent-Length: 1073741824\r\n\r\n" + strings.Repeat(" ", 70<<10)
		start := time.Now()
		if _, err := conn.Write([]byte(head)); err != nil {
			t.Fatalf("write: %v", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("read the response: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("413 took %v; the server must stop reading at 64 KiB", took)
		}
		s.checkNoVendorCall(t, before)
	})

	t.Run("idempotency key reused for another target", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "reuse-" + randomHex(t, 8)}
		first := s.do(t, request{Path: "/wazuh/agents", Key: a.Key, Header: key, Body: body})
		if first.Status != http.StatusOK {
			t.Fatalf("first request: status %d, body %s", first.Status, first.Body)
		}
		other := object("action", "status", "Email", requester, "agent_id", "demo-host-02")
		second := s.do(t, request{Path: "/wazuh/agents", Key: a.Key, Header: key, Body: other})
		if second.Status == http.StatusOK && actionID(decode(t, second)) == actionID(decode(t, first)) {
			t.Errorf("a different request with the same Idempotency-Key got the first request's result %s", second.Body)
		}
	})

	t.Run("client values are not metric labels", func(t *testing.T) {
		marker := "attackmarker" + randomHex(t, 12)
		s.do(t, request{Path: "/" + marker, Key: a.Key, Body: body})
		s.do(t, request{Path: "/wazuh/agents", Key: a.Key, Body: object("action", marker, "Email", requester, "agent_id", "001")})
		s.do(t, request{Path: "/wazuh/agents", Key: a.Key, Body: object("action", "status", "Email", requester, "agent_id", marker)})
		s.do(t, request{Method: "GET", Path: "/v1/actions/" + marker, Key: a.Key})
		s.do(t, request{Method: marker, Path: "/wazuh/agents", Key: a.Key, Body: body})
		metrics := s.do(t, request{Method: "GET", Path: "/metrics"})
		if bytes.Contains(metrics.Body, []byte(marker)) {
			t.Errorf("/metrics contains the client's value %s", marker)
		}
	})
}
