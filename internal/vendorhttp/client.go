// Package vendorhttp is the one HTTP layer every vendor client uses. It adds
// per-request timeouts, retries that cannot repeat a side effect, Retry-After
// handling, a rate budget per company and integration, token renewal on 401,
// and redaction of secrets from errors.
//
// A connector builds requests and maps responses to its vendor's errors; it
// never calls net/http directly.
package vendorhttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxResponseBytes bounds how much of a vendor response body is read.
const MaxResponseBytes = 16 << 20

// Auth adds credentials to a request. Invalidate drops a cached token after
// the vendor returned 401, so that the next Authorize fetches a new one.
type Auth interface {
	Authorize(ctx context.Context, req *http.Request) error
	Invalidate()
}

// RequestInvalidator is an Auth that can drop the credential a given
// request carried, and keep a newer one that another caller already
// fetched. With it, many concurrent calls that all meet a 401 cause one
// renewal. The client prefers it to Invalidate.
type RequestInvalidator interface {
	InvalidateFor(req *http.Request)
}

// Config describes one client: a vendor API as one company's integration
// reaches it.
type Config struct {
	Vendor  string // vendor kind, for logs and metrics
	BaseURL string // scheme, host and base path, without a trailing slash

	// Timeout bounds one attempt, including reading the body. Zero means
	// DefaultTimeout.
	Timeout time.Duration

	// MaxAttempts bounds the attempts of one retryable request. Zero means
	// DefaultMaxAttempts.
	MaxAttempts int

	// Limits is the vendor's documented rate limit; the client waits for a
	// token of every limit before each attempt.
	Limits []Limit

	Auth Auth        // nil when the credentials are part of each request
	TLS  *tls.Config // nil means the system roots with verification on

	// Secrets are removed from every error message the client returns.
	Secrets []string

	// ThrottleWait is the first wait after a 429 without Retry-After or
	// rate limit headers. It doubles with each attempt up to MaxRetryAfter. Zero means
	// DefaultThrottleWait.
	ThrottleWait time.Duration

	// BreakerThreshold failed calls in a row (no response, or a 5xx) open the
	// integration's circuit breaker for BreakerCooldown. Zero means
	// DefaultBreakerThreshold and DefaultBreakerCooldown.
	BreakerThreshold int
	BreakerCooldown  time.Duration
}

const (
	DefaultTimeout     = 15 * time.Second
	DefaultMaxAttempts = 4

	// MaxRetryAfter caps a vendor's Retry-After, so that an absurd value
	// cannot park a request for hours.
	MaxRetryAfter = 120 * time.Second

	DefaultThrottleWait = 2 * time.Second
)

// Request is one vendor call.
type Request struct {
	Op     string // what is attempted, for logs, errors and the metrics label: a fixed phrase such as "get machine"
	Method string
	Path   string // already escaped, appended to Config.BaseURL
	Query  url.Values
	Header http.Header
	Body   []byte

	// Idempotent marks a request that may be sent again after a transport
	// failure or a 5xx without a second side effect: reads, token requests
	// and writes the vendor documents as idempotent. A 429 or 401 is retried
	// regardless, because the vendor did not process the request.
	Idempotent bool
}

// Response is a vendor's response, with its body fully read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error is a call that produced no usable HTTP response.
type Error struct {
	Op      string
	Timeout bool // the attempt or the context ran out of time

	// NotSent is true when no attempt of the call reached the vendor:
	// the rate budget rejected a wait past the context's deadline, the
	// circuit breaker was open, or every attempt failed before its request
	// was written (its credentials could not be fetched, or no connection
	// to the vendor could be opened).
	NotSent bool

	// BudgetRefused is true when the rate budget rejected the call because
	// it could allow it only after the context's deadline. RetryAfter is
	// then the wait the budget needed, or 0 when unknown.
	BudgetRefused bool
	RetryAfter    time.Duration

	Err error
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Client sends requests for one company's integration.
type Client struct {
	cfg     Config
	http    *http.Client
	budget  *Budget
	breaker *breaker
	logger  *slog.Logger
	sleep   func(ctx context.Context, d time.Duration) error

	defaultTimeout time.Duration // for a zero Config.Timeout
	maxWait        time.Duration // cap on a vendor-requested wait, at most MaxRetryAfter
}

// Do sends req, retrying where that is safe, and returns the last response.
// A non-2xx status is not an error: the connector maps it. Do returns *Error
// when no response arrived, or when the integration's circuit breaker is
// open (errors.Is(err, ErrCircuitOpen)).
//
// Retries: a 429 and a 401 are retried for every request, because the
// vendor did not process it (the 401 once, after one token renewal). A
// transport failure or a 5xx is retried only for an Idempotent request.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	probe, err := c.breaker.allow(c.cfg.Vendor, time.Now())
	if err != nil {
		observe(c.cfg.Vendor, req.Op, "circuit_open", 0)
		return nil, &Error{Op: req.Op, NotSent: true, Err: err}
	}

	resp, err := c.do(ctx, req)

	// A call the caller abandoned, or one the rate budget rejected before
	// any attempt was sent, is no evidence of a vendor failure. Counting
	// such rejections would open the breaker when a company only sends more
	// calls than its budget allows. A call that was not sent because the
	// vendor could not be reached still counts.
	var ve *Error
	if errors.As(err, &ve) && ve.NotSent && (ve.BudgetRefused || ctx.Err() != nil) {
		c.breaker.skip(probe)
		return resp, err
	}
	failed := (err != nil && ctx.Err() == nil) || (resp != nil && resp.Status >= 500)
	c.breaker.done(probe, failed, time.Now())
	return resp, err
}

