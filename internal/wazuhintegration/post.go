package wazuhintegration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Retry bounds of one API call: three attempts of at most ten seconds each,
// and at most thirty seconds of waiting between them, so a run ends within
// about a minute and a half.
const (
	maxAttempts     = 3
	attemptTimeout  = 10 * time.Second
	maxRetryWait    = 30 * time.Second
	maxResponseBody = 1 << 20
)

// Poster sends JSON requests to the SmartPT API. The integration and
// "smartpt-wazuh ar" share it.
type Poster struct {
	Client *http.Client
	Sleep  func(ctx context.Context, d time.Duration) error // waits between attempts
}

// NewPoster returns a Poster whose attempts time out after ten seconds.
func NewPoster() *Poster {
	return &Poster{Client: &http.Client{Timeout: attemptTimeout}, Sleep: sleepCtx}
}

// APIResult is the final response of the API.
type APIResult struct {
	Status int
	Body   string
}

// Post sends body to target with the company key and an Idempotency-Key.
// It retries only when the request cannot have been processed or the API
// requests a retry: a connection error, a 5xx, or a 429 with Retry-After. The
// gateway de-duplicates a request with the same Idempotency-Key, so a retry
// never becomes a second action.
func (p *Poster) Post(ctx context.Context, target, companyKey, idempotencyKey string, body []byte) (APIResult, error) {
	var lastErr error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		res, retryAfter, err := p.once(ctx, target, companyKey, idempotencyKey, body)
		switch {
		case err != nil:
			lastErr = err
			retryAfter = time.Duration(attempt) * time.Second
		case res.Status == http.StatusTooManyRequests && retryAfter > 0:
			lastErr = fmt.Errorf("the API responded 429: %s", res.Body)
		case res.Status >= 500:
			lastErr = fmt.Errorf("the API responded %d: %s", res.Status, res.Body)
			retryAfter = time.Duration(attempt) * time.Second
		default:
			return res, nil
		}

		if attempt == maxAttempts || ctx.Err() != nil {
			if err == nil {
				return res, nil
			}
			break
		}
		if retryAfter > maxRetryWait {
			retryAfter = maxRetryWait
		}
		if err := p.Sleep(ctx, retryAfter); err != nil {
			break
		}
	}
	return APIResult{}, fmt.Errorf("POST %s failed after %d attempts: %w", target, maxAttempts, lastErr)
}

func (p *Poster) once(ctx context.Context, target, companyKey, idempotencyKey string, body []byte) (APIResult, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return APIResult{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-sha256", companyKey)
	req.Header.Set("Idempotency-Key", idempotencyKey)
	req.Header.Set("User-Agent", "smartpt-wazuh")

	resp, err := p.Client.Do(req)
	if err != nil {
		// net/http errors name the method and URL but no header, so the
		// company key stays out of them.
		return APIResult{}, 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))

	var wait time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs >= 0 {
		wait = time.Duration(secs) * time.Second
		if wait == 0 {
			wait = 100 * time.Millisecond
		}
	} else if when, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
		wait = time.Until(when)
	}
	return APIResult{Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}, wait, nil
}

// IdempotencyKey derives a stable key from the parts, so that every retry
// and every repeated run for the same alert and action sends the same key.
func IdempotencyKey(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
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

// CheckBaseURL requires an absolute HTTPS URL, or HTTP on loopback, without
// credentials, query or fragment: the requests carry the company key.
// name is the setting named in the error.
func CheckBaseURL(raw, name string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s %q is not an absolute URL such as https://smartpt.example.com", name, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q must not carry credentials, a query or a fragment", name, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%s %q uses plain HTTP: use https", name, raw)
	default:
		return fmt.Errorf("%s %q has scheme %q: use https", name, raw, u.Scheme)
	}
}
