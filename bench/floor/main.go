// Command floor serves the two baselines the gateway is measured against, in
// a process of its own so that its RSS and CPU time can be read like the
// gateway's:
//
//   - -mode trivial: a plain net/http handler that reads the request body
//     and returns a small JSON body. No server can respond faster over HTTP.
//   - -mode sim: one vendor simulator (started through internal/simharness),
//     optionally behind a fixed delay that simulates the vendor's own
//     latency. The load harness sends it the vendor's native requests, and
//     the gateway can be configured against it with the file -info writes.
//
// Both modes count responses by status and serve the counts as JSON at
// GET /_bench/stats, a path no vendor API uses. The process exits on SIGINT
// or SIGTERM, or after -lifetime.
//
// Usage:
//
//	go run ./bench/floor -mode sim -kind wazuh -delay 2ms -addr 127.0.0.1:9101 -info /tmp/wazuh.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/smartpt/smartpt/bench/internal/floorhttp"
	"github.com/smartpt/smartpt/internal/simharness"
	_ "github.com/smartpt/smartpt/internal/simharness/all"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run() error {
	mode := flag.String("mode", "trivial", "what to serve: trivial (net/http handler) or sim (a vendor simulator)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address; keep it on loopback")
	kind := flag.String("kind", "wazuh", "simulator kind for -mode sim: "+kindList())
	delay := flag.Duration("delay", 0, "wait added before every simulator response, to simulate the vendor's latency (for example 2ms)")
	pending := flag.Duration("pending-delay", 0, "how long an asynchronous vendor action stays pending (0: the simulator's default)")
	perMinute := flag.Int("requests-per-minute", 0, "Wazuh only: the simulated manager's max_request_per_minute (api.yaml); 0 keeps the Wazuh default of 300, which caps a throughput run at 5 requests/s")
	hosts := flag.Int("hosts", 0, "Wazuh only: serve this many agents (001 upwards) instead of the 20 demo agents, at most 10000, so that a bulk run isolates distinct endpoints")
	infoPath := flag.String("info", "", "write the simulator's URL, integration settings and test credentials to this JSON file")
	lifetime := flag.Duration("lifetime", time.Hour, "exit after this long even without a signal, so that no floor outlives its benchmark")
	flag.Parse()

	if err := floorhttp.CheckLoopback(*addr); err != nil {
		return err
	}

	var handler http.Handler
	var info *simInfo
	switch *mode {
	case "trivial":
		handler = http.HandlerFunc(floorhttp.Trivial)
	case "sim":
		start := startSim
		if *perMinute != 0 || *hosts != 0 {
			if *kind != string(vendor.KindWazuh) {
				return fmt.Errorf("-requests-per-minute and -hosts apply to -kind wazuh only")
			}
			start = func(vendor.Kind, time.Duration) (*simharness.Running, error) { return startWazuh(*perMinute, *hosts) }
		}
		running, err := start(vendor.Kind(*kind), *pending)
		if err != nil {
			return err
		}
		defer running.Close()
		handler = running.Handler
		if *delay > 0 {
			handler = floorhttp.Delayed(handler, *delay)
		}
		info = &simInfo{Kind: *kind, Settings: running.Settings, Secrets: running.Secrets, simURL: running.URL}
	default:
		return fmt.Errorf("unknown -mode %q; use trivial or sim", *mode)
	}

	counts := &floorhttp.StatusCounts{}
	mux := http.NewServeMux()
	mux.Handle("GET /_bench/stats", counts)
	mux.Handle("/", counts.Wrap(handler))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	url := "http://" + ln.Addr().String()
	if info != nil && *infoPath != "" {
		if err := info.write(*infoPath, url); err != nil {
			ln.Close()
			return err
		}
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	go func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		srv.Shutdown(shutdown)
	}()

	slog.Info("floor listening", "mode", *mode, "kind", *kind, "url", url, "delay", *delay, "pid", os.Getpid())
	fmt.Printf("LISTEN %s\n", url)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	slog.Info("floor stopped", "url", url)
	return nil
}

func startSim(kind vendor.Kind, pending time.Duration) (*simharness.Running, error) {
	sim, ok := simharness.Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("no simulator of kind %q is registered; registered kinds: %s", kind, kindList())
	}
	running, err := sim.Start(simharness.Options{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PendingDelay: pending,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s simulator: %w", kind, err)
	}
	if running.Handler == nil {
		running.Close()
		return nil, fmt.Errorf("the %s simulator exposes no Handler to serve behind the delay", kind)
	}
	return running, nil
}

// startWazuh starts the Wazuh simulator with a request limit of its own
// (0: the Wazuh default) and, when hosts is not 0, that many agents.
// simharness.Options has neither field, so this builds the simulator
// directly and returns the same settings as wazuhsim.Start.
//
// NOTE: keep the settings in step with wazuhsim.Start.
func startWazuh(perMinute, hosts int) (*simharness.Running, error) {
	if perMinute < 0 {
		return nil, fmt.Errorf("-requests-per-minute %d must be at least 1, or 0 for the Wazuh default", perMinute)
	}
	if hosts < 0 || hosts > 10000 {
		return nil, fmt.Errorf("-hosts %d is outside 0..10000", hosts)
	}
	opts := wazuhsim.Options{RequestsPerMinute: perMinute}
	for i := 1; i <= hosts; i++ {
		// Agent ids 001 upwards, as wazuhsim numbers its hosts.
		opts.Hosts = append(opts.Hosts, simharness.Host{
			Index: i, Hostname: fmt.Sprintf("bench-host-%05d", i), IPv4: fmt.Sprintf("10.20.%d.%d", i/250, i%250+1),
		})
	}
	sim := wazuhsim.New(opts)
	srv, err := simharness.Serve(sim, false)
	if err != nil {
		sim.Close()
		return nil, err
	}
	return &simharness.Running{
		Kind: vendor.KindWazuh,
		URL:  srv.URL,
		Settings: map[string]string{
			"url":        srv.URL,
			"username":   "wazuh-wui",
			"manager_ip": wazuhsim.DemoManagerIP,
		},
		Secrets: map[string]string{"password": sim.Password},
		Handler: sim,
		Close: func() {
			srv.Close()
			sim.Close()
		},
	}, nil
}

func kindList() string {
	var names []string
	for _, k := range simharness.Kinds() {
		names = append(names, string(k))
	}
	if len(names) == 0 {
		return "(none registered yet)"
	}
	return strings.Join(names, ", ")
}

// simInfo is the file that gives the load harness and the gateway's
// integration settings the simulator's address and test credentials.
type simInfo struct {
	Kind     string            `json:"kind"`
	URL      string            `json:"url"`
	PID      int               `json:"pid"`
	Settings map[string]string `json:"settings"`
	Secrets  map[string]string `json:"secrets"` // the simulator's test credentials, never a real secret
	simURL   string
}

// write saves the info with every setting that named the simulator's own
// server pointed at url instead, so that clients go through the delay.
func (s *simInfo) write(path, url string) error {
	s.URL = url
	s.PID = os.Getpid()
	settings := make(map[string]string, len(s.Settings))
	for k, v := range s.Settings {
		settings[k] = strings.ReplaceAll(v, s.simURL, url)
	}
	s.Settings = settings

	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write -info file: %w", err)
	}
	return nil
}
