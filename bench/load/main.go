// Command load drives an HTTP server over loopback with a mix of endpoint
// status and containment requests and reports throughput, latency
// percentiles, errors by status, and the server's peak RSS and CPU time per
// request.
//
// It speaks three protocols: "gateway" (the public SmartPT API), "trivial"
// (the same body to a server that ignores it, the net/http floor) and
// "wazuh" (the Wazuh server API requests that the gateway's Wazuh connector
// makes, sent straight to the simulator). With -rate it runs open loop
// and measures each latency from the request's due time; without it, it runs
// closed loop with -workers concurrent requests.
//
// Usage:
//
//	go run ./bench/load -url http://127.0.0.1:8080 -key KEY -rate 500 -duration 10s -pid PID
//
// A human-readable table goes to stderr and one line "RESULT {json}" to
// stdout. Every run is bounded by -n and -duration, whichever ends first.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/smartpt/smartpt/bench/loadgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	url, protocol, service, targetForm string
	key, email, mix, label, simInfo    string
	wazuhUser, wazuhPassword, jsonOut  string
	managerIP                          string
	targets, workers, conns, pid       int
	requests                           int64
	rate                               float64
	duration, warmup, timeout          time.Duration
	seed                               uint64
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base URL of the server under test")
	flag.StringVar(&o.protocol, "protocol", "gateway", "request format: gateway (SmartPT API), trivial (net/http floor) or wazuh (Wazuh API, straight to the simulator)")
	flag.StringVar(&o.service, "service", "wazuh", "gateway route: wazuh, defender, cortex, cisco or paloalto")
	flag.StringVar(&o.targetForm, "target-form", "", "how agent_id names a demo endpoint: id (Wazuh only), hostname or ip (default: id for wazuh, hostname otherwise)")
	flag.StringVar(&o.key, "key", "", "company key for x-sha256 (default: $SMARTPT_BENCH_KEY, then $SMARTPT_DEMO_KEY)")
	flag.StringVar(&o.email, "email", "bench@demo.example", "requester, sent as the Email field")
	flag.StringVar(&o.mix, "mix", "status=80,isolate=20", "relative weights of status and isolate; isolate alternates with releaseisolate on each target")
	flag.IntVar(&o.targets, "targets", loadgen.DemoTargets, "number of endpoints to spread requests over: 1 to 20 demo endpoints, or up to 10000 Wazuh agent ids against bench/floor -hosts N")
	flag.Float64Var(&o.rate, "rate", 0, "open-loop rate in requests per second; 0 runs closed loop")
	flag.IntVar(&o.workers, "workers", 0, "concurrent requests: closed-loop workers, or the open-loop bound on requests in flight (default 32 closed, 512 open)")
	flag.IntVar(&o.conns, "conns", 0, "maximum TCP connections to the server (default: -workers)")
	flag.Int64Var(&o.requests, "n", 10_000, fmt.Sprintf("measured requests, at most %d", loadgen.MaxRequests))
	flag.DurationVar(&o.duration, "duration", 10*time.Second, fmt.Sprintf("measured time, at most %s", loadgen.MaxDuration))
	flag.DurationVar(&o.warmup, "warmup", time.Second, "time whose requests are sent but not measured")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request")
	flag.IntVar(&o.pid, "pid", 0, "server process id, to report its peak RSS and CPU time per request (Linux /proc)")
	flag.StringVar(&o.label, "label", "", "name of this run in the report")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the request mix")
	flag.StringVar(&o.simInfo, "sim-info", "", "JSON file written by bench/floor -mode sim; sets -url and the Wazuh credentials")
	flag.StringVar(&o.wazuhUser, "wazuh-user", "", "Wazuh API user for -protocol wazuh")
	flag.StringVar(&o.wazuhPassword, "wazuh-password", "", "Wazuh API password for -protocol wazuh")
	flag.StringVar(&o.jsonOut, "json-out", "", "also append the JSON result line to this file")
	flag.Parse()
	return o
}

