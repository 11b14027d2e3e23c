package wazuhar

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// IsolationProgram is the name of the host isolation program, written as
// the first field of each of its log lines so that Wazuh rules can match
// it.
const IsolationProgram = "smartpt-isolation"

// Results of an isolation action.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// Actions as the gateway names them, used in log lines and result events.
const (
	ActionIsolate = "isolate"
	ActionRelease = "releaseisolate"
)

// ResultLine is one line the isolation program appends to Wazuh's
// active-responses.log. The agent's logcollector ships the line to the
// manager, whose stock "json" decoder turns each key into an alert field
// (data.program, data.action, data.result, ...), and the SmartPT rules raise
// an alert that the smartpt-wazuh integration forwards to the gateway. The
// field names are therefore a contract with the rules and the integration.
type ResultLine struct {
	Program   string `json:"program"`   // always IsolationProgram, and first
	Timestamp string `json:"timestamp"` // RFC 3339 with milliseconds, UTC
	Action    string `json:"action"`    // ActionIsolate or ActionRelease
	Agent     string `json:"agent,omitempty"`
	Result    string `json:"result"` // ResultSuccess or ResultFailure
	Detail    string `json:"detail"`
	ActionID  string `json:"smartpt_action_id,omitempty"`
	Backend   string `json:"backend,omitempty"` // nftables, iptables, windows-firewall or record
	Command   string `json:"command,omitempty"` // the execd command: add or delete
}

// AppendResult writes line as one JSON line to the log at path, creating
// the file with mode 0640 when needed. One Write call with O_APPEND keeps
// concurrent writers from interleaving lines.
func AppendResult(path string, line ResultLine) error {
	line.Program = IsolationProgram
	if line.Timestamp == "" {
		line.Timestamp = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	data, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("encode log line: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("open active response log: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("write active response log %s: %w", path, err)
	}
	return nil
}
