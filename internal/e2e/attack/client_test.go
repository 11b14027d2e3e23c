package attack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is one HTTP request to the stack. An empty Method means POST; a
// nil Header map means Content-Type application/json and no key.
type request struct {
	Method  string
	Path    string // with the query, sent as is
	Key     string // x-sha256; empty means none
	Header  map[string]string
	Body    []byte
	NoCType bool // send no Content-Type header
}

// response is what the stack sent back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// responseLog keeps every response of a stack for the secret scan.
type responseLog struct {
	mu  sync.Mutex
	all []string // status line, headers and body of each response; guarded by mu
}

func (l *responseLog) add(resp *response) {
	var b strings.Builder
	b.WriteString(http.StatusText(resp.Status))
	for name, values := range resp.Header {
		b.WriteString("\n" + name + ": " + strings.Join(values, ", "))
	}
	b.WriteString("\n\n")
	b.Write(resp.Body)
	l.mu.Lock()
	l.all = append(l.all, b.String())
	l.mu.Unlock()
}

func (l *responseLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n----\n")
}

// do sends req and returns the response; a transport error fails the test.
func (s *stack) do(t testing.TB, req request) *response {
	t.Helper()
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequest(method, s.URL+req.Path, body)
	if err != nil {
		t.Fatalf("build request %s %q: %v", method, req.Path, err)
	}
	if !req.NoCType && req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.Key != "" {
		hr.Header.Set("x-sha256", req.Key)
	}
	for name, value := range req.Header {
		hr.Header.Set(name, value)
	}
	return s.send(t, hr)
}

// send sends a prepared request and records the response. A transport
// error fails the test without stopping it, so that send may run in a
// goroutine, and returns a response with status 0.
func (s *stack) send(t testing.TB, hr *http.Request) *response {
	t.Helper()
	hresp, err := s.client.Do(hr)
	if err != nil {
		s.responses.add(&response{Body: []byte(err.Error())})
		t.Errorf("%s %q: %v", hr.Method, hr.URL.Path, err)
		return &response{Header: http.Header{}, Body: []byte(err.Error())}
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(hresp.Body)
	if err != nil {
		t.Errorf("%s %q: read the body: %v", hr.Method, hr.URL.Path, err)
	}
	resp := &response{Status: hresp.StatusCode, Header: hresp.Header, Body: data}
	s.responses.add(resp)
	return resp
}

// post sends body as JSON to path with key.
func (s *stack) post(t testing.TB, path, key string, body any) *response {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("marshal the body: %v", err)
	}
	return s.do(t, request{Path: path, Key: key, Body: data})
}

// stackTraceMarks are substrings of a Go panic or stack trace.
var stackTraceMarks = []string{"goroutine ", ".go:", "panic", "runtime/", "runtime.", "debug.Stack"}

// checkJSONError checks that resp has status want and a JSON object body
// whose statusCode equals it, with a non-empty message and no stack trace.
// It returns the decoded body.
func checkJSONError(t testing.TB, resp *response, want int) map[string]any {
	t.Helper()
	if resp.Status != want {
		t.Errorf("status = %d, want %d; body %s", resp.Status, want, resp.Body)
	}
	if resp.Status >= 500 {
		t.Errorf("status %d is a server error; a hostile request must get a 4xx", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json; body %s", ct, resp.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Errorf("body is not a JSON object: %v; body %q", err, resp.Body)
		return nil
	}
	code, ok := body["statusCode"].(float64)
	if !ok || int(code) != resp.Status {
		t.Errorf("statusCode = %v, want %d (the HTTP status)", body["statusCode"], resp.Status)
	}
	if msg, _ := body["message"].(string); msg == "" {
		t.Errorf("message is missing or empty; body %s", resp.Body)
	}
	for _, mark := range stackTraceMarks {
		if bytes.Contains(resp.Body, []byte(mark)) {
			t.Errorf("body contains %q, a sign of a stack trace: %s", mark, resp.Body)
		}
	}
	return body
}

// checkNoVendorCall fails when any simulator received a request since
// before was taken.
func (s *stack) checkNoVendorCall(t testing.TB, before int64) {
	t.Helper()
	if after := s.vendorRequests(); after != before {
		t.Errorf("%d request(s) reached a vendor simulator, want none; requests so far:\n%s", after-before, s.vendorRequestLog())
	}
}

// quiesce waits until no simulator has received a request for 300 ms, at
// most 10 s, and returns the request count. A case that wrongly reached a
// vendor may leave confirmation polls running; waiting for them keeps that
// failure from spilling into the next case.
func (s *stack) quiesce() int64 {
	n := s.vendorRequests()
	if n == s.lastQuiet.Load() {
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		m := s.vendorRequests()
		if m == n {
			break
		}
		n = m
	}
	s.lastQuiet.Store(n)
	return n
}

// decode unmarshals a JSON body into a map, failing the test otherwise.
func decode(t testing.TB, resp *response) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("body is not a JSON object: %v; body %q", err, resp.Body)
	}
	return body
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
