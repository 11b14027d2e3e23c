// Command summarize reads the "RESULT {json}" lines that bench/load writes,
// groups repeated runs by label, and prints the median of each figure as a
// Markdown table, followed by the gateway's ratios to the floors.
//
// Labels have the form SYSTEM/SCENARIO, for example gateway-sqlite/open500
// or direct/open500. For every scenario that a gateway-* system and the
// "direct" system (the simulator called straight) both ran, it prints the
// throughput ratio and the added latency at p50 and p99; "trivial" is the
// net/http floor.
//
// Usage:
//
//	go run ./bench/summarize results.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/smartpt/smartpt/bench/loadgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "summarize:", err)
		os.Exit(1)
	}
}

func run(paths []string, out io.Writer) error {
	reports := map[string][]*loadgen.Report{}
	if len(paths) == 0 {
		if err := readReports(os.Stdin, reports); err != nil {
			return err
		}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = readReports(f, reports)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if len(reports) == 0 {
		return fmt.Errorf("no RESULT lines found")
	}

	medians := map[string]summary{}
	for label, runs := range reports {
		medians[label] = summarize(runs)
	}
	writeTable(out, medians)
	writeComparisons(out, medians)
	return nil
}

// readReports adds every load report in r to reports, by label. Lines of
// other programs (arstart) are skipped.
func readReports(r io.Reader, reports map[string][]*loadgen.Report) error {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		payload, ok := strings.CutPrefix(scanner.Text(), "RESULT ")
		if !ok {
			continue
		}
		var rep loadgen.Report
		if err := json.Unmarshal([]byte(payload), &rep); err != nil {
			return fmt.Errorf("parse result line: %w", err)
		}
		if rep.Protocol == "" {
			continue
		}
		reports[rep.Label] = append(reports[rep.Label], &rep)
	}
	return scanner.Err()
}

// summary is the median of each figure over the runs of one label.
type summary struct {
	Runs                      int
	Throughput                float64
	P50, P90, P99, P999       float64 // µs
	Errors                    float64
	PeakRSSMiB, CPUPerRequest float64 // server; 0 when not read
}

func summarize(runs []*loadgen.Report) summary {
	pick := func(f func(r *loadgen.Report) float64) float64 {
		values := make([]float64, 0, len(runs))
		for _, r := range runs {
			values = append(values, f(r))
		}
		return median(values)
	}
	s := summary{
		Runs:       len(runs),
		Throughput: pick(func(r *loadgen.Report) float64 { return r.Throughput }),
		P50:        pick(func(r *loadgen.Report) float64 { return r.Latency.P50 }),
		P90:        pick(func(r *loadgen.Report) float64 { return r.Latency.P90 }),
		P99:        pick(func(r *loadgen.Report) float64 { return r.Latency.P99 }),
		P999:       pick(func(r *loadgen.Report) float64 { return r.Latency.P999 }),
		Errors:     pick(func(r *loadgen.Report) float64 { return float64(r.Errors) }),
	}
	s.PeakRSSMiB = pick(func(r *loadgen.Report) float64 {
		if r.Server == nil {
			return 0
		}
		return r.Server.PeakRSSMiB
	})
	s.CPUPerRequest = pick(func(r *loadgen.Report) float64 {
		if r.Server == nil {
			return 0
		}
		return r.Server.CPUPerRequest
	})
	return s
}

// median returns the middle value, or the mean of the two middle values.
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func writeTable(w io.Writer, medians map[string]summary) {
	labels := make([]string, 0, len(medians))
	for l := range medians {
		labels = append(labels, l)
	}
	sort.Strings(labels)

	fmt.Fprintln(w, "| run | runs | req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | errors | server peak RSS MiB | server CPU µs/req |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range labels {
		s := medians[l]
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %s |\n",
			l, s.Runs, s.Throughput, s.P50, s.P90, s.P99, s.P999, s.Errors, optional(s.PeakRSSMiB, "%.1f"), optional(s.CPUPerRequest, "%.0f"))
	}
}

func optional(v float64, format string) string {
	if v == 0 {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// writeComparisons prints, for each gateway run, its ratios to the direct
// and trivial runs of the same scenario.
func writeComparisons(w io.Writer, medians map[string]summary) {
	type row struct{ gateway, scenario string }
	var rows []row
	for label := range medians {
		system, scenario, ok := strings.Cut(label, "/")
		if ok && strings.HasPrefix(system, "gateway") {
			rows = append(rows, row{label, scenario})
		}
	}
	if len(rows) == 0 {
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].gateway < rows[j].gateway })

	fmt.Fprintln(w)
	fmt.Fprintln(w, "| gateway run | floor | throughput gateway/floor | added p50 µs | added p99 µs |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|")
	for _, r := range rows {
		g := medians[r.gateway]
		for _, floor := range []string{"direct", "trivial"} {
			f, ok := medians[floor+"/"+r.scenario]
			if !ok || f.Throughput == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %.0f | %.0f |\n", r.gateway, floor, g.Throughput/f.Throughput, g.P50-f.P50, g.P99-f.P99)
		}
	}
}
