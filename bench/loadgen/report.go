package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Latency summarises a Histogram in microseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// Summarize reads the usual percentiles from h.
func Summarize(h *Histogram) Latency {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Latency{
		Count: h.Count(),
		Min:   us(h.Min()),
		Mean:  us(h.Mean()),
		P50:   us(h.Quantile(0.50)),
		P90:   us(h.Quantile(0.90)),
		P99:   us(h.Quantile(0.99)),
		P999:  us(h.Quantile(0.999)),
		Max:   us(h.Max()),
	}
}

// ProcUsage is the memory and CPU use of one process in the measured window.
type ProcUsage struct {
	PID            int     `json:"pid"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"` // VmHWM: peak since the process started, not only in the window
	RSSMiB         float64 `json:"rss_mib"`      // VmRSS at the end of the run
	Threads        int     `json:"threads"`
	CPUSeconds     float64 `json:"cpu_s"` // user + system CPU time in the window
	CPUPerRequest  float64 `json:"cpu_per_request_us"`
	CPUUtilization float64 `json:"cpu_cores"` // CPU seconds per second of the window
}

// Report is the result of one run. Its JSON form is one line per run in the
// benchmark records.
type Report struct {
	Label      string  `json:"label,omitempty"`
	Protocol   string  `json:"protocol"`
	Target     string  `json:"target"`
	Mode       string  `json:"mode"` // open or closed
	Rate       float64 `json:"rate_per_s,omitempty"`
	Workers    int     `json:"workers"`
	Mix        string  `json:"mix"`
	Started    string  `json:"started"` // UTC, RFC 3339
	Requests   uint64  `json:"requests"`
	Elapsed    float64 `json:"elapsed_s"`
	Throughput float64 `json:"throughput_per_s"`
	Errors     int64   `json:"errors"` // responses other than 2xx, plus transport errors

	Latency   Latency            `json:"latency"`
	PerAction map[string]Latency `json:"per_action"`
	SendLag   Latency            `json:"send_lag"`     // how late the generator sent, open loop only
	Service   Latency            `json:"service_time"` // from the actual send, which hides queueing in the generator
	Statuses  map[string]int64   `json:"statuses"`
	Warmup    map[string]int64   `json:"warmup_statuses,omitempty"`
	Examples  []string           `json:"error_examples,omitempty"`
	Saturated uint64             `json:"saturated,omitempty"`

	Server    *ProcUsage `json:"server,omitempty"`
	Generator *ProcUsage `json:"generator,omitempty"`
}

func (r *runner) report() *Report {
	var all, lag, service Histogram
	per := map[string]*Histogram{}
	statuses := map[string]int64{}
	warmup := map[string]int64{}
	var examples []string
	var lastEnd time.Time
	for _, st := range r.stats {
		all.Merge(&st.all)
		lag.Merge(&st.sendLag)
		service.Merge(&st.service)
		for action, h := range st.perAction {
			if per[action] == nil {
				per[action] = &Histogram{}
			}
			per[action].Merge(h)
		}
		for k, v := range st.statuses {
			statuses[k] += v
		}
		for k, v := range st.warmup {
			warmup[k] += v
		}
		examples = append(examples, st.examples...)
		if st.lastEnd.After(lastEnd) {
			lastEnd = st.lastEnd
		}
	}

	rep := &Report{
		Protocol:  r.cfg.Protocol.Name(),
		Mode:      "closed",
		Workers:   r.cfg.Workers,
		Mix:       r.cfg.Mix.String(),
		Started:   r.measureStart.UTC().Format(time.RFC3339),
		Requests:  all.Count(),
		Latency:   Summarize(&all),
		PerAction: map[string]Latency{},
		Statuses:  statuses,
		Warmup:    warmup,
		Saturated: all.Saturated(),
	}
	if len(examples) > 5 {
		examples = examples[:5]
	}
	rep.Examples = examples
	if r.cfg.Rate > 0 {
		rep.Mode = "open"
		rep.Rate = r.cfg.Rate
		rep.SendLag = Summarize(&lag)
		rep.Service = Summarize(&service)
	}
	for action, h := range per {
		rep.PerAction[action] = Summarize(h)
	}
	for code, n := range statuses {
		if !strings.HasPrefix(code, "2") {
			rep.Errors += n
		}
	}

	window := lastEnd.Sub(r.measureStart)
	if window > 0 && rep.Requests > 0 {
		rep.Elapsed = window.Seconds()
		rep.Throughput = float64(rep.Requests) / window.Seconds()
	}

	rep.Server = usage(r.serverBefore, r.cfg.ServerPID, rep.Requests, window)
	rep.Generator = usage(r.selfBefore, os.Getpid(), rep.Requests, window)
	return rep
}

