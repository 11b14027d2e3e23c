// Package floorhttp holds the HTTP pieces of bench/floor that do not depend
// on a simulator: the trivial handler, the vendor-latency delay, response
// counting by status and the loopback check.
package floorhttp

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// TrivialBody is the trivial floor's response body, about the size of a
// short gateway response.
var TrivialBody = []byte(`{"statusCode":200,"body":{"message":"Action executed successfully"}}`)

// Trivial reads the request body, as a real handler must, and returns
// TrivialBody.
func Trivial(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	w.Header().Set("Content-Type", "application/json")
	w.Write(TrivialBody)
}

// Delayed waits d before h handles each request. When the client goes away
// first, it returns without calling h.
func Delayed(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

// CheckLoopback rejects a listen address outside loopback: the floors serve
// test credentials and must not be reachable from the network.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("listen address %q is not a loopback address; use 127.0.0.1 or ::1", addr)
	}
	return nil
}

// StatusCounts counts responses by HTTP status. Its ServeHTTP returns the
// counts as JSON: {"200": n, "429": m, ...}.
type StatusCounts struct {
	mu       sync.Mutex
	byStatus map[int]int64 // guarded by mu
}

// Wrap returns h with every response counted.
func (c *StatusCounts) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)

		c.mu.Lock()
		if c.byStatus == nil {
			c.byStatus = map[int]int64{}
		}
		c.byStatus[rec.status]++
		c.mu.Unlock()
	})
}

// Snapshot returns the counts so far, keyed by status code.
func (c *StatusCounts) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.byStatus))
	for status, n := range c.byStatus {
		out[strconv.Itoa(status)] = n
	}
	return out
}

func (c *StatusCounts) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(c.Snapshot())
}

// statusRecorder notes the status a handler writes.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status = status
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
