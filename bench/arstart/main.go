// Command arstart measures how long a Wazuh Active Response program takes
// from process start to its API request: the time an alert waits before the
// gateway hears of it. It runs `smartpt-wazuh ar` and, as the baseline, the
// equivalent Python 3 script baseline.py, each -n times, and reports the
// median and spread of both.
//
// Each run follows the Wazuh 4.x execd protocol: the harness starts the
// program, writes one alert message line to its stdin, reads the check_keys
// line the program prints, replies with a continue message, and notes when
// the API request reaches a loopback HTTP server. The clock starts just
// before the process is started and stops when the request's headers have
// been read.
//
// Usage:
//
//	go build -o /tmp/smartpt-wazuh ./cmd/smartpt-wazuh
//	go run ./bench/arstart -bin /tmp/smartpt-wazuh -n 30
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

const maxRuns = 500

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "arstart:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "path to the smartpt-wazuh binary (build it first; go run would measure the compiler)")
	binArgs := flag.String("args", "ar --config {config} --log {log} isolate", "arguments of -bin; {config} and {log} are replaced with the config file and log file paths")
	python := flag.String("python", "python3", "Python 3 interpreter for the baseline; empty skips it")
	script := flag.String("script", defaultScript(), "the baseline script")
	scriptArgs := flag.String("script-args", "--config {config} --log {log} isolate", "arguments of the baseline script")
	runs := flag.Int("n", 20, fmt.Sprintf("runs per program, at most %d", maxRuns))
	timeout := flag.Duration("timeout", 10*time.Second, "limit of one run")
	jsonOut := flag.String("json-out", "", "also append the JSON result line to this file")
	flag.Parse()

	if *runs < 1 || *runs > maxRuns {
		return fmt.Errorf("-n %d is outside 1..%d", *runs, maxRuns)
	}
	if *bin == "" && *python == "" {
		return errors.New("nothing to measure: pass -bin, or keep -python for the baseline alone")
	}

	api, err := startAPI()
	if err != nil {
		return err
	}
	defer api.close()

	dir, err := os.MkdirTemp("", "arstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	config, err := writeConfig(dir, api.url)
	if err != nil {
		return err
	}

	logFile := filepath.Join(dir, "active-responses.log")
	var results []result
	if *bin != "" {
		r, err := measure("smartpt-wazuh ar", *bin, expand(*binArgs, config, logFile), *runs, *timeout, api)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if *python != "" {
		args := append([]string{*script}, expand(*scriptArgs, config, logFile)...)
		r, err := measure("python3 baseline", *python, args, *runs, *timeout, api)
		if err != nil {
			return err
		}
		results = append(results, r)
	}

	return report(results, *jsonOut)
}

// defaultScript finds baseline.py next to this source file, which is where
// it lives when the command runs with go run from the repository.
func defaultScript() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "bench/arstart/baseline.py"
	}
	return filepath.Join(filepath.Dir(file), "baseline.py")
}

// expand splits args into fields and fills in the {config} and {log}
// placeholders.
func expand(args, config, logFile string) []string {
	fields := strings.Fields(args)
	for i, f := range fields {
		f = strings.ReplaceAll(f, "{config}", config)
		fields[i] = strings.ReplaceAll(f, "{log}", logFile)
	}
	return fields
}

// writeConfig writes the YAML config both programs read: keys url,
// company_key and requester. The key is random test data, and the file is
// 0600 because smartpt-wazuh refuses a key file that others can read.
func writeConfig(dir, url string) (string, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	path := filepath.Join(dir, "smartpt.yaml")
	body := fmt.Sprintf("url: %s\ncompany_key: %s\nrequester: bench@demo.example\n", url, hex.EncodeToString(raw))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return path, nil
}

// apiServer replaces the gateway: it notes when each request arrives and
// returns a successful isolate response.
type apiServer struct {
	url      string
	arrivals chan arrival
	srv      *http.Server
}

type arrival struct {
	at   time.Time
	path string
	body string
}

