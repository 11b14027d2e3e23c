package wazuhsim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/isolation"
	"github.com/smartpt/smartpt/internal/isolationar"
	"github.com/smartpt/smartpt/internal/wazuhar"
	"github.com/smartpt/smartpt/internal/wazuhintegration"
)

// AgentEmulation configures the emulated agents and manager pipeline that
// EmulateAgents switches on. It is test infrastructure for the demo: the
// firewall change is only recorded, never made.
type AgentEmulation struct {
	// HookURL and CompanyKey are the <hook_url> and <api_key> of the
	// manager's custom-smartpt integration block: the gateway's base URL and
	// the company key sent in x-sha256.
	HookURL    string
	CompanyKey string

	// Dir contains one folder per agent (active-responses.log, the record
	// backend's record.jsonl, the state file) and the alert files handed to
	// the integration. Empty means a temporary folder that Close removes.
	Dir string

	// Delay is how long an agent takes to run a command after the API
	// accepted it. Zero means Options.PendingDelay.
	Delay time.Duration
}

// emulatedCommands are the custom command names the emulated agents run as
// smartpt-isolation: the Linux file name and the Windows one.
var emulatedCommands = map[string]bool{
	wazuhar.IsolationProgram:          true,
	wazuhar.IsolationProgram + ".exe": true,
}

// Rules of docs/integrations/wazuh.md that turn a smartpt-isolation line
// into an alert: 100710 matches the program, 100711 and 100712 its result.
var resultRules = map[string]struct {
	id    string
	level int
	verb  string
}{
	wazuhar.ResultSuccess: {"100711", 10, "succeeded"},
	wazuhar.ResultFailure: {"100712", 12, "failed"},
}

// Where an agent's logcollector reads active-responses.log, which becomes
// the alert's location (default agent ossec.conf of Linux and Windows).
const (
	linuxARLog   = "/var/ossec/logs/active-responses.log"
	windowsARLog = `C:\Program Files (x86)\ossec-agent\active-response\active-responses.log`
)

// emulation is the running agent emulation of a Sim.
type emulation struct {
	sim       *Sim
	cfg       AgentEmulation
	removeDir bool
	poster    *wazuhintegration.Poster

	ctx    context.Context // cancelled by Close: pending runs are dropped, posts end
	cancel context.CancelFunc

	mu       sync.Mutex       // serialises log collection
	offsets  map[string]int64 // guarded by mu: bytes of each agent's log already shipped
	alertSeq int              // guarded by mu: makes alert ids unique
}

// EmulateAgents makes every active agent behave like a Wazuh agent with
// smartpt-isolation installed, and the simulated manager like one with the
// documented rules and the custom-smartpt integration. For each
// "!smartpt-isolation" active response sent to an agent, after the delay:
//
//  1. wazuh-execd runs the isolation program's logic (package isolationar)
//     in-process with the record backend, over the stdin protocol and the
//     timeout list of the execd stand-in;
//  2. logcollector ships the lines the program appended to the agent's
//     active-responses.log;
//  3. analysisd decodes each line with the stock json decoder and raises the
//     alert of rule 100711 (success) or 100712 (failure);
//  4. integratord writes the alert to a file and runs the integration's
//     logic (package wazuhintegration), which posts the result to
//     HookURL + /v1/wazuh/events with CompanyKey.
//
// Options.Programs takes precedence for a command it names. Agent
// emulation is off until this is called, and can be switched on once; the
// demo switches it on. Close drops runs still waiting for their delay.
func (s *Sim) EmulateAgents(cfg AgentEmulation) error {
	if err := wazuhintegration.CheckBaseURL(strings.TrimRight(cfg.HookURL, "/"), "hook URL"); err != nil {
		return err
	}
	if cfg.CompanyKey == "" || strings.ContainsAny(cfg.CompanyKey, " \t\r\n") {
		return errors.New("agent emulation needs the company key the integration sends")
	}
	if cfg.Delay <= 0 {
		cfg.Delay = s.opts.PendingDelay
	}
	em := &emulation{sim: s, cfg: cfg, poster: wazuhintegration.NewPoster(), offsets: map[string]int64{}}
	if em.cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "smartpt-wazuhsim-agents-")
		if err != nil {
			return fmt.Errorf("create the agent emulation folder: %w", err)
		}
		em.cfg.Dir, em.removeDir = dir, true
	} else if err := os.MkdirAll(em.cfg.Dir, 0o750); err != nil {
		return fmt.Errorf("create the agent emulation folder: %w", err)
	}
	em.ctx, em.cancel = context.WithCancel(context.Background())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emulation != nil {
		em.cancel()
		if em.removeDir {
			_ = os.RemoveAll(em.cfg.Dir)
		}
		return errors.New("agent emulation is already on")
	}
	s.emulation = em
	s.logger.Info("wazuhsim: agent emulation on", "folder", em.cfg.Dir, "delay", em.cfg.Delay.String())
	return nil
}

