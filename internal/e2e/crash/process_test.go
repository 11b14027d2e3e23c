package crash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the smartpt executable built once for the package's tests.
var binary struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// buildSmartpt builds cmd/smartpt into a temporary folder, once.
func buildSmartpt(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "smartpt-crash-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "smartpt")
		cmd := exec.Command("go", "build", "-o", binary.path, "github.com/smartpt/smartpt/cmd/smartpt")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build cmd/smartpt: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// deployment is the store and environment every smartpt process of one
// test shares.
type deployment struct {
	t   *testing.T
	bin string
	env []string

	// storeArgs select the store: --data DIR or --database-url URL.
	storeArgs []string
	dir       string
}

func newDeployment(t *testing.T, storeArgs []string, extraEnv ...string) *deployment {
	t.Helper()
	dir := t.TempDir()
	env := append(os.Environ(),
		"SMARTPT_MASTER_KEY="+strings.Repeat("3c", 32),
		"SMARTPT_LOG_LEVEL=info",
		"SMARTPT_LOG_FORMAT=json",
		// Reports and notifications go to files; no test here sends any.
		"SMARTPT_OUTBOX_DIR="+filepath.Join(dir, "outbox"),
	)
	env = append(env, extraEnv...)
	return &deployment{t: t, bin: buildSmartpt(t), env: env, storeArgs: storeArgs, dir: dir}
}

// cli runs one administration command and returns its standard output.
func (d *deployment) cli(args ...string) string {
	d.t.Helper()
	cmd := exec.Command(d.bin, append(args, d.storeArgs...)...)
	cmd.Env = d.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("smartpt %s: %v\n%s", strings.Join(args[:min(2, len(args))], " "), err, stderr.String())
	}
	return stdout.String()
}

// createCompany creates a company and returns its key.
func (d *deployment) createCompany(name string) string {
	d.t.Helper()
	out := d.cli("company", "create", name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	if len(key) != 64 {
		d.t.Fatalf("company create %s printed %q; want the key on its last line", name, out)
	}
	return key
}

// server is one running smartpt serve process.
type server struct {
	name string
	cmd  *exec.Cmd
	url  string
	log  string // path of its log file
	done chan struct{}
}

// serve starts smartpt serve on a free loopback port and waits until it
// accepts requests. The process is killed at the end of the test.
func (d *deployment) serve(name string) *server {
	d.t.Helper()
	logPath := filepath.Join(d.dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logFile.Close()

	pr, pw, err := os.Pipe()
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command(d.bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, d.storeArgs...)...)
	cmd.Env = d.env
	cmd.Stdout = logFile
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start smartpt serve: %v", err)
	}
	pw.Close()
	s := &server{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	d.t.Cleanup(func() { s.kill() })

	// Copy the log to the file, and pick the API's URL from the start line.
	urls := make(chan string, 1)
	copyLog, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	go func() {
		defer copyLog.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			fmt.Fprintf(copyLog, "%s\n", line)
			if sent {
				continue
			}
			var rec struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "serving the SmartPT API" && rec.URL != "" {
				urls <- rec.URL
				sent = true
			}
		}
		pr.Close()
	}()

	select {
	case s.url = <-urls:
		return s
	case <-s.done:
		d.t.Fatalf("smartpt serve %s exited before serving; log:\n%s", name, tail(logPath))
	case <-time.After(30 * time.Second):
		d.t.Fatalf("smartpt serve %s did not start within 30 s; log:\n%s", name, tail(logPath))
	}
	return nil
}

// kill sends SIGKILL and waits for the process to end.
func (s *server) kill() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// tail returns the last lines of a log file, for failure messages.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// waitFor polls cond until it returns true or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
