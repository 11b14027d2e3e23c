package api

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// KeyHeader carries the company key.
const KeyHeader = "x-sha256"

// AuthLimit sets how failed authentications from one client address are
// slowed down and then blocked. Failures are counted in a fixed window that
// starts at the address's first failure.
type AuthLimit struct {
	Window     time.Duration // length of the counting window
	DelayAfter int           // failures in a window that get their 401 without delay
	Delay      time.Duration // added to each later failure's response, times the failures beyond DelayAfter
	MaxDelay   time.Duration // cap on the added delay
	BlockAfter int           // failures after which the address gets 429 until the window ends
}

// DefaultAuthLimit allows 5 failures a minute without delay, then slows each
// response by 250 ms more per failure up to 2 s, and blocks the address after
// 20 failures until its 1-minute window ends.
var DefaultAuthLimit = AuthLimit{
	Window:     time.Minute,
	DelayAfter: 5,
	Delay:      250 * time.Millisecond,
	MaxDelay:   2 * time.Second,
	BlockAfter: 20,
}

func (l AuthLimit) withDefaults() AuthLimit {
	if l.Window <= 0 {
		l.Window = DefaultAuthLimit.Window
	}
	if l.DelayAfter <= 0 {
		l.DelayAfter = DefaultAuthLimit.DelayAfter
	}
	if l.Delay <= 0 {
		l.Delay = DefaultAuthLimit.Delay
	}
	if l.MaxDelay <= 0 {
		l.MaxDelay = DefaultAuthLimit.MaxDelay
	}
	if l.BlockAfter <= 0 {
		l.BlockAfter = DefaultAuthLimit.BlockAfter
	}
	return l
}

// maxTrackedAddrs bounds the limiter's memory; past it, expired windows are
// swept before a new address is added.
const maxTrackedAddrs = 100_000

type failureWindow struct {
	start    time.Time
	failures int
}

// authLimiter counts failed authentications per client address in memory.
// The audit trail also counts the failures that every replica stored. After
// a failure, the local count is raised to the stored one, so an address is
// slowed down and blocked on each replica it has reached.
type authLimiter struct {
	limit AuthLimit
	now   func() time.Time

	mu      sync.Mutex
	windows map[string]*failureWindow // guarded by mu; key: client address
}

func newAuthLimiter(limit AuthLimit) *authLimiter {
	return &authLimiter{limit: limit, now: time.Now, windows: map[string]*failureWindow{}}
}

// blocked returns how long addr stays blocked, or 0.
func (l *authLimiter) blocked(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()

	w, ok := l.windows[addr]
	if !ok || w.failures < l.limit.BlockAfter {
		return 0
	}
	remaining := l.limit.Window - l.now().Sub(w.start)
	if remaining <= 0 {
		delete(l.windows, addr)
		return 0
	}
	return remaining
}

// fail counts one failure of addr and returns the failures in its window.
func (l *authLimiter) fail(addr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()

	now := l.now()
	w, ok := l.windows[addr]
	if ok && now.Sub(w.start) >= l.limit.Window {
		ok = false
	}
	if !ok {
		if len(l.windows) >= maxTrackedAddrs {
			l.sweep(now)
		}
		w = &failureWindow{start: now}
		l.windows[addr] = w
	}
	w.failures++
	return w.failures
}

// raise sets the failures of addr's current window to n when n is higher,
// for failures that other replicas recorded in the shared store.
func (l *authLimiter) raise(addr string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()

	if w, ok := l.windows[addr]; ok && n > w.failures {
		w.failures = n
	}
}

// delay returns how long to hold the 401 after the given number of failures.
func (l *authLimiter) delay(failures int) time.Duration {
	beyond := failures - l.limit.DelayAfter
	if beyond <= 0 {
		return 0
	}
	return min(time.Duration(beyond)*l.limit.Delay, l.limit.MaxDelay)
}

func (l *authLimiter) sweep(now time.Time) {
	for addr, w := range l.windows {
		if now.Sub(w.start) >= l.limit.Window {
			delete(l.windows, addr)
		}
	}
}

type companyHandler func(w http.ResponseWriter, r *http.Request, company tenant.Company)

