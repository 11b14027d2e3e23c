//go:build linux

package isolation

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/wazuhar"
)

// The namespace test builds three network namespaces joined by veth pairs:
//
//	manager 192.0.2.2/30 ── 192.0.2.1/30 agent 192.0.2.5/30 ── 192.0.2.6/30 other
//
// (192.0.2.0/24 is TEST-NET-1, RFC 5737). A TCP listener runs in manager and
// in other; the backend under test runs in the agent namespace through
// "ip netns exec". Nothing touches the host's own namespace.
const (
	nsAgentToManager = "192.0.2.1"
	nsManager        = "192.0.2.2"
	nsAgentToOther   = "192.0.2.5"
	nsOther          = "192.0.2.6"
	nsListenPort     = "7777"
)

// helperEnv makes the test binary act as a listener or a dialer when it is
// started inside a namespace by the test.
const helperEnv = "SMARTPT_NETNS_HELPER"

// TestNetnsHelper is not a test: it is the body of the helper process.
func TestNetnsHelper(t *testing.T) {
	mode, addr, ok := strings.Cut(os.Getenv(helperEnv), "=")
	if !ok {
		t.Skip("helper process for the namespace test")
	}
	switch mode {
	case "listen":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("listening")
		for {
			conn, err := ln.Accept()
			if err != nil {
				os.Exit(0)
			}
			_, _ = conn.Write([]byte("ok\n"))
			conn.Close()
		}
	case "dial":
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			os.Exit(1)
		}
		buf := make([]byte, 3)
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := conn.Read(buf)
		conn.Close()
		if string(buf[:n]) != "ok\n" {
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// netnsRunner runs every command inside one namespace.
type netnsRunner struct{ ns string }

func (r netnsRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	return ExecRunner{}.Run(ctx, stdin, "ip", append([]string{"netns", "exec", r.ns, name}, args...)...)
}

type netnsLab struct {
	t                     *testing.T
	agent, manager, other string
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// newNetnsLab creates the namespaces and listeners and removes them all at
// the end of the test, including after a failure.
func newNetnsLab(t *testing.T) *netnsLab {
	t.Helper()
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	lab := &netnsLab{t: t, agent: "spt-agent-" + suffix, manager: "spt-mgr-" + suffix, other: "spt-oth-" + suffix}

	for _, ns := range []string{lab.agent, lab.manager, lab.other} {
		_ = exec.Command("ip", "netns", "del", ns).Run() // a leftover of a killed run
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}

	link := func(peer, agentIf, peerIf, agentAddr, peerAddr string) {
		run(t, "ip", "-n", lab.agent, "link", "add", agentIf, "type", "veth", "peer", "name", peerIf, "netns", peer)
		run(t, "ip", "-n", lab.agent, "addr", "add", agentAddr+"/30", "dev", agentIf)
		run(t, "ip", "-n", peer, "addr", "add", peerAddr+"/30", "dev", peerIf)
		run(t, "ip", "-n", lab.agent, "link", "set", agentIf, "up")
		run(t, "ip", "-n", peer, "link", "set", peerIf, "up")
	}
	link(lab.manager, "to-mgr", "to-agent", nsAgentToManager, nsManager)
	link(lab.other, "to-oth", "to-agent", nsAgentToOther, nsOther)

	lab.listen(lab.manager, nsManager)
	lab.listen(lab.other, nsOther)
	return lab
}

func (lab *netnsLab) listen(ns, addr string) {
	t := lab.t
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestNetnsHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=listen="+net.JoinHostPort(addr, nsListenPort))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	buf := make([]byte, len("listening"))
	if _, err := stdout.Read(buf); err != nil || string(buf) != "listening" {
		t.Fatalf("listener in %s did not start: %q %v", ns, buf, err)
	}
}

// reaches reports whether the agent namespace can open a TCP connection to
// addr and read the listener's greeting.
func (lab *netnsLab) reaches(addr string) bool {
	cmd := exec.Command("ip", "netns", "exec", lab.agent, os.Args[0], "-test.run=^TestNetnsHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=dial="+net.JoinHostPort(addr, nsListenPort))
	return cmd.Run() == nil
}

func (lab *netnsLab) check(step string, wantManager, wantOther bool) {
	lab.t.Helper()
	if got := lab.reaches(nsManager); got != wantManager {
		lab.t.Errorf("%s: agent reaches manager = %v, want %v", step, got, wantManager)
	}
	if got := lab.reaches(nsOther); got != wantOther {
		lab.t.Errorf("%s: agent reaches other host = %v, want %v", step, got, wantOther)
	}
}

func (lab *netnsLab) output(name string, args ...string) string {
	lab.t.Helper()
	out, err := netnsRunner{lab.agent}.Run(context.Background(), nil, name, args...)
	if err != nil {
		lab.t.Fatalf("%s %v in agent namespace: %v", name, args, err)
	}
	return string(out)
}

func requireNetnsTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		requireInCI(t, "the namespace test needs root to create network namespaces")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			requireInCI(t, "the namespace test needs "+tool+" (install iproute2, nftables and iptables)")
		}
	}
}