// emulationFor returns the agent emulation when it is on and command is
// smartpt-isolation, else nil.
func (s *Sim) emulationFor(command string) *emulation {
	if !emulatedCommands[command] {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emulation
}

// schedule runs the program for agent id after the delay, unless the
// simulator closes first.
func (em *emulation) schedule(id string, msg wazuhar.Message) {
	s := em.sim
	s.execWaiters.Add(1)
	go func() {
		defer s.execWaiters.Done()
		timer := time.NewTimer(em.cfg.Delay)
		defer timer.Stop()
		select {
		case <-em.ctx.Done():
			return
		case <-timer.C:
		}
		s.startExecution(id, em.launch, msg, em.collect)
	}()
}

// agentDir returns the folder of agent id's files, creating it.
func (em *emulation) agentDir(id string) (string, error) {
	dir := filepath.Join(em.cfg.Dir, "agent-"+id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create the emulated agent folder: %w", err)
	}
	return dir, nil
}

// launch starts isolationar.Program for agent id over in-memory pipes, with
// the record backend and the agent's files in its folder.
func (em *emulation) launch(ctx context.Context, id string) (*process, error) {
	dir, err := em.agentDir(id)
	if err != nil {
		return nil, err
	}
	em.startCollecting(id, filepath.Join(dir, "active-responses.log"))

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr bytes.Buffer
	p := &isolationar.Program{
		In:        bufio.NewReaderSize(inR, 64<<10),
		Out:       outW,
		ErrOut:    &stderr,
		Backend:   &isolation.Record{Path: filepath.Join(dir, "record.jsonl")},
		LogPath:   filepath.Join(dir, "active-responses.log"),
		StatePath: filepath.Join(dir, "smartpt-isolation.json"),
		OssecConf: filepath.Join(dir, "ossec.conf"), // absent: the gateway's allow-list names the manager
		AgentID:   id,
		ReplyWait: 60 * time.Second,
	}

	exit := make(chan int, 1)
	go func() {
		code := p.Run(ctx)
		// Like a process exit: the reader sees end of file, and writes to
		// the program's stdin fail.
		outW.Close()
		inR.Close()
		exit <- code
	}()
	wait := func() (string, error) {
		code := <-exit
		if code != 0 {
			return stderr.String(), fmt.Errorf("exit status %d", code)
		}
		return stderr.String(), nil
	}
	return &process{stdin: inW, stdout: outR, wait: wait}, nil
}

// collect ships the complete lines appended to agent id's
// active-responses.log since the last collection, as logcollector does,
// and passes each to the manager side.
func (em *emulation) collect(id string) {
	lines, err := em.newLines(id)
	if err != nil {
		em.sim.logger.Warn("wazuhsim: read the emulated agent's log", "agent", id, "error", err)
	}
	for _, line := range lines {
		em.analyse(id, line)
	}
}

// startCollecting makes the first collection of agent id start at the
// current end of its log, as logcollector does for a file it opens
// (only_future_events), so that lines of an earlier demo run in the same
// folder are not shipped again.
func (em *emulation) startCollecting(id, logPath string) {
	em.mu.Lock()
	defer em.mu.Unlock()
	if _, known := em.offsets[id]; known {
		return
	}
	em.offsets[id] = 0
	if info, err := os.Stat(logPath); err == nil {
		em.offsets[id] = info.Size()
	}
}

func (em *emulation) newLines(id string) ([][]byte, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, err := os.Open(filepath.Join(em.cfg.Dir, "agent-"+id, "active-responses.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(em.offsets[id], io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, err
	}
	complete := bytes.LastIndexByte(data, '\n') + 1
	em.offsets[id] += int64(complete)

	var lines [][]byte
	for _, l := range bytes.Split(data[:complete], []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// analyse raises the alert for one log line of agent id, when the rules
// match it, and hands it to the integration.
func (em *emulation) analyse(id string, line []byte) {
	// The stock json decoder (prematch ^{\s*") puts the line's keys under
	// "data"; rule 100710 needs data.program to be smartpt-isolation.
	var data map[string]any
	if !bytes.HasPrefix(line, []byte("{")) || json.Unmarshal(line, &data) != nil {
		return
	}
	if data["program"] != wazuhar.IsolationProgram {
		return
	}
	action, _ := data["action"].(string)
	result, _ := data["result"].(string)
	lineAgent, _ := data["agent"].(string)
	rule := map[string]any{
		"id": "100710", "level": 3,
		"description": fmt.Sprintf("SmartPT isolation: %s on agent %s", action, lineAgent),
	}
	if r, ok := resultRules[result]; ok {
		rule["id"], rule["level"] = r.id, r.level
		rule["description"] = fmt.Sprintf("SmartPT isolation: %s %s on agent %s", action, r.verb, lineAgent)
	}
	rule["groups"] = []string{"smartpt", "smartpt_isolation", "active_response"}

	alertFile, err := em.writeAlert(id, line, data, rule)
	if err != nil {
		em.sim.logger.Warn("wazuhsim: write the alert file", "agent", id, "error", err)
		return
	}
	defer os.Remove(alertFile)

	run := &wazuhintegration.Run{AlertFile: alertFile, CompanyKey: em.cfg.CompanyKey, HookURL: em.cfg.HookURL, Poster: em.poster}
	ev, err := run.Forward(em.ctx)
	switch {
	case errors.Is(err, wazuhintegration.ErrNotForUs):
	case err != nil:
		em.sim.logger.Warn("wazuhsim: the integration did not forward the result", "agent", id, "action", action, "result", result, "error", err)
	default:
		em.sim.logger.Info("wazuhsim: agent result forwarded to the gateway", "agent", ev.AgentID, "action", ev.Action, "result", ev.Result, "alert_id", ev.AlertID)
	}
}

// writeAlert writes the alert in integratord's JSON alert format, the
// agent fields set by the manager from the agent that sent the line.
func (em *emulation) writeAlert(id string, line []byte, data, rule map[string]any) (string, error) {
	s := em.sim
	s.mu.Lock()
	agentInfo := map[string]any{"id": id}
	location := linuxARLog
	if a := s.agentByID(id); a != nil {
		agentInfo["name"], agentInfo["ip"] = a.Name, a.IP
		if a.OS.Platform == "windows" {
			location = windowsARLog
		}
	}
	s.mu.Unlock()

	em.mu.Lock()
	em.alertSeq++
	seq := em.alertSeq
	em.mu.Unlock()
	now := time.Now().UTC()
	alert := map[string]any{
		"timestamp": now.Format("2006-01-02T15:04:05.000-0700"),
		"rule":      rule,
		"agent":     agentInfo,
		"manager":   map[string]any{"name": s.opts.NodeName},
		"id":        fmt.Sprintf("%d.%d", now.Unix(), seq),
		"full_log":  string(line),
		"decoder":   map[string]any{"name": "json"},
		"data":      data,
		"location":  location,
	}
	body, err := json.Marshal(alert)
	if err != nil {
		return "", err
	}

	dir := filepath.Join(em.cfg.Dir, "integrations")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	name := filepath.Join(dir, fmt.Sprintf("custom-smartpt-%d-%d.alert", now.UnixNano(), seq))
	if err := os.WriteFile(name, body, 0o600); err != nil {
		return "", err
	}
	return name, nil
}
