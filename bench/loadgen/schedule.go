package loadgen

import (
	"errors"
	"fmt"
	"time"
)

// Schedule is an open-loop send plan: request i is due at Start + i/Rate
// seconds, whatever happened to the requests before it. Latency is measured
// from that due time, so a slow response that delays later sends shows up in
// their latency instead of being hidden (coordinated omission).
type Schedule struct {
	Start time.Time
	Rate  float64 // requests per second, > 0
}

// Due returns the intended send time of request i (from 0). It multiplies
// instead of adding an interval per request, so rounding never accumulates.
func (s Schedule) Due(i int64) time.Time {
	offset := time.Duration(float64(i) * float64(time.Second) / s.Rate)
	return s.Start.Add(offset)
}

// CountWithin returns how many requests fall due before Start + d.
func (s Schedule) CountWithin(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	n := int64(d.Seconds() * s.Rate)

	// Correct the float product by one either way, so that Due(n-1) is
	// before the end and Due(n) is not.
	end := s.Start.Add(d)
	for n > 0 && !s.Due(n-1).Before(end) {
		n--
	}
	for s.Due(n).Before(end) {
		n++
	}
	return n
}

// Limits bounds one run. Every run stops at whichever of Requests and
// Duration comes first.
type Limits struct {
	Requests int64         // requests measured, after warm-up
	Duration time.Duration // measured time, after warm-up
	Warmup   time.Duration // time whose requests are sent but not recorded
}

// Hard caps, so that no mistyped flag starts a run that loads the machine
// for hours.
const (
	MaxRequests = 2_000_000
	MaxDuration = time.Hour
	MaxWarmup   = time.Minute
	MaxRate     = 100_000 // requests per second
	MaxWorkers  = 5_000
)

// Validate checks that l is inside the hard caps.
func (l Limits) Validate() error {
	var errs []error
	if l.Requests <= 0 || l.Requests > MaxRequests {
		errs = append(errs, fmt.Errorf("request count %d is outside 1..%d", l.Requests, MaxRequests))
	}
	if l.Duration <= 0 || l.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s is outside (0, %s]", l.Duration, MaxDuration))
	}
	if l.Warmup < 0 || l.Warmup > MaxWarmup {
		errs = append(errs, fmt.Errorf("warm-up %s is outside [0, %s]", l.Warmup, MaxWarmup))
	}
	return errors.Join(errs...)
}
