// Package faultproxy is a reverse proxy for loopback tests that sits between
// a vendor client and a vendor simulator and injects the faults that a real
// vendor API and the network in between produce: 429 with each Retry-After
// form, 5xx responses, connection resets, responses that never come, and
// expired tokens. A seeded random source picks which requests fail, at a set rate.
//
// The proxy records every request with whether it reached the simulator.
// A fault injected before forwarding leaves the simulator untouched, so it
// cannot cause a vendor side effect. A fault injected after forwarding (a
// reset or a stall once the simulator has responded) is the hard case: the
// vendor acted but the client never learns it, and a client that sends the
// write again doubles the side effect. Tests count side effects from
// Proxy.Exchanges.
package faultproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fault is one kind of injected failure.
type Fault string

const (
	None Fault = "" // forwarded, with the simulator's response passed back

	// Faults injected before forwarding: the simulator never receives the request.
	Throttle     Fault = "throttle"      // 429 with a Retry-After header from Config.RetryAfter
	ServerError  Fault = "server_error"  // 500, 502 or 503 in the vendor's error envelope
	ResetBefore  Fault = "reset_before"  // the connection is reset after the request was read
	StallBefore  Fault = "stall_before"  // no response until the client gives up or Config.StallMax passes
	ExpiredToken Fault = "expired_token" // 401 in the vendor's envelope; only for a request carrying a bearer token

	// Faults injected after forwarding: the simulator acted on the request.
	ResetAfter Fault = "reset_after" // the simulator responded, the client gets a reset
	StallAfter Fault = "stall_after" // the simulator responded, the client gets no response
)

// AllFaults lists every fault, in a stable order.
var AllFaults = []Fault{Throttle, ServerError, ResetBefore, StallBefore, ExpiredToken, ResetAfter, StallAfter}

// BeforeForwarding reports whether f keeps the request from the simulator.
func (f Fault) BeforeForwarding() bool {
	switch f {
	case Throttle, ServerError, ResetBefore, StallBefore, ExpiredToken:
		return true
	}
	return false
}

// RetryAfterForm names one way of writing a Retry-After header value.
type RetryAfterForm string

const (
	RetryAfterSeconds    RetryAfterForm = "seconds"    // "1"
	RetryAfterFractional RetryAfterForm = "fractional" // "0.25"
	RetryAfterDate       RetryAfterForm = "http_date"  // an IMF-fixdate one second ahead
	RetryAfterPastDate   RetryAfterForm = "past_date"  // an IMF-fixdate an hour ago
	RetryAfterGarbage    RetryAfterForm = "garbage"    // "soon, maybe"
	RetryAfterNegative   RetryAfterForm = "negative"   // "-5"
	RetryAfterAbsurd     RetryAfterForm = "absurd"     // "999999999", about 31 years
	RetryAfterMissing    RetryAfterForm = "missing"    // no header at all
)

// AllRetryAfterForms lists every Retry-After form.
var AllRetryAfterForms = []RetryAfterForm{
	RetryAfterSeconds, RetryAfterFractional, RetryAfterDate, RetryAfterPastDate,
	RetryAfterGarbage, RetryAfterNegative, RetryAfterAbsurd, RetryAfterMissing,
}

// Value returns the header value of form at now, and false for
// RetryAfterMissing.
func (form RetryAfterForm) Value(now time.Time) (string, bool) {
	switch form {
	case RetryAfterSeconds:
		return "1", true
	case RetryAfterFractional:
		return "0.25", true
	case RetryAfterDate:
		return now.Add(time.Second).UTC().Format(http.TimeFormat), true
	case RetryAfterPastDate:
		return now.Add(-time.Hour).UTC().Format(http.TimeFormat), true
	case RetryAfterGarbage:
		return "soon, maybe", true
	case RetryAfterNegative:
		return "-5", true
	case RetryAfterAbsurd:
		return "999999999", true
	}
	return "", false
}

// Envelope writes a vendor's error response: status with the vendor's error
// body, for example {"error":{"code":"Unauthorized",...}} for Defender.
type Envelope func(w http.ResponseWriter, status int)

