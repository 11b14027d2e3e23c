// Package loadgen holds the statistics, scheduling, request mixes and process
// readings that the benchmark programs under bench/ share.
package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records latencies in nanoseconds with a relative error of at
// most 1/128 (under 0.8%), in a fixed array of counters, so that memory does
// not grow with the number of samples.
//
// Buckets follow the HDR histogram layout: values below 256 ns are exact,
// and every power of two above that is split into 128 equal sub-buckets.
// Values above MaxRecordable are counted in the last bucket and flagged by
// Saturated. A Histogram is not safe for concurrent use; give each goroutine
// its own and Merge them.
type Histogram struct {
	counts    [bucketCount]uint64
	total     uint64
	min, max  uint64
	sum       float64 // for Mean; float64 so that a long run cannot overflow
	saturated uint64
}

const (
	subBucketBits  = 7
	subBucketCount = 1 << subBucketBits // 128 sub-buckets per power of two
	maxShift       = 38                 // covers values up to 2^46 ns (about 19.5 hours)
	bucketCount    = 2*subBucketCount + maxShift*subBucketCount
)

// MaxRecordable is the largest latency a Histogram stores exactly to its
// precision; longer ones are clamped to it.
const MaxRecordable = time.Duration(1<<(maxShift+subBucketBits+1) - 1)

// bucketIndex maps a value to its bucket. For shift = 0 the index is the
// value itself (0 to 255); above that the top 8 bits of the value select one
// of 128 sub-buckets in the power-of-two range the shift names.
func bucketIndex(v uint64) int {
	shift := bits.Len64(v) - (subBucketBits + 1)
	if shift <= 0 {
		return int(v)
	}
	mantissa := v >> uint(shift) // in [128, 255]
	return 2*subBucketCount + (shift-1)*subBucketCount + int(mantissa-subBucketCount)
}

// bucketRange returns the smallest and largest value that map to index.
func bucketRange(index int) (lo, hi uint64) {
	if index < 2*subBucketCount {
		return uint64(index), uint64(index)
	}
	rest := index - 2*subBucketCount
	shift := uint(rest/subBucketCount + 1)
	mantissa := uint64(rest%subBucketCount + subBucketCount)
	lo = mantissa << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one latency. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if d > MaxRecordable {
		d = MaxRecordable
		h.saturated++
	}
	v := uint64(d)

	h.counts[bucketIndex(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds every sample of other to h.
func (h *Histogram) Merge(other *Histogram) {
	if other.total == 0 {
		return
	}
	for i, c := range other.counts {
		h.counts[i] += c
	}
	if h.total == 0 || other.min < h.min {
		h.min = other.min
	}
	if other.max > h.max {
		h.max = other.max
	}
	h.total += other.total
	h.sum += other.sum
	h.saturated += other.saturated
}

// Count returns the number of recorded samples.
func (h *Histogram) Count() uint64 { return h.total }

// Saturated returns how many samples exceeded MaxRecordable.
func (h *Histogram) Saturated() uint64 { return h.saturated }

// Min returns the smallest sample, or 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest sample, or 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the arithmetic mean, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the latency at or below which a fraction q (0 to 1) of
// the samples fall, as the upper edge of the bucket that holds the sample of
// rank ceil(q*count), clamped to the observed minimum and maximum. So the
// result never understates a latency, and overstates it by less than 1/128.
// It returns 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))

	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}

	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		_, hi := bucketRange(i)
		hi = max(hi, h.min)
		hi = min(hi, h.max)
		return time.Duration(hi)
	}
	return time.Duration(h.max)
}