func TestNetnsIsolationNFTables(t *testing.T) {
	requireNetnsTools(t, "nft")
	lab := newNetnsLab(t)
	ctx := context.Background()
	backend := &NFTables{Runner: netnsRunner{lab.agent}}

	// A rule set of the host's own, which release must leave as it was.
	lab.output("nft", "add", "table", "inet", "host_own")
	lab.output("nft", "add", "chain", "inet", "host_own", "in", "{ type filter hook input priority 0; policy accept; }")
	lab.output("nft", "add", "rule", "inet", "host_own", "in", "tcp", "dport", "22", "counter", "accept")
	before := lab.output("nft", "list", "ruleset")

	lab.check("before isolation", true, true)

	allow := mustAllow(t, nsManager, "2001:db8::1")
	if err := backend.Isolate(ctx, allow); err != nil {
		t.Fatal(err)
	}
	lab.check("after isolate", true, false)

	if err := backend.Isolate(ctx, allow); err != nil {
		t.Fatalf("second isolate: %v", err)
	}
	if n := strings.Count(lab.output("nft", "list", "tables"), NFTTable); n != 1 {
		t.Errorf("after isolating twice there are %d isolation tables, want 1", n)
	}
	lab.check("after second isolate", true, false)

	if err := backend.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lab.check("after release", true, true)
	if after := lab.output("nft", "list", "ruleset"); after != before {
		t.Errorf("release did not restore the rule set\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if err := backend.Release(ctx); err != nil {
		t.Errorf("second release: %v", err)
	}
}

func TestNetnsIsolationIPTables(t *testing.T) {
	requireNetnsTools(t, "iptables", "iptables-restore", "ip6tables", "ip6tables-restore")
	lab := newNetnsLab(t)
	ctx := context.Background()
	backend := &IPTables{Runner: netnsRunner{lab.agent}}

	lab.output("iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
	before := lab.output("iptables-save", "-t", "filter")

	lab.check("before isolation", true, true)
	if err := backend.Isolate(ctx, []netip.Prefix{netip.MustParsePrefix(nsManager + "/32")}); err != nil {
		t.Fatal(err)
	}
	lab.check("after isolate", true, false)
	if err := backend.Isolate(ctx, []netip.Prefix{netip.MustParsePrefix(nsManager + "/32")}); err != nil {
		t.Fatalf("second isolate: %v", err)
	}
	if n := strings.Count(lab.output("iptables", "-w", "-S", "INPUT"), "-j "+IPTChainIn); n != 1 {
		t.Errorf("INPUT has %d jumps to the isolation chain, want 1", n)
	}
	lab.check("after second isolate", true, false)

	if err := backend.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lab.check("after release", true, true)
	if after := lab.output("iptables-save", "-t", "filter"); stripComments(after) != stripComments(before) {
		t.Errorf("release did not restore the filter table\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// stripComments drops iptables-save's comment lines, which carry a time.
func stripComments(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestNetnsProgramIsolatesAgent runs the smartpt-isolation program itself in
// the agent namespace, speaking the Active Response protocol as
// wazuh-execd does. The request names no address: the manager stays
// reachable because the agent's ossec.conf names it.
func TestNetnsProgramIsolatesAgent(t *testing.T) {
	requireNetnsTools(t, "nft")
	dir := t.TempDir()
	bin := filepath.Join(dir, "smartpt-isolation")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/smartpt/smartpt/cmd/smartpt-isolation").CombinedOutput(); err != nil {
		t.Fatalf("build smartpt-isolation: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "ossec.conf")
	ossec := "<ossec_config><client><server><address>" + nsManager + "</address></server></client></ossec_config>"
	if err := os.WriteFile(conf, []byte(ossec), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "active-responses.log")
	lab := newNetnsLab(t)

	runProgram := func(action string) {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", lab.agent, bin, "--backend=nftables", "--log="+logPath,
			"--state="+filepath.Join(dir, "state.json"), "--ossec-conf="+conf, "--agent-id=003", "--reply-wait=10s")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		msg := wazuhar.Message{Origin: wazuhar.Origin{Name: "node01", Module: "wazuh-execd"}, Command: wazuhar.CommandAdd,
			Parameters: wazuhar.Parameters{ExtraArgs: []string{action}, Program: "/var/ossec/active-response/bin/smartpt-isolation"}}
		if err := wazuhar.WriteInput(stdin, msg); err != nil {
			t.Fatal(err)
		}
		line, err := wazuhar.ReadLine(bufio.NewReader(stdout), wazuhar.MaxLineBytes)
		if err != nil {
			t.Fatalf("%s: no check_keys: %v (%s)", action, err, stderr.String())
		}
		if _, err := wazuhar.ParseCheckKeys(line); err != nil {
			t.Fatal(err)
		}
		if err := wazuhar.WriteControl(stdin, "node01", wazuhar.CommandContinue); err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			data, _ := os.ReadFile(logPath)
			t.Fatalf("%s: %v\n%s\n%s", action, err, stderr.String(), data)
		}
	}

	runProgram("isolate")
	lab.check("after the program isolated", true, false)
	runProgram("release")
	lab.check("after the program released", true, true)

	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"result":"success"`) || !strings.Contains(lines[1], `"action":"releaseisolate"`) {
		t.Errorf("log lines:\n%s", data)
	}
}
