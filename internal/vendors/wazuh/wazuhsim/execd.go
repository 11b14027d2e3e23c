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
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/wazuhar"
)

// Bounds of one execd stand-in run.
const (
	checkKeysWait = 10 * time.Second // for the program's check_keys line
	programWait   = 90 * time.Second // for the program to exit
)

// Execution is one run of a program by the execd stand-in.
type Execution struct {
	AgentID string
	Command string   // "add" or "delete"
	Input   []byte   // the stdin line, without the newline
	Keys    []string // from the program's check_keys line
	Reply   string   // "continue" or "abort"; empty when no check_keys arrived
	Stderr  string
	Err     error // start failure, protocol failure or non-zero exit
	Done    bool  // the run, and for an emulated agent the forwarding of its result, ended
}

// process is a started Active Response program as wazuh-execd sees it:
// its stdin and stdout, and a wait for its exit.
type process struct {
	stdin  io.WriteCloser
	stdout io.Reader
	wait   func() (stderr string, err error) // err is non-nil for a non-zero exit
}

// launcher starts one run of a program for agent id.
type launcher func(ctx context.Context, id string) (*process, error)

// dispatch starts the program for a custom command on agent id, as the
// agent's wazuh-execd would after receiving the message: the configured
// program when Options.Programs names one, else the emulated
// smartpt-isolation when agent emulation is on. Built-in commands and other
// custom commands only queue.
func (s *Sim) dispatch(id, command string, body *arBody) {
	name, custom := strings.CutPrefix(command, "!")
	if !custom {
		return
	}

	alert := json.RawMessage("{}")
	if body.Alert != nil {
		alert = *body.Alert
	}
	msg := wazuhar.Message{
		Version: 1,
		Origin:  wazuhar.Origin{Name: s.opts.NodeName, Module: "wazuh-execd"},
		Command: wazuhar.CommandAdd,
		Parameters: wazuhar.Parameters{
			ExtraArgs: body.Arguments,
			Alert:     alert,
			Program:   "/var/ossec/active-response/bin/" + name,
		},
	}
	if argv := s.opts.Programs[name]; len(argv) > 0 {
		s.startExecution(id, execLauncher(argv), msg, nil)
		return
	}
	if em := s.emulationFor(name); em != nil {
		em.schedule(id, msg)
	}
}

// execLauncher starts argv as a process. "{agent_id}" in an argument is
// replaced by the agent's id.
func execLauncher(argv []string) launcher {
	return func(ctx context.Context, id string) (*process, error) {
		args := make([]string, len(argv))
		for i, a := range argv {
			args[i] = strings.ReplaceAll(a, "{agent_id}", id)
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", args[0], err)
		}
		wait := func() (string, error) {
			err := cmd.Wait()
			return stderr.String(), err
		}
		return &process{stdin: stdin, stdout: stdout, wait: wait}, nil
	}
}

// startExecution runs the program in the background; after, when set, is
// called with the agent id once the run has finished.
func (s *Sim) startExecution(id string, launch launcher, msg wazuhar.Message, after func(id string)) {
	exe := &Execution{AgentID: id, Command: msg.Command}
	s.mu.Lock()
	s.executions = append(s.executions, exe)
	s.mu.Unlock()

	s.execWaiters.Add(1)
	go func() {
		defer s.execWaiters.Done()
		s.run(id, launch, msg, exe, after)

		s.mu.Lock()
		exe.Done = true
		s.executionCond.Broadcast()
		s.mu.Unlock()
	}()
}

