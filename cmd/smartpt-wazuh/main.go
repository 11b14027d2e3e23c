// Command smartpt-wazuh runs on a Wazuh manager and connects it to SmartPT
// in both directions.
//
//	smartpt-wazuh ar [--config FILE] [--log FILE] [ACTION]
//
// is an Active Response executable. wazuh-execd starts it for an alert, and
// it requests SmartPT to isolate or release the alert's agent, or to block
// or unblock the alert's user in Entra ID. ACTION defaults to the first
// <extra_args> value. With no arguments at all, as wazuh-execd starts it,
// it behaves as "ar".
//
//	smartpt-wazuh integration ALERT_FILE API_KEY HOOK_URL
//
// is a wazuh-integratord custom integration: it forwards smartpt-isolation
// results to the gateway's POST /v1/wazuh/events. integratord starts
// integrations as "<name> ALERT_FILE API_KEY HOOK_URL", so a link named
// custom-smartpt (any name starting with "custom-") runs this mode.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/wazuhintegration"
)

// Default log files of a manager installation.
const (
	defaultARLog          = "/var/ossec/logs/active-responses.log"
	defaultIntegrationLog = "/var/ossec/logs/integrations.log"
)

func main() {
	os.Exit(dispatch(os.Args))
}

func dispatch(argv []string) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	switch {
	case strings.HasPrefix(name, "custom-"):
		return runIntegration(argv[0], args)
	case len(args) > 0 && args[0] == "integration":
		return runIntegration(argv[0], args[1:])
	case len(args) > 0 && args[0] == "ar":
		return runAR(args[1:])
	case len(args) == 0:
		return runAR(nil)
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(os.Stdout, usage)
		return 0
	default:
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
}

const usage = `Usage:
  smartpt-wazuh ar [--config FILE] [--log FILE] [--reply-wait DURATION] [ACTION]
      Active Response executable, started by wazuh-execd (also with no arguments)
  smartpt-wazuh integration ALERT_FILE API_KEY HOOK_URL
      wazuh-integratord custom integration (also as a link named custom-*)

Flags of ar:
  --config FILE            YAML file with url, company_key and requester (default ` + DefaultConfigPath + `)
  --log FILE               log file that receives one JSON line per run (default ` + defaultARLog + `)
  --reply-wait DURATION    how long to wait for wazuh-execd's continue or abort (default 1m0s)
`

func runAR(args []string) int {
	fs := flag.NewFlagSet("smartpt-wazuh ar", flag.ContinueOnError)
	configPath := fs.String("config", DefaultConfigPath, "YAML file with url, company_key and requester")
	logPath := fs.String("log", defaultARLog, "log file that receives one JSON line per run")
	replyWait := fs.Duration("reply-wait", 60*time.Second, "how long to wait for wazuh-execd's continue or abort")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "smartpt-wazuh ar: at most one ACTION argument")
		return 2
	}

	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smartpt-wazuh ar:", err)
		appendJSONLine(*logPath, arLogLine{Program: arProgram, Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Result: "failure", Detail: err.Error()})
		return 1
	}

	r := &arRun{
		in: bufio.NewReaderSize(os.Stdin, 64<<10), out: os.Stdout, cfg: cfg, action: fs.Arg(0),
		replyWait: *replyWait, poster: wazuhintegration.NewPoster(), logPath: *logPath,
	}
	return r.run(context.Background())
}

func runIntegration(self string, args []string) int {
	// Installed as <wazuh>/integrations/custom-smartpt, the program logs to
	// <wazuh>/logs/integrations.log, as the integrations shipped with Wazuh do.
	logPath := defaultIntegrationLog
	if dir := filepath.Dir(self); filepath.Base(dir) == "integrations" {
		logPath = filepath.Join(dir, "..", "logs", "integrations.log")
	}
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: smartpt-wazuh integration ALERT_FILE API_KEY HOOK_URL")
		return 2
	}
	// integratord may append further arguments (options file, debug flag).
	r := &wazuhintegration.Run{AlertFile: args[0], CompanyKey: args[1], HookURL: args[2], Poster: wazuhintegration.NewPoster()}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ev, err := r.Forward(ctx)
	if errors.Is(err, wazuhintegration.ErrNotForUs) {
		return 0
	}
	entry := map[string]string{
		"program": "smartpt-wazuh-integration", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"alert_id": ev.AlertID, "agent_id": ev.AgentID, "action": ev.Action, "result": "forwarded",
	}
	if err != nil {
		entry["result"], entry["detail"] = "failure", err.Error()
		fmt.Fprintln(os.Stderr, "smartpt-wazuh integration:", err)
	}
	appendJSONLine(logPath, entry)
	if err != nil {
		return 1
	}
	return 0
}

// appendJSONLine appends v as one JSON line to path; a log that cannot be
// written is reported on stderr and otherwise ignored.
func appendJSONLine(path string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smartpt-wazuh: open log:", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		fmt.Fprintln(os.Stderr, "smartpt-wazuh: write log:", err)
	}
}