func (c *Client) do(ctx context.Context, req Request) (*Response, error) {
	attempts := c.cfg.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}

	reauthorized := false
	reached := false // an attempt was handed to the transport
	unknown := false // a write attempt was handed over and got no response
	var lastErr error

	// settle returns a final response. After a write attempt that got no
	// response, the vendor may have acted on it. A later attempt's rejection
	// (a 429, or a 404 of a resource the first attempt removed) then does
	// not prove that nothing happened. So the outcome is unknown, and it is
	// returned as a timeout, which the engine settles by reading the
	// endpoint's state.
	settle := func(resp *Response) (*Response, error) {
		if !unknown || resp.Status < 400 {
			return resp, nil
		}
		return nil, c.redact(&Error{Op: req.Op, Timeout: true, Err: fmt.Errorf(
			"an earlier attempt of this %s was sent but got no response, and the retry got status %d: whether the vendor acted is unknown", req.Method, resp.Status)})
	}
	for attempt := 1; attempt <= attempts; attempt++ {
		if err := c.budget.Wait(ctx); err != nil {
			out := &Error{Op: req.Op, Timeout: errors.Is(err, context.DeadlineExceeded), NotSent: !reached, Err: fmt.Errorf("wait for the rate budget: %w", err)}
			var be *BudgetError
			if errors.As(err, &be) {
				out.BudgetRefused, out.RetryAfter = true, be.Wait
			}
			return nil, c.redact(out)
		}

		start := time.Now()
		resp, sent, err := c.once(ctx, req)
		reached = reached || sent != nil
		unknown = unknown || (err != nil && sent != nil && isWriteMethod(req.Method))
		observe(c.cfg.Vendor, req.Op, outcomeOf(resp, err), time.Since(start))

		// Transport failure: retry only when the request is idempotent.
		// An Auth that failed for another reason than a transport failure
		// of its token request (the vendor rejected the credentials) is
		// never retried: each failed login counts toward the vendor's
		// lockout, Wazuh's for one.
		if err != nil {
			lastErr = err
			if !req.Idempotent || ctx.Err() != nil || attempt == attempts || isCredentialRejection(err) {
				break
			}
			c.logger.Warn("vendor call failed, retrying", "vendor", c.cfg.Vendor, "op", req.Op, "attempt", attempt, "error", c.redactString(err.Error()))
			if err := c.sleep(ctx, backoff(attempt)); err != nil {
				break
			}
			continue
		}

		if until, ok := rateLimitReset(resp.Header, time.Now()); ok {
			c.budget.Park(c.capTime(until))
		}

		switch {
		case resp.Status == http.StatusUnauthorized && c.cfg.Auth != nil && !reauthorized:
			// One renewal and one retry: the token may have expired or been revoked.
			reauthorized = true
			if ri, ok := c.cfg.Auth.(RequestInvalidator); ok && sent != nil {
				ri.InvalidateFor(sent)
			} else {
				c.cfg.Auth.Invalidate()
			}
			attempt--
			continue

		case resp.Status == http.StatusTooManyRequests && attempt < attempts:
			wait := c.throttleWait(resp, attempt)
			if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
				return settle(resp)
			}
			c.logger.Warn("vendor throttled the call, waiting", "vendor", c.cfg.Vendor, "op", req.Op, "wait", wait)
			if err := c.sleep(ctx, wait); err != nil {
				return settle(resp)
			}
			continue

		case resp.Status >= 500 && req.Idempotent && attempt < attempts:
			c.logger.Warn("vendor returned a server error, retrying", "vendor", c.cfg.Vendor, "op", req.Op, "status", resp.Status, "attempt", attempt)
			if err := c.sleep(ctx, backoff(attempt)); err != nil {
				return settle(resp)
			}
			continue
		}
		return settle(resp)
	}

	// No attempt was written: the vendor cannot have acted on the call.
	var ve *Error
	if !reached && errors.As(lastErr, &ve) {
		ve.NotSent = true
	}
	return nil, c.redact(lastErr)
}