// Config configures a Proxy.
type Config struct {
	// Upstream is the simulator's base URL: scheme and host.
	Upstream string

	// Rate is the share of requests that get a fault, from 0 to 1.
	Rate float64

	// Seed seeds the random source that picks faulty requests and faults.
	Seed uint64

	// Faults are the faults to draw from, each equally likely. Empty means
	// AllFaults.
	Faults []Fault

	// RetryAfter are the forms a Throttle fault draws from, each equally
	// likely. Empty means AllRetryAfterForms.
	RetryAfter []RetryAfterForm

	// Envelope writes the vendor's error body. Nil writes
	// {"error":"<status text>"}.
	Envelope Envelope

	// StallMax bounds a stall: the proxy stops waiting for the client to
	// give up after this long and drops the connection. Zero means 30 s.
	StallMax time.Duration

	// Exempt, when set, keeps the requests it returns true for free of
	// faults (for example a test's own inspection calls).
	Exempt func(r *http.Request) bool
}

// Exchange is one request that reached the proxy.
type Exchange struct {
	Seq        int64
	Time       time.Time
	Method     string
	Path       string
	RawQuery   string
	Body       []byte
	Bearer     bool   // the request carried "Authorization: Bearer ..."
	Fault      Fault  // None when the request was proxied untouched
	Forwarded  bool   // the simulator received the request and responded
	Status     int    // the simulator's status when forwarded, else the injected status (0 for a reset or stall)
	Delivered  bool   // the client received the simulator's response
	RetryAfter string // the Retry-After value sent with a Throttle fault
}

// Proxy is an http.Handler that forwards to Config.Upstream and injects
// faults. It is safe for concurrent use.
type Proxy struct {
	cfg      Config
	upstream *url.URL
	client   *http.Client

	mu        sync.Mutex // guards rng, seq and exchanges
	rng       *rand.Rand
	seq       int64
	exchanges []Exchange
	rate      float64 // guarded by mu; may be changed with SetRate
}

// maxBodyBytes bounds the request body the proxy buffers and records.
const maxBodyBytes = 4 << 20

// New returns a proxy for cfg.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream %q is not an absolute URL", cfg.Upstream)
	}
	if cfg.Rate < 0 || cfg.Rate > 1 {
		return nil, fmt.Errorf("faultproxy: rate %v is outside 0 to 1", cfg.Rate)
	}
	if len(cfg.Faults) == 0 {
		cfg.Faults = AllFaults
	}
	if len(cfg.RetryAfter) == 0 {
		cfg.RetryAfter = AllRetryAfterForms
	}
	if cfg.StallMax <= 0 {
		cfg.StallMax = 30 * time.Second
	}
	if cfg.Envelope == nil {
		cfg.Envelope = plainEnvelope
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &Proxy{
		cfg:      cfg,
		upstream: u,
		client:   &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		rate:     cfg.Rate,
	}, nil
}

func plainEnvelope(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q}\n", http.StatusText(status))
}

// SetRate changes the fault rate, for example to 0 once a test stops
// injecting and lets the work finish.
func (p *Proxy) SetRate(rate float64) {
	p.mu.Lock()
	p.rate = rate
	p.mu.Unlock()
}

// Exchanges returns a copy of the record of every request so far, in
// arrival order.
func (p *Proxy) Exchanges() []Exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Exchange(nil), p.exchanges...)
}

// FaultCounts returns how many requests got each fault.
func (p *Proxy) FaultCounts() map[Fault]int {
	out := map[Fault]int{}
	for _, ex := range p.Exchanges() {
		out[ex.Fault]++
	}
	return out
}