func startAPI() (*apiServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	a := &apiServer{url: "http://" + ln.Addr().String(), arrivals: make(chan arrival, 16)}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 5 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

func (a *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now() // headers read: the request has been sent
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	select {
	case a.arrivals <- arrival{at: at, path: r.URL.Path, body: string(body)}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"statusCode":200,"body":{"message":"Action executed successfully","action_result":{},"action_id":"arstart"}}`)
}

func (a *apiServer) close() { a.srv.Close() }

// drain drops arrivals left over from an earlier run, such as a retry.
func (a *apiServer) drain() {
	for {
		select {
		case <-a.arrivals:
		default:
			return
		}
	}
}

// alertLine is an execd "add" message as Wazuh 4.x writes it to an Active
// Response program's stdin, built on the example alert in the Wazuh
// documentation (custom active response page), with agent 001 as the
// target. The action is also in extra_args, where an
// ossec.conf <extra_args> entry puts it.
const alertLine = `{"version":1,"origin":{"name":"worker01","module":"wazuh-execd"},"command":"add","parameters":{"extra_args":["isolate"],"alert":{"timestamp":"2021-02-01T20:58:44.830+0000","rule":{"level":15,"description":"Shellshock attack detected","id":"31168","firedtimes":2,"mail":true,"groups":["web","accesslog","attack"]},"agent":{"id":"001","name":"demo-host-01","ip":"10.20.0.1"},"manager":{"name":"wazuh-manager"},"id":"1612213124.6448363","full_log":"192.168.0.223 - - [01/Feb/2021:20:58:43 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"() { :; }; /bin/cat /etc/passwd\"","decoder":{"name":"web-accesslog"},"data":{"protocol":"GET","srcip":"192.168.0.223","id":"200","url":"/"},"location":"/var/log/nginx/access.log"},"program":"/var/ossec/active-response/bin/smartpt-wazuh"}}` + "\n"

// continueLine is execd's reply to check_keys when the key is new.
const continueLine = `{"version":1,"origin":{"name":"worker01","module":"wazuh-execd"},"command":"continue","parameters":{}}` + "\n"

// result is the timings of one program.
type result struct {
	Name    string    `json:"name"`
	Runs    int       `json:"runs"`
	Median  float64   `json:"median_ms"`
	P90     float64   `json:"p90_ms"`
	Min     float64   `json:"min_ms"`
	Max     float64   `json:"max_ms"`
	Samples []float64 `json:"samples_ms"`
	Path    string    `json:"request_path"`
	Body    string    `json:"request_body"` // of the last run, to check what was sent
}

func measure(name, bin string, args []string, runs int, timeout time.Duration, api *apiServer) (result, error) {
	res := result{Name: name, Runs: runs}
	for i := range runs {
		d, a, err := runOnce(bin, args, timeout, api)
		if err != nil {
			return res, fmt.Errorf("%s, run %d: %w", name, i+1, err)
		}
		res.Samples = append(res.Samples, float64(d)/float64(time.Millisecond))
		res.Path = a.path
		res.Body = a.body
	}

	sorted := slices.Clone(res.Samples)
	slices.Sort(sorted)
	res.Median = median(sorted)
	res.P90 = sorted[(len(sorted)*9+9)/10-1]
	res.Min = sorted[0]
	res.Max = sorted[len(sorted)-1]
	return res, nil
}

// median returns the middle of sorted values, or the mean of the two
// middle ones.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// runOnce starts the program, plays execd's side of the protocol, and
// returns the time from start to the API request.
func runOnce(bin string, args []string, timeout time.Duration, api *apiServer) (time.Duration, arrival, error) {
	api.drain()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, arrival{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, arrival{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, arrival{}, fmt.Errorf("start %s: %w", bin, err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	if _, err := io.WriteString(stdin, alertLine); err != nil {
		return 0, arrival{}, fmt.Errorf("write the alert to stdin: %w", err)
	}

	// The program prints check_keys and waits for the reply of execd.
	lines := bufio.NewReader(stdout)
	keys, err := lines.ReadString('\n')
	if err != nil {
		return 0, arrival{}, fmt.Errorf("read check_keys from stdout: %w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	if err := checkKeysMessage(keys); err != nil {
		return 0, arrival{}, err
	}
	if _, err := io.WriteString(stdin, continueLine); err != nil {
		return 0, arrival{}, fmt.Errorf("write continue to stdin: %w", err)
	}

	select {
	case a := <-api.arrivals:
		stdin.Close()
		go io.Copy(io.Discard, lines)
		waited = true
		if err := cmd.Wait(); err != nil {
			return 0, arrival{}, fmt.Errorf("program failed after its request: %w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
		}
		return a.at.Sub(start), a, nil
	case <-ctx.Done():
		return 0, arrival{}, fmt.Errorf("no API request within %s (stderr: %s)", timeout, strings.TrimSpace(stderr.String()))
	}
}

// checkKeysMessage checks that line is a check_keys message.
func checkKeysMessage(line string) error {
	var msg struct {
		Command string `json:"command"`
	}
	if err := json.Unmarshal([]byte(line), &msg); err != nil || msg.Command != "check_keys" {
		return fmt.Errorf("want a check_keys message on stdout, got %q", strings.TrimSpace(line))
	}
	return nil
}

func report(results []result, jsonOut string) error {
	fmt.Fprintf(os.Stderr, "%-18s %5s %9s %9s %9s %9s\n", "program", "runs", "median ms", "p90 ms", "min ms", "max ms")
	for _, r := range results {
		fmt.Fprintf(os.Stderr, "%-18s %5d %9.2f %9.2f %9.2f %9.2f\n", r.Name, r.Runs, r.Median, r.P90, r.Min, r.Max)
	}
	if len(results) == 2 && results[0].Median > 0 {
		fmt.Fprintf(os.Stderr, "baseline median / smartpt-wazuh median = %.1f\n", results[1].Median/results[0].Median)
	}

	line, err := json.Marshal(map[string]any{"benchmark": "arstart", "results": results})
	if err != nil {
		return err
	}
	fmt.Printf("RESULT %s\n", line)
	if jsonOut != "" {
		f, err := os.OpenFile(jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(f, "RESULT %s\n", line)
	}
	return nil
}