func run() error {
	o := parseFlags()
	if err := o.fillDefaults(); err != nil {
		return err
	}

	if err := checkLoopbackURL(o.url); err != nil {
		return err
	}
	protocol, err := o.newProtocol()
	if err != nil {
		return err
	}
	mix, err := loadgen.ParseMix(o.mix, o.targets, o.seed)
	if err != nil {
		return err
	}

	transport := &http.Transport{
		MaxIdleConns:        o.conns,
		MaxIdleConnsPerHost: o.conns,
		MaxConnsPerHost:     o.conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep, err := loadgen.Run(ctx, loadgen.Config{
		Client:    &http.Client{Transport: transport, Timeout: o.timeout},
		Protocol:  protocol,
		Mix:       mix,
		Limits:    loadgen.Limits{Requests: o.requests, Duration: o.duration, Warmup: o.warmup},
		Rate:      o.rate,
		Workers:   o.workers,
		ServerPID: o.pid,
	})
	if err != nil {
		return err
	}
	rep.Label = o.label
	rep.Target = o.url

	loadgen.WriteTable(os.Stderr, rep)
	if err := loadgen.WriteJSONLine(os.Stdout, rep); err != nil {
		return err
	}
	if o.jsonOut != "" {
		f, err := os.OpenFile(o.jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open -json-out file: %w", err)
		}
		defer f.Close()
		if err := loadgen.WriteJSONLine(f, rep); err != nil {
			return fmt.Errorf("write %s: %w", o.jsonOut, err)
		}
	}
	if rep.Requests == 0 {
		return errors.New("no request was measured; check -n, -duration and -warmup")
	}
	return nil
}

func (o *options) fillDefaults() error {
	if o.key == "" {
		o.key = os.Getenv("SMARTPT_BENCH_KEY")
	}
	if o.key == "" {
		o.key = os.Getenv("SMARTPT_DEMO_KEY")
	}
	if o.targetForm == "" {
		o.targetForm = "hostname"
		if o.service == "wazuh" {
			o.targetForm = "id"
		}
	}
	if o.targets > loadgen.DemoTargets && o.targetForm != "id" {
		return fmt.Errorf("-targets %d is beyond the %d demo endpoints, which only Wazuh agent ids (-target-form id) can name", o.targets, loadgen.DemoTargets)
	}
	if o.workers == 0 {
		o.workers = 32
		if o.rate > 0 {
			o.workers = 512
		}
	}
	if o.conns == 0 {
		o.conns = o.workers
	}
	if o.timeout <= 0 || o.timeout > 5*time.Minute {
		return fmt.Errorf("-timeout %s is outside (0, 5m]", o.timeout)
	}

	if o.simInfo != "" {
		info, err := readSimInfo(o.simInfo)
		if err != nil {
			return err
		}
		o.url = info.URL
		o.managerIP = info.Settings["manager_ip"]
		if o.wazuhUser == "" {
			o.wazuhUser, o.wazuhPassword = info.credentials()
		}
	}
	return nil
}

func (o *options) newProtocol() (loadgen.Protocol, error) {
	switch o.protocol {
	case "gateway", "trivial":
		return loadgen.NewGateway(loadgen.Gateway{
			BaseURL:    o.url,
			Service:    o.service,
			TargetForm: o.targetForm,
			CompanyKey: o.key,
			Requester:  o.email,
			Trivial:    o.protocol == "trivial",
		}, o.targets)
	case "wazuh":
		if o.wazuhUser == "" {
			return nil, errors.New("-protocol wazuh needs -wazuh-user and -wazuh-password, or -sim-info")
		}
		return &loadgen.WazuhNative{BaseURL: o.url, User: o.wazuhUser, Password: o.wazuhPassword, ManagerIP: o.managerIP}, nil
	default:
		return nil, fmt.Errorf("unknown -protocol %q; use gateway, trivial or wazuh", o.protocol)
	}
}

// checkLoopbackURL rejects a target outside loopback, so that no mistyped
// URL sends load to another machine.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("-url %q is not an http:// or https:// URL", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %q is not on loopback; use 127.0.0.1, ::1 or localhost", raw)
	}
	return nil
}

// simInfo is the file bench/floor writes for a simulator it serves.
type simInfo struct {
	Kind     string            `json:"kind"`
	URL      string            `json:"url"`
	Settings map[string]string `json:"settings"`
	Secrets  map[string]string `json:"secrets"`
}

func readSimInfo(path string) (*simInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read -sim-info: %w", err)
	}
	var info simInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("parse -sim-info %s: %w", path, err)
	}
	if info.URL == "" {
		return nil, fmt.Errorf("-sim-info %s has no url", path)
	}
	return &info, nil
}

// credentials picks the user name and password from the simulator's
// secrets or settings, whatever the connector calls them.
func (s *simInfo) credentials() (user, password string) {
	for _, m := range []map[string]string{s.Secrets, s.Settings} {
		for k, v := range m {
			lk := strings.ToLower(k)
			switch {
			case strings.Contains(lk, "pass"):
				password = v
			case strings.Contains(lk, "user"):
				user = v
			}
		}
	}
	return user, password
}