// withCompany authenticates the company key before next runs. Every failure
// gets the same 401 body, whatever failed; an address with too many recent
// failures gets 429 without its key being checked.
func (s *Server) withCompany(next companyHandler) http.Handler {
	return s.withCompanyFor("", next)
}

// withCompanyFor is withCompany for a route of service svc. When Auth is a
// ServiceAuthenticator, the key check also reads the revision of the
// company's svc integration into the request's requestInfo.
func (s *Server) withCompanyFor(svc vendor.Service, next companyHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())

		if wait := s.limiter.blocked(info.ClientAddr); wait > 0 {
			writeAuthBlocked(w, wait)
			return
		}

		// Two key headers are ambiguous: a proxy or a log may read the
		// other one. Both are rejected without being checked.
		keys := r.Header.Values(KeyHeader)
		presented, reason := "", "missing key"
		switch {
		case len(keys) > 1:
			reason = "more than one key header"
		case len(keys) == 1:
			presented = keys[0]
		}
		if presented != "" {
			var company tenant.Company
			var err error
			cached := false
			if ca, ok := s.cfg.Auth.(CachedAuthenticator); ok && svc != "" {
				company, info.Integration, cached = ca.CachedAuthenticateFor(presented, svc)
			}
			if !cached {
				offload(func() { company, info.Integration, err = s.authenticate(r.Context(), presented, svc) })
			}
			if err == nil {
				info.CompanyID = company.ID
				next(w, r, company)
				return
			}
			if !errors.Is(err, tenant.ErrUnauthorized) {
				s.writeEngineError(w, r, err)
				return
			}
			reason = "unknown, revoked or disabled key"
		}

		s.authFailed(w, r, reason)
	})
}

// authenticate checks the presented key, and reads the revision of the
// company's svc integration when svc is set and Auth can read it.
func (s *Server) authenticate(ctx context.Context, presented string, svc vendor.Service) (tenant.Company, tenant.Revision, error) {
	if auth, ok := s.cfg.Auth.(ServiceAuthenticator); ok && svc != "" {
		return auth.AuthenticateFor(ctx, presented, svc)
	}
	company, err := s.cfg.Auth.Authenticate(ctx, presented)
	return company, tenant.Revision{}, err
}

// writeAuthBlocked writes the 429 of an address that failed authentication
// too often. wait is the time until its block ends.
func writeAuthBlocked(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeJSON(w, http.StatusTooManyRequests, errorBody{
		Message: "Too Many Requests: too many failed authentications from this address; retry after the time in the Retry-After header",
	})
}

// authFailureCounter counts the failures that every replica recorded.
// *audit.Log implements it.
type authFailureCounter interface {
	CountAuthFailures(ctx context.Context, clientAddr string, since time.Time) (int, error)
}

// authFailed records, logs and responds to one failed authentication. The
// presented key is never logged or recorded.
func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, reason string) {
	info := infoFrom(r.Context())
	failures := s.limiter.fail(info.ClientAddr)
	s.metrics.authFailures.Inc()

	// The failure is recorded even when the client has gone away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.cfg.AuthFailures.RecordAuthFailure(ctx, info.ClientAddr, info.Route, reason); err != nil {
		s.log.Error("recording a failed authentication failed", "request_id", info.RequestID,
			"client_addr", info.ClientAddr, "error", err)
	}

	// Replicas share the store, so the stored count includes failures sent
	// to the other replicas.
	if counter, ok := s.cfg.AuthFailures.(authFailureCounter); ok {
		stored, err := counter.CountAuthFailures(ctx, info.ClientAddr, time.Now().Add(-s.limiter.limit.Window))
		if err != nil {
			s.log.Error("counting failed authentications failed", "request_id", info.RequestID,
				"client_addr", info.ClientAddr, "error", err)
		} else if stored > failures {
			s.limiter.raise(info.ClientAddr, stored)
			failures = stored
		}
	}

	delay := s.limiter.delay(failures)
	s.log.Warn("authentication failed", "request_id", info.RequestID, "client_addr", info.ClientAddr,
		"route", info.Route, "reason", reason, "failures_in_window", failures, "delay_ms", delay.Milliseconds())

	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
		}
	}
	writeJSON(w, http.StatusUnauthorized, errorBody{Message: "Unauthorized"})
}
