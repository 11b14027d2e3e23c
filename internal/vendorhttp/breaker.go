package vendorhttp

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrCircuitOpen is the error, wrapped in *Error, of a call refused
// because the integration's circuit breaker is open.
var ErrCircuitOpen = errors.New("circuit breaker open")

const (
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

// breaker is the circuit breaker of one company's integration. After
// threshold calls in a row fail (no response, or a 5xx), it opens, and calls
// fail at once for cooldown. Then it lets one call through as a probe. The
// probe's success closes it, and its failure opens it for another cooldown.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu        sync.Mutex // guards the fields below
	failures  int
	openUntil time.Time
	probing   bool
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	if threshold <= 0 {
		threshold = DefaultBreakerThreshold
	}
	if cooldown <= 0 {
		cooldown = DefaultBreakerCooldown
	}
	return &breaker{threshold: threshold, cooldown: cooldown}
}

// allow reports whether a call may go out now. probe is true for the one
// call let through after a cool-down.
func (b *breaker) allow(vendor string, now time.Time) (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	if b.failures < b.threshold {
		return false, nil
	}
	if now.Before(b.openUntil) || b.probing {
		return false, fmt.Errorf("%w: %s failed %d times in a row for this integration; calls fail fast until %s, then one probe is sent",
			ErrCircuitOpen, vendor, b.failures, b.openUntil.UTC().Format(time.RFC3339))
	}
	b.probing = true
	return true, nil
}

// skip ends a call that allow let through but that never reached the
// vendor. It changes no count, so it neither opens nor closes the breaker.
// A probe that was not sent lets the next call probe.
func (b *breaker) skip(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// done records the result of a call that allow let through.
func (b *breaker) done(probe, failed bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()

	if probe {
		b.probing = false
	}
	if !failed {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.openUntil = now.Add(b.cooldown)
	}
}