// draw picks the fault for r and records the exchange's start. A fault that
// does not apply to r (an expired token for a request without one) leaves
// the request untouched.
func (p *Proxy) draw(r *http.Request, body []byte) (int64, Fault, RetryAfterForm, int) {
	bearer := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
	exempt := p.cfg.Exempt != nil && p.cfg.Exempt(r)

	p.mu.Lock()
	defer p.mu.Unlock()

	fault, form, status := None, RetryAfterForm(""), 0
	if !exempt && p.rng.Float64() < p.rate {
		fault = p.cfg.Faults[p.rng.IntN(len(p.cfg.Faults))]
		switch fault {
		case Throttle:
			form, status = p.cfg.RetryAfter[p.rng.IntN(len(p.cfg.RetryAfter))], http.StatusTooManyRequests
		case ServerError:
			status = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[p.rng.IntN(3)]
		case ExpiredToken:
			if !bearer {
				fault = None
			}
			status = http.StatusUnauthorized
		}
	}
	p.seq++
	p.exchanges = append(p.exchanges, Exchange{
		Seq: p.seq, Time: time.Now(), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Body: body, Bearer: bearer, Fault: fault,
	})
	return p.seq, fault, form, status
}

// update changes the recorded exchange seq.
func (p *Proxy) update(seq int64, change func(*Exchange)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change(&p.exchanges[seq-1])
}

// ServeHTTP forwards r or injects a fault.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		http.Error(w, "faultproxy: cannot read the request body", http.StatusBadRequest)
		return
	}
	seq, fault, form, status := p.draw(r, body)

	switch fault {
	case Throttle:
		value, ok := form.Value(time.Now())
		if ok {
			w.Header().Set("Retry-After", value)
		}
		p.update(seq, func(ex *Exchange) { ex.Status, ex.RetryAfter = status, value })
		p.cfg.Envelope(w, status)
		return
	case ServerError, ExpiredToken:
		p.update(seq, func(ex *Exchange) { ex.Status = status })
		p.cfg.Envelope(w, status)
		return
	case ResetBefore:
		reset(w)
		return
	case StallBefore:
		p.stall(r)
		reset(w)
		return
	}

	resp, err := p.forward(r, body)
	if err != nil {
		// The simulator could not be reached: the client sees a 502, and
		// the exchange is recorded as not forwarded.
		p.update(seq, func(ex *Exchange) { ex.Status = http.StatusBadGateway })
		http.Error(w, "faultproxy: upstream unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	p.update(seq, func(ex *Exchange) { ex.Forwarded, ex.Status = true, resp.status })

	switch fault {
	case ResetAfter:
		reset(w)
		return
	case StallAfter:
		p.stall(r)
		reset(w)
		return
	}

	for k, vs := range resp.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.status)
	_, werr := w.Write(resp.body)
	if werr == nil {
		p.update(seq, func(ex *Exchange) { ex.Delivered = true })
	}
}

type upstreamResponse struct {
	status int
	header http.Header
	body   []byte
}

// forward sends r to the simulator and reads its whole response. It runs to
// its end even when the client gives up meanwhile, so that the record says
// exactly whether the simulator acted.
func (p *Proxy) forward(r *http.Request, body []byte) (*upstreamResponse, error) {
	target := *p.upstream
	target.Path = strings.TrimSuffix(p.upstream.Path, "/") + r.URL.Path
	target.RawPath = ""
	if r.URL.RawPath != "" {
		target.RawPath = strings.TrimSuffix(p.upstream.EscapedPath(), "/") + r.URL.RawPath
	}
	target.RawQuery = r.URL.RawQuery

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Minute)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if hopByHop(k) {
			continue
		}
		out.Header[k] = append([]string(nil), vs...)
	}
	out.Host = p.upstream.Host

	resp, err := p.client.Do(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	header := resp.Header.Clone()
	for k := range header {
		if hopByHop(k) {
			header.Del(k)
		}
	}
	header.Del("Content-Length")
	return &upstreamResponse{status: resp.StatusCode, header: header, body: data}, nil
}

func hopByHop(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// stall waits until the client gives up (its connection closes) or
// StallMax passes.
func (p *Proxy) stall(r *http.Request) {
	t := time.NewTimer(p.cfg.StallMax)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-t.C:
	}
}

// reset closes the client's connection with a TCP reset (SO_LINGER 0), so
// that the client sees "connection reset by peer" rather than a clean end.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultproxy: the server's ResponseWriter cannot be hijacked; serve the proxy over HTTP/1.1")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}
