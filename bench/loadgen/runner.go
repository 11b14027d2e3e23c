package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config describes one load run.
type Config struct {
	Client   *http.Client
	Protocol Protocol
	Mix      *Mix
	Limits   Limits

	// Rate > 0 runs open loop at that many requests per second, measuring
	// latency from each request's due time. Rate == 0 runs closed loop:
	// Workers goroutines send back to back, for maximum throughput.
	Rate float64

	// Workers is the number of concurrent requests: the closed-loop worker
	// count, or the open-loop bound on requests in flight. When every
	// open-loop worker is busy, the next send waits, and its latency still
	// counts from its due time.
	Workers int

	// ServerPID, when not zero, is the process whose peak RSS and CPU time
	// the report includes.
	ServerPID int
}

// job is one request handed to a worker.
type job struct {
	op     Op
	due    time.Time
	record bool
}

// statsShards is how many workerStats a run keeps. Workers share them by
// index, so that memory stays fixed (about 40 KiB per histogram) however
// many workers run, and lock contention stays low.
const statsShards = 16

// workerStats is the record of a group of workers.
type workerStats struct {
	mu        sync.Mutex
	all       Histogram
	perAction map[string]*Histogram
	sendLag   Histogram // actual send time minus due time (open loop)
	service   Histogram // response end minus actual send time
	statuses  map[string]int64
	warmup    map[string]int64 // statuses of the warm-up requests, not measured
	examples  []string         // first transport errors, for the report
	lastEnd   time.Time
}

func newWorkerStats() *workerStats {
	return &workerStats{perAction: map[string]*Histogram{}, statuses: map[string]int64{}, warmup: map[string]int64{}}
}

// Run sends the load that cfg describes and returns the report. It stops
// early, with the partial report, when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rate < 0 || cfg.Rate > MaxRate {
		return nil, fmt.Errorf("rate %.0f/s is outside 0..%d (0 means closed loop)", cfg.Rate, MaxRate)
	}
	if cfg.Workers < 1 || cfg.Workers > MaxWorkers {
		return nil, fmt.Errorf("worker count %d is outside 1..%d", cfg.Workers, MaxWorkers)
	}

	// A hard stop beyond the planned time, so that a hung server cannot keep
	// the run alive.
	limit := cfg.Limits.Warmup + cfg.Limits.Duration + cfg.Client.Timeout + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	if err := cfg.Protocol.Prepare(ctx, cfg.Client); err != nil {
		return nil, err
	}

	r := &runner{cfg: cfg}
	if cfg.Rate > 0 {
		r.runOpenLoop(ctx)
	} else {
		r.runClosedLoop(ctx)
	}
	return r.report(), nil
}

type runner struct {
	cfg   Config
	stats []*workerStats

	snapOnce     sync.Once
	measureStart time.Time
	serverBefore *ProcSample
	selfBefore   *ProcSample
}

// markMeasureStart notes where the measured window begins and reads the
// processes' CPU time there.
func (r *runner) markMeasureStart(at time.Time) {
	r.snapOnce.Do(func() {
		r.measureStart = at
		if r.cfg.ServerPID != 0 {
			if s, err := ReadProc(r.cfg.ServerPID); err == nil {
				r.serverBefore = &s
			}
		}
		if s, err := ReadProc(os.Getpid()); err == nil {
			r.selfBefore = &s
		}
	})
}

func (r *runner) runOpenLoop(ctx context.Context) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	r.newStats()
	for i := range r.cfg.Workers {
		st := r.stats[i%len(r.stats)]
		wg.Go(func() {
			for j := range jobs {
				r.send(ctx, j, st)
			}
		})
	}

	sched := Schedule{Start: time.Now().Add(10 * time.Millisecond), Rate: r.cfg.Rate}
	warm := sched.CountWithin(r.cfg.Limits.Warmup)
	measured := min(r.cfg.Limits.Requests, sched.CountWithin(r.cfg.Limits.Warmup+r.cfg.Limits.Duration)-warm)

dispatch:
	for i := range warm + measured {
		due := sched.Due(i)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		if i == warm {
			r.markMeasureStart(due)
		}

		select {
		case jobs <- job{op: r.cfg.Mix.Next(), due: due, record: i >= warm}:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	r.markMeasureStart(time.Now()) // a run that ended before its first measured request
}

func (r *runner) runClosedLoop(ctx context.Context) {
	start := time.Now()
	measureFrom := start.Add(r.cfg.Limits.Warmup)
	deadline := measureFrom.Add(r.cfg.Limits.Duration)
	if r.cfg.Limits.Warmup == 0 {
		r.markMeasureStart(start)
	} else {
		timer := time.AfterFunc(r.cfg.Limits.Warmup, func() { r.markMeasureStart(measureFrom) })
		defer timer.Stop()
	}

	var claimed atomic.Int64
	var wg sync.WaitGroup
	r.newStats()
	for i := range r.cfg.Workers {
		st := r.stats[i%len(r.stats)]
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(deadline) {
					return
				}
				record := !now.Before(measureFrom)
				if record && claimed.Add(1) > r.cfg.Limits.Requests {
					return
				}
				r.send(ctx, job{op: r.cfg.Mix.Next(), due: now, record: record}, st)
			}
		})
	}
	wg.Wait()
	r.markMeasureStart(measureFrom) // a run shorter than its warm-up
}

func (r *runner) newStats() {
	r.stats = make([]*workerStats, min(r.cfg.Workers, statsShards))
	for i := range r.stats {
		r.stats[i] = newWorkerStats()
	}
}

// send performs one request and records it when j.record is set.
func (r *runner) send(ctx context.Context, j job, st *workerStats) {
	req, err := r.cfg.Protocol.NewRequest(ctx, j.op)
	sent := time.Now()
	status := 0
	if err == nil {
		var resp *http.Response
		resp, err = r.cfg.Client.Do(req)
		if err == nil {
			// Read the whole body, so that the connection is reused and
			// the latency covers the full response.
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
	}
	end := time.Now()

	if status != 0 {
		r.cfg.Protocol.Observe(ctx, r.cfg.Client, req, status)
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if !j.record {
		// Warm-up results are not measured, but a warm-up that failed
		// explains an empty report.
		st.warmup[statusKey(status, err)]++
		return
	}

	latency := end.Sub(j.due)
	st.all.Record(latency)
	h := st.perAction[j.op.Action]
	if h == nil {
		h = &Histogram{}
		st.perAction[j.op.Action] = h
	}
	h.Record(latency)
	st.sendLag.Record(sent.Sub(j.due))
	st.service.Record(end.Sub(sent))
	if end.After(st.lastEnd) {
		st.lastEnd = end
	}

	st.statuses[statusKey(status, err)]++
	if err != nil && len(st.examples) < 3 {
		st.examples = append(st.examples, err.Error())
	}
}

// statusKey names a result in the status counts: the HTTP status code, or
// "error:" and the class of a transport error.
func statusKey(status int, err error) string {
	if err != nil {
		return "error:" + classify(err)
	}
	return strconv.Itoa(status)
}

// classify names a transport error for the report's error counts.
func classify(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "reset"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_socket"
	default:
		return "other"
	}
}
