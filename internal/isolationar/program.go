package isolationar

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/isolation"
	"github.com/smartpt/smartpt/internal/wazuhar"
)

// Program is one run of smartpt-isolation, the Active Response program
// that isolates the host it runs on. cmd/smartpt-isolation runs it over
// the process's stdin and stdout; the Wazuh simulator's agent emulation
// runs it over pipes with the record backend.
type Program struct {
	In      *bufio.Reader // wazuh-execd's messages
	Out     io.Writer     // the check_keys line goes here
	ErrOut  io.Writer     // diagnostics that are not results
	Backend isolation.Backend

	LogPath    string        // active-responses.log
	StatePath  string        // isolation state file
	OssecConf  string        // the agent's ossec.conf, for the manager addresses
	AgentID    string        // this agent's id, for log lines
	ReplyWait  time.Duration // bound on the wait for continue or abort
	ExtraAllow []string      // addresses that always stay reachable (--allow)
}

// Run performs the Active Response protocol and the action, and returns
// the process exit status. Every outcome that reached the action step is
// written to active-responses.log.
func (p *Program) Run(ctx context.Context) int {
	// 1. One line, read without waiting for end of file.
	line, err := wazuhar.ReadLine(p.In, wazuhar.MaxLineBytes)
	if err != nil {
		return p.fail(wazuhar.ResultLine{Detail: "invalid input format: read stdin: " + err.Error()})
	}
	msg, err := wazuhar.Parse(line)
	if err != nil {
		return p.fail(wazuhar.ResultLine{Detail: err.Error()})
	}
	req, err := parseRequest(msg)
	if err != nil {
		return p.fail(wazuhar.ResultLine{Action: req.action, ActionID: req.actionID, Command: msg.Command, Detail: "invalid request: " + err.Error()})
	}

	// 2. A delete is the end of a timed isolation: release. Releasing has no
	// timed form, so its delete has nothing to undo.
	if msg.Command == wazuhar.CommandDelete {
		if req.action == wazuhar.ActionRelease {
			fmt.Fprintln(p.ErrOut, "smartpt-isolation: delete of a release: nothing to undo")
			return 0
		}
		req.action = wazuhar.ActionRelease
	}

	// 3. Key check: wazuh-execd aborts when the same keys are in its timeout
	// list, that is when the same action is already in effect.
	if err := wazuhar.WriteCheckKeys(p.Out, wazuhar.IsolationProgram, []string{req.action}); err != nil {
		return p.fail(p.entry(req, msg, "write check_keys: "+err.Error()))
	}
	reply, err := p.awaitReply()
	if err != nil {
		return p.fail(p.entry(req, msg, err.Error()))
	}
	if reply == wazuhar.CommandAbort {
		fmt.Fprintf(p.ErrOut, "smartpt-isolation: wazuh-execd aborted %s: the same action is still in effect\n", req.action)
		return 0
	}

	// 4. Act.
	return p.act(ctx, req, msg)
}

func (p *Program) act(ctx context.Context, req request, msg *wazuhar.Message) int {
	entry := p.entry(req, msg, "")
	entry.Backend = p.Backend.Name()

	if req.action == wazuhar.ActionRelease {
		if err := p.Backend.Release(ctx); err != nil {
			entry.Detail = "release failed: " + err.Error()
			return p.fail(entry)
		}
		if err := isolation.WriteState(p.StatePath, isolation.State{Isolated: false, Backend: p.Backend.Name(), ActionID: req.actionID, Since: time.Now().UTC()}); err != nil {
			entry.Detail = "released, but the state file was not updated: " + err.Error()
		} else {
			entry.Detail = "isolation released"
		}
		return p.succeed(entry)
	}

	managers, skipped := managerAddresses(ctx, p.OssecConf)
	allow, err := isolation.ParseAllow(append(append(append([]string{}, req.allow...), p.ExtraAllow...), managers...))
	if err != nil {
		entry.Detail = "isolation rejected: " + err.Error()
		return p.fail(entry)
	}
	if len(allow) == 0 {
		entry.Detail = "isolation rejected: no allowed address; the request must name the manager (allow=) or ossec.conf must list it, or the agent would lose its manager"
		return p.fail(entry)
	}
	if err := p.Backend.Isolate(ctx, allow); err != nil {
		entry.Detail = "isolation failed: " + err.Error()
		return p.fail(entry)
	}

	names := make([]string, len(allow))
	for i, a := range allow {
		names[i] = a.String()
	}
	entry.Detail = "isolated; reachable: " + strings.Join(names, ",")
	if len(skipped) > 0 {
		entry.Detail += "; manager names not resolved: " + strings.Join(skipped, ",")
	}
	st := isolation.State{Isolated: true, Backend: p.Backend.Name(), Allow: names, ActionID: req.actionID, Since: time.Now().UTC()}
	if err := isolation.WriteState(p.StatePath, st); err != nil {
		entry.Detail += "; the state file was not written: " + err.Error()
	}
	return p.succeed(entry)
}

// awaitReply reads the continue or abort line within replyWait. When execd
// sends nothing, the reading goroutine outlives the call, which is harmless
// because the process exits right after.
func (p *Program) awaitReply() (string, error) {
	type result struct {
		command string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		line, err := wazuhar.ReadLine(p.In, wazuhar.MaxLineBytes)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("wazuh-execd closed stdin without a reply to check_keys")
			}
			done <- result{err: err}
			return
		}
		c, err := wazuhar.ParseControl(line)
		done <- result{command: c.Command, err: err}
	}()

	timer := time.NewTimer(p.ReplyWait)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.command, r.err
	case <-timer.C:
		return "", fmt.Errorf("no continue or abort from wazuh-execd within %s; nothing was changed", p.ReplyWait)
	}
}

func (p *Program) entry(req request, msg *wazuhar.Message, detail string) wazuhar.ResultLine {
	return wazuhar.ResultLine{Action: req.action, Agent: p.AgentID, ActionID: req.actionID, Command: msg.Command, Detail: detail}
}

func (p *Program) succeed(line wazuhar.ResultLine) int {
	line.Result = wazuhar.ResultSuccess
	p.write(line)
	return 0
}

func (p *Program) fail(line wazuhar.ResultLine) int {
	line.Result = wazuhar.ResultFailure
	if line.Agent == "" {
		line.Agent = p.AgentID
	}
	p.write(line)
	return 1
}

// write appends line to active-responses.log, and to stderr when the log
// cannot be written.
func (p *Program) write(line wazuhar.ResultLine) {
	if err := wazuhar.AppendResult(p.LogPath, line); err != nil {
		fmt.Fprintf(p.ErrOut, "smartpt-isolation: %v; result was %s: %s\n", err, line.Result, line.Detail)
	}
}