// usage reads the process again and returns its use since before.
func usage(before *ProcSample, pid int, requests uint64, window time.Duration) *ProcUsage {
	if before == nil || pid == 0 {
		return nil
	}
	after, err := ReadProc(pid)
	if err != nil {
		return nil
	}

	const mib = 1 << 20
	u := &ProcUsage{
		PID:        pid,
		PeakRSSMiB: float64(after.PeakRSS) / mib,
		RSSMiB:     float64(after.RSS) / mib,
		Threads:    after.Threads,
		CPUSeconds: (after.CPU - before.CPU).Seconds(),
	}
	if requests > 0 {
		u.CPUPerRequest = u.CPUSeconds * 1e6 / float64(requests)
	}
	if window > 0 {
		u.CPUUtilization = u.CPUSeconds / window.Seconds()
	}
	return u
}

// WriteJSONLine writes rep as one JSON line, prefixed with "RESULT " so that
// scripts can pick it out of mixed output.
func WriteJSONLine(w io.Writer, rep *Report) error {
	line, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "RESULT %s\n", line)
	return err
}

// WriteTable writes rep for a person to read.
func WriteTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "%s  %s  %s loop", rep.Label, rep.Protocol, rep.Mode)
	if rep.Mode == "open" {
		fmt.Fprintf(w, " at %.0f/s", rep.Rate)
	}
	fmt.Fprintf(w, ", %d workers, mix %s\n", rep.Workers, rep.Mix)
	fmt.Fprintf(w, "  %-14s  %s\n", "target", rep.Target)
	fmt.Fprintf(w, "  %-14s  %d in %.2f s = %.0f/s, %d errors\n", "requests", rep.Requests, rep.Elapsed, rep.Throughput, rep.Errors)

	fmt.Fprintf(w, "  %-14s  %s\n", "statuses", formatCounts(rep.Statuses))
	if len(rep.Warmup) > 0 {
		fmt.Fprintf(w, "  %-14s  %s\n", "warm-up", formatCounts(rep.Warmup))
	}

	fmt.Fprintf(w, "  %-14s  %8s %8s %8s %8s %8s %8s %8s\n", "latency µs", "count", "p50", "p90", "p99", "p99.9", "max", "mean")
	writeLatencyRow(w, "all", rep.Latency)
	for _, action := range sortedKeys(rep.PerAction) {
		writeLatencyRow(w, action, rep.PerAction[action])
	}
	if rep.Mode == "open" {
		writeLatencyRow(w, "service", rep.Service)
		writeLatencyRow(w, "send lag", rep.SendLag)
	}

	for _, p := range []struct {
		name string
		u    *ProcUsage
	}{{"server", rep.Server}, {"generator", rep.Generator}} {
		if p.u == nil {
			continue
		}
		fmt.Fprintf(w, "  %-14s  pid %d: peak RSS %.1f MiB, RSS %.1f MiB, %d threads, CPU %.2f s (%.2f cores), %.1f µs CPU per request\n",
			p.name, p.u.PID, p.u.PeakRSSMiB, p.u.RSSMiB, p.u.Threads, p.u.CPUSeconds, p.u.CPUUtilization, p.u.CPUPerRequest)
	}
	for _, e := range rep.Examples {
		fmt.Fprintf(w, "  %-14s  %s\n", "error", e)
	}
	if rep.Saturated > 0 {
		fmt.Fprintf(w, "  NOTE: %d samples exceeded %s and were clamped\n", rep.Saturated, MaxRecordable)
	}
}

// formatCounts writes counts as "200=9 429=1", sorted by key.
func formatCounts(counts map[string]int64) string {
	var parts []string
	for _, k := range sortedKeys(counts) {
		parts = append(parts, k+"="+strconv.FormatInt(counts[k], 10))
	}
	return strings.Join(parts, " ")
}

func writeLatencyRow(w io.Writer, name string, l Latency) {
	fmt.Fprintf(w, "  %-14s  %8d %8.0f %8.0f %8.0f %8.0f %8.0f %8.0f\n", name, l.Count, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
}
