package attack

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// trickle writes data to conn one byte every interval until all is written,
// the connection fails or stop is closed.
func trickle(conn net.Conn, data []byte, interval time.Duration, stop <-chan struct{}) {
	for _, c := range data {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		if _, err := conn.Write([]byte{c}); err != nil {
			return
		}
	}
}

// readUntilClosed reads conn until the server closes it or limit passes,
// and returns what was read and when the read ended.
func readUntilClosed(conn net.Conn, limit time.Duration) ([]byte, time.Duration, bool) {
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	data, err := io.ReadAll(conn)
	var netErr net.Error
	timedOut := errors.As(err, &netErr) && netErr.Timeout()
	return data, time.Since(start), !timedOut
}

// TestSlowClients checks that the server closes connections whose headers
// or body arrive too slowly, within its configured timeouts, and that no
// such request reaches a vendor.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	const (
		headerTimeout = 500 * time.Millisecond
		readTimeout   = time.Second
		slack         = 1500 * time.Millisecond
	)
	s := newStack(t, stackOptions{Companies: []string{"a"}, ReadHeaderTimeout: headerTimeout, ReadTimeout: readTimeout, WriteTimeout: 2 * time.Second})
	a := s.Companies["a"]
	body := string(object("action", "isolate", "Email", requester, "agent_id", "demo-host-01"))
	head := "POST /wazuh/agents HTTP/1.1\r\nHost: " + s.Addr + "\r\nContent-Type: application/json\r\nx-sha256: " + a.Key + "\r\n"

	cases := []struct {
		name    string
		prefix  string // sent at once
		trickle string // sent a byte every 100 ms
		limit   time.Duration
	}{
		{name: "silent after connect", limit: headerTimeout + slack},
		{name: "request line trickled", trickle: head, limit: headerTimeout + slack},
		{name: "headers trickled", prefix: "POST /wazuh/agents HTTP/1.1\r\n", trickle: strings.Repeat("X-Padding: 1\r\n", 20), limit: headerTimeout + slack},
		{name: "headers never end", prefix: head, limit: headerTimeout + slack},
		{name: "body trickled", prefix: head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n", trickle: body, limit: readTimeout + slack},
		{name: "body shorter than its length", prefix: head + "Content-Length: 10000\r\n\r\n" + body, limit: readTimeout + slack},
		{name: "chunked body trickled", prefix: head + "Transfer-Encoding: chunked\r\n\r\n", trickle: "5\r\n{\"a\":\r\n" + strings.Repeat("1\r\n \r\n", 40), limit: readTimeout + slack},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := s.quiesce()
			conn, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()

			if _, err := conn.Write([]byte(tc.prefix)); err != nil {
				t.Fatalf("write: %v", err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go trickle(conn, []byte(tc.trickle), 100*time.Millisecond, stop)

			data, took, closed := readUntilClosed(conn, tc.limit)
			if !closed {
				t.Fatalf("connection still open after %v; want the server to close it within %v", took, tc.limit)
			}
			if len(data) > 0 {
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
				if err != nil {
					t.Fatalf("the server sent something that is not an HTTP response: %q", data)
				}
				if resp.StatusCode < 400 || resp.StatusCode > 499 {
					t.Errorf("status %d, want a 4xx; response %q", resp.StatusCode, data)
				}
			}
			s.checkNoVendorCall(t, before)
		})
	}
}
