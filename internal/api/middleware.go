package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/tenant"
)

// requestInfo collects what the access log and the metrics report about one
// request. Handlers fill it in as they learn each value.
type requestInfo struct {
	RequestID  string
	ClientAddr string
	Route      string // route pattern, "unmatched" for an unknown path
	Action     string // the body's action when it named a valid one
	CompanyID  string
	ActionID   string

	// Integration is the revision of the company's integration for the
	// route's service, read with the key check on action routes.
	Integration tenant.Revision
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe wraps every request: it assigns the request id, works out the
// client address, turns a panic into a 500, and logs and counts the request
// when it ends.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{
			RequestID:  requestID(r.Header.Get("X-Request-Id")),
			ClientAddr: clientAddr(r, s.cfg.TrustedProxies),
			Route:      "unmatched",
		}
		w.Header().Set("X-Request-Id", info.RequestID)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic while serving a request", "request_id", info.RequestID, "route", info.Route,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, internalError(info.RequestID))
				}
			}

			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			s.metrics.observe(info.Route, info.Action, status, elapsed)
			s.log.Info("request",
				"request_id", info.RequestID, "method", r.Method, "route", info.Route,
				"action", info.Action, "company_id", info.CompanyID, "action_id", info.ActionID,
				"client_addr", info.ClientAddr, "status", status, "duration_ms", elapsed.Milliseconds())
		}()

		next.ServeHTTP(sw, r)
	})
}

// requestID returns the client's X-Request-Id when it is 1 to 128 letters,
// digits, '-', '_' or '.', and a new random id otherwise.
func requestID(presented string) string {
	if len(presented) >= 1 && len(presented) <= 128 && strings.Trim(presented,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return presented
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // since Go 1.24, crypto/rand.Read never returns an error
	return hex.EncodeToString(b[:])
}

// clientAddr returns the address of the client. X-Forwarded-For is read
// only when the connection comes from a trusted proxy: its entries are walked
// from the right, skipping trusted proxies, and the first other address is
// the client.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := remote.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr.String()
	}

	var hops []string
	for _, header := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(header, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A malformed hop was written by someone untrusted; the last
			// proxy we trust is as far as we can see.
			break
		}
		hop = hop.Unmap()
		addr = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return addr.String()
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