// isWriteMethod reports whether an HTTP method can change state at the
// vendor: every method but GET, HEAD and OPTIONS.
func isWriteMethod(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// throttleWait returns how long to wait after a 429: the Retry-After
// header, else the vendor's rate limit reset, else ThrottleWait doubled per
// attempt. Wazuh's error 6001 (per-minute limit reached, without a
// Retry-After) also parks the budget, so that other calls of the
// integration wait too.
func (c *Client) throttleWait(resp *Response, attempt int) time.Duration {
	now := time.Now()
	if wait, ok := RetryAfter(resp.Header, now); ok {
		wait = c.capWait(wait)
		c.budget.Park(now.Add(wait))
		return wait
	}
	if until, ok := rateLimitReset(resp.Header, now); ok {
		return c.capWait(until.Sub(now))
	}
	wait := c.cfg.ThrottleWait
	if wait <= 0 {
		wait = DefaultThrottleWait
	}
	for i := 1; i < attempt && wait < MaxRetryAfter; i++ {
		wait *= 2
	}
	wait = c.capWait(wait)
	if isWazuhThrottle(resp.Body) {
		c.budget.Park(now.Add(wait))
	}
	return wait
}

// once performs one attempt. It returns the request as sent, so that a 401
// can invalidate the credential it carried.
func (c *Client) once(ctx context.Context, req Request) (*Response, *http.Request, error) {
	timeout := c.cfg.Timeout
	if timeout <= 0 {
		timeout = c.defaultTimeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	target := c.cfg.BaseURL + req.Path
	if len(req.Query) > 0 {
		target += "?" + req.Query.Encode()
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, target, body)
	if err != nil {
		return nil, nil, &Error{Op: req.Op, Err: fmt.Errorf("build request: %w", err)}
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	if c.cfg.Auth != nil {
		if err := c.cfg.Auth.Authorize(ctx, hreq); err != nil {
			return nil, nil, &Error{Op: req.Op, Timeout: errors.Is(err, context.DeadlineExceeded), Err: &authorizeError{err: err}}
		}
	}

	hresp, err := c.http.Do(hreq)
	if err != nil {
		if isDialError(err) && isWriteMethod(req.Method) {
			// Go's transport sends a write again only when it wrote none of
			// it (net/http.Transport: only GET, HEAD, OPTIONS, TRACE and
			// requests with an Idempotency-Key header are retried after a
			// network error, and no vendor client sets that header). So a
			// write that ends with a failed dial was never written.
			return nil, nil, &Error{Op: req.Op, Timeout: isTimeout(err), Err: err}
		}
		return nil, hreq, &Error{Op: req.Op, Timeout: isTimeout(err), Err: err}
	}
	defer hresp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(hresp.Body, MaxResponseBytes))
	if err != nil {
		return nil, hreq, &Error{Op: req.Op, Timeout: isTimeout(err), Err: fmt.Errorf("read response: %w", err)}
	}
	return &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: data}, hreq, nil
}

// authorizeError is an Auth.Authorize failure. Its text is the Auth's own
// message, which already names the vendor and the login step.
type authorizeError struct{ err error }

func (e *authorizeError) Error() string { return e.err.Error() }
func (e *authorizeError) Unwrap() error { return e.err }

// isCredentialRejection reports whether err is an Authorize failure other
// than a transport failure of the token request (a *Error in its chain) or
// a timeout.
func isCredentialRejection(err error) bool {
	var ae *authorizeError
	if !errors.As(err, &ae) {
		return false
	}
	var transport *Error
	return !errors.As(ae.err, &transport) && !errors.Is(ae.err, context.DeadlineExceeded)
}

// capWait caps a vendor-requested wait at the pool's MaxRetryAfter.
func (c *Client) capWait(d time.Duration) time.Duration {
	if c.maxWait > 0 && d > c.maxWait {
		return c.maxWait
	}
	return min(d, MaxRetryAfter)
}

// capTime caps a vendor-given end of wait the same way.
func (c *Client) capTime(t time.Time) time.Time {
	now := time.Now()
	return now.Add(c.capWait(t.Sub(now)))
}

// isDialError reports whether err is the failure to open a connection to
// the vendor: refused, unreachable, a DNS failure or a connect timeout.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// backoff returns the wait before retry number attempt (1-based): exponential
// from 200 ms, capped at 5 s, with full jitter.
func backoff(attempt int) time.Duration {
	ceiling := 200 * time.Millisecond << (attempt - 1)
	if ceiling > 5*time.Second || ceiling <= 0 {
		ceiling = 5 * time.Second
	}
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

func (c *Client) redact(err error) error {
	if err == nil {
		return nil
	}
	// An error without a secret keeps its chain, so that a connector can
	// still map, for example, its own credential rejection.
	if c.redactString(err.Error()) == err.Error() {
		return err
	}
	var ve *Error
	if errors.As(err, &ve) {
		return &Error{Op: ve.Op, Timeout: ve.Timeout, NotSent: ve.NotSent, BudgetRefused: ve.BudgetRefused, RetryAfter: ve.RetryAfter,
			Err: errors.New(c.redactString(ve.Err.Error()))}
	}
	return errors.New(c.redactString(err.Error()))
}

func (c *Client) redactString(s string) string {
	for _, secret := range c.cfg.Secrets {
		// A secret equal to the vendor's name (a Wazuh password "wazuh")
		// is left alone: the name is in nearly every message, so replacing
		// it would reveal the secret instead of hiding it.
		if secret == "" || strings.EqualFold(secret, c.cfg.Vendor) {
			continue
		}
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
		s = strings.ReplaceAll(s, url.QueryEscape(secret), "[REDACTED]")
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