// run performs the execd side of the protocol: write the message, read
// check_keys, reply continue or abort from the timeout list, close stdin
// and wait for the program.
func (s *Sim) run(id string, launch launcher, msg wazuhar.Message, exe *Execution, after func(id string)) {
	ctx, cancel := context.WithTimeout(context.Background(), programWait)
	defer cancel()
	proc, err := launch(ctx, id)
	if err != nil {
		s.setErr(exe, err)
		return
	}
	if after != nil {
		defer after(id)
	}

	var line bytes.Buffer
	_ = wazuhar.WriteInput(&line, msg)
	s.mu.Lock()
	exe.Input = bytes.TrimSuffix(line.Bytes(), []byte("\n"))
	s.mu.Unlock()
	_, _ = proc.stdin.Write(line.Bytes())

	keys, err := readCheckKeys(proc.stdout)
	if err != nil {
		// execd logs "won't be added to timeout list" and closes the pipes.
		s.logger.Warn("wazuhsim: no check_keys from program", "agent", id, "error", err)
		proc.stdin.Close()
		s.finish(proc, exe, err)
		return
	}

	key := path.Base(msg.Parameters.Program)
	if len(keys) > 0 {
		key += "-" + strings.Join(keys, "-")
	}
	reply := s.checkTimeoutList(key)
	_ = wazuhar.WriteControl(proc.stdin, s.opts.NodeName, reply)
	proc.stdin.Close()

	s.mu.Lock()
	exe.Keys, exe.Reply = keys, reply
	s.mu.Unlock()
	s.finish(proc, exe, nil)

	if reply == wazuhar.CommandContinue && s.opts.CommandTimeout > 0 && msg.Command == wazuhar.CommandAdd {
		time.AfterFunc(s.opts.CommandTimeout, func() {
			s.mu.Lock()
			delete(s.timeoutList, key)
			s.mu.Unlock()
			deleteMsg := msg
			deleteMsg.Command = wazuhar.CommandDelete
			s.startExecution(id, launch, deleteMsg, after)
		})
	}
}

// checkTimeoutList returns abort when key is in the timeout list, and
// otherwise continue, adding key when commands have a timeout.
func (s *Sim) checkTimeoutList(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.timeoutList[key]; ok && time.Now().Before(exp) {
		s.timeoutList[key] = time.Now().Add(s.opts.CommandTimeout)
		return wazuhar.CommandAbort
	}
	if s.opts.CommandTimeout > 0 {
		s.timeoutList[key] = time.Now().Add(s.opts.CommandTimeout)
	}
	return wazuhar.CommandContinue
}

// readCheckKeys reads the program's first stdout line within checkKeysWait.
func readCheckKeys(stdout interface{ Read([]byte) (int, error) }) ([]string, error) {
	type result struct {
		keys []string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := wazuhar.ReadLine(bufio.NewReader(stdout), wazuhar.MaxLineBytes)
		if err != nil {
			done <- result{err: fmt.Errorf("read check_keys: %w", err)}
			return
		}
		ck, err := wazuhar.ParseCheckKeys(line)
		done <- result{keys: ck.Keys, err: err}
	}()
	select {
	case r := <-done:
		return r.keys, r.err
	case <-time.After(checkKeysWait):
		return nil, errors.New("no check_keys line within " + checkKeysWait.String())
	}
}

func (s *Sim) finish(proc *process, exe *Execution, protoErr error) {
	stderr, err := proc.wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	exe.Stderr = stderr
	exe.Err = errors.Join(protoErr, err)
}

func (s *Sim) setErr(exe *Execution, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exe.Err = err
}

// Executions returns copies of the program runs so far, in start order.
func (s *Sim) Executions() []Execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Execution, len(s.executions))
	for i, e := range s.executions {
		out[i] = *e
	}
	return out
}

// WaitExecutions waits until at least n runs have finished or timeout
// passes, and returns the runs so far.
func (s *Sim) WaitExecutions(n int, timeout time.Duration) []Execution {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.executionCond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()

	s.mu.Lock()
	for s.doneCount() < n && time.Now().Before(deadline) {
		s.executionCond.Wait()
	}
	s.mu.Unlock()
	return s.Executions()
}

// doneCount counts finished runs. The caller holds mu.
func (s *Sim) doneCount() int {
	n := 0
	for _, e := range s.executions {
		if e.Done {
			n++
		}
	}
	return n
}

// Close drops emulated runs still waiting for their delay, waits for
// running programs to finish, and removes the agent emulation's temporary
// folder.
func (s *Sim) Close() {
	s.mu.Lock()
	em := s.emulation
	s.mu.Unlock()
	if em != nil {
		em.cancel()
	}
	s.execWaiters.Wait()
	if em != nil && em.removeDir {
		_ = os.RemoveAll(em.cfg.Dir)
	}
}
