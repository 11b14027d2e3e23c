package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketIndexRoundTrip(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1_000_000, 123_456_789, uint64(MaxRecordable)}
	for _, v := range values {
		i := bucketIndex(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketIndex(%d) = %d, want 0..%d", v, i, bucketCount-1)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d maps to bucket %d = [%d, %d], which does not contain it", v, i, lo, hi)
		}
		if lo > 0 && float64(hi-lo)/float64(lo) > 1.0/128 {
			t.Errorf("bucket %d = [%d, %d] is wider than 1/128 of its start", i, lo, hi)
		}
	}
}

func TestBucketRangesContiguous(t *testing.T) {
	_, prevHi := bucketRange(0)
	for i := 1; i < bucketCount; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d (end of bucket %d plus one)", i, lo, prevHi+1, i-1)
		}
		if bucketIndex(lo) != i || bucketIndex(hi) != i {
			t.Fatalf("bucket %d = [%d, %d] does not map back to itself: %d, %d", i, lo, hi, bucketIndex(lo), bucketIndex(hi))
		}
		prevHi = hi
	}
	if prevHi != uint64(MaxRecordable) {
		t.Errorf("last bucket ends at %d, want MaxRecordable %d", prevHi, uint64(MaxRecordable))
	}
}

// exactQuantile is the nearest-rank quantile of sorted samples.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestQuantileMatchesSortedSamples(t *testing.T) {
	cases := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 0-10ms", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) }},
		{"exponential mean 300us", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * 300e3) }},
		{"bimodal with 1% at 2s", func(r *rand.Rand) time.Duration {
			if r.IntN(100) == 0 {
				return 2*time.Second + time.Duration(r.Int64N(int64(time.Millisecond)))
			}
			return 200*time.Microsecond + time.Duration(r.Int64N(int64(50*time.Microsecond)))
		}},
		{"sub-256ns exact", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(256)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			samples := make([]time.Duration, 20_000)
			for i := range samples {
				samples[i] = tc.gen(r)
				h.Record(samples[i])
			}
			slices.Sort(samples)

			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				got := h.Quantile(q)
				want := exactQuantile(samples, q)
				if got < want {
					t.Errorf("Quantile(%v) = %v, below the exact %v", q, got, want)
				}
				if float64(got-want) > float64(want)/128+1 {
					t.Errorf("Quantile(%v) = %v, more than 1/128 above the exact %v", q, got, want)
				}
			}
			if h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
				t.Errorf("min, max = %v, %v; want %v, %v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
			}
		})
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram: p99 %v, mean %v, count %d; want zeros", h.Quantile(0.99), h.Mean(), h.Count())
	}
}

func TestHistogramClampsOutliers(t *testing.T) {
	var h Histogram
	h.Record(-time.Second)
	h.Record(MaxRecordable + time.Hour)
	if h.Min() != 0 {
		t.Errorf("min = %v, want 0 for a negative sample", h.Min())
	}
	if h.Max() != MaxRecordable {
		t.Errorf("max = %v, want MaxRecordable %v", h.Max(), MaxRecordable)
	}
	if h.Saturated() != 1 {
		t.Errorf("saturated = %d, want 1", h.Saturated())
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, both Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		both.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{})

	if merged.Count() != both.Count() {
		t.Fatalf("merged count = %d, want %d", merged.Count(), both.Count())
	}
	for _, q := range []float64{0.1, 0.5, 0.99, 1} {
		if merged.Quantile(q) != both.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, merged.Quantile(q), both.Quantile(q))
		}
	}
	if merged.Min() != both.Min() || merged.Max() != both.Max() || merged.Mean() != both.Mean() {
		t.Errorf("merged min/max/mean = %v/%v/%v, want %v/%v/%v", merged.Min(), merged.Max(), merged.Mean(), both.Min(), both.Max(), both.Mean())
	}
}
