// Command smartpt-isolation isolates the host it runs on, or lifts that
// isolation, as a Wazuh Active Response program.
//
// wazuh-execd starts it as root (SYSTEM on Windows) from active-response/bin
// and writes one JSON message on stdin (see package wazuhar for the
// protocol). The action and the addresses that stay reachable come from the
// message, in extra_args or alert.data. The manager addresses in the agent's
// ossec.conf stay reachable as well.
// The result goes to active-responses.log as one JSON line. The logic
// lives in package isolationar; this file reads the flags.
//
// Usage (flags are for installation and tests; execd passes none):
//
//	smartpt-isolation [--backend auto|nftables|iptables|windows-firewall|record]
//	    [--log FILE] [--state FILE] [--ossec-conf FILE] [--client-keys FILE]
//	    [--agent-id ID] [--allow ADDRESSES] [--record-file FILE] [--reply-wait DURATION]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/smartpt/smartpt/internal/isolation"
	"github.com/smartpt/smartpt/internal/isolationar"
)

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	d := defaultPaths()
	fs := flag.NewFlagSet("smartpt-isolation", flag.ContinueOnError)
	backendName := fs.String("backend", "auto", "firewall backend: auto, nftables, iptables, windows-firewall, or record (changes nothing, writes to --record-file)")
	logPath := fs.String("log", d.log, "active response log the result line is appended to")
	statePath := fs.String("state", d.state, "file recording the current isolation")
	ossecConf := fs.String("ossec-conf", d.ossecConf, "agent configuration whose <client><server><address> entries stay reachable")
	clientKeys := fs.String("client-keys", d.clientKeys, "client.keys, read for this agent's id")
	agent := fs.String("agent-id", "", "this agent's id; read from --client-keys when empty")
	allow := fs.String("allow", "", "comma-separated addresses or CIDR prefixes that always stay reachable")
	recordFile := fs.String("record-file", "", "file the record backend appends to")
	replyWait := fs.Duration("reply-wait", 60*time.Second, "how long to wait for wazuh-execd's continue or abort")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	backend, err := isolation.Detect(*backendName, *recordFile, isolation.ExecRunner{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "smartpt-isolation:", err)
		return 2
	}

	id := *agent
	if id == "" {
		id = isolationar.AgentID(*clientKeys)
	}
	var extra []string
	if *allow != "" {
		extra = strings.Split(*allow, ",")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &isolationar.Program{
		In:         bufio.NewReaderSize(os.Stdin, 64<<10),
		Out:        os.Stdout,
		ErrOut:     os.Stderr,
		Backend:    backend,
		LogPath:    *logPath,
		StatePath:  *statePath,
		OssecConf:  *ossecConf,
		AgentID:    id,
		ReplyWait:  *replyWait,
		ExtraAllow: extra,
	}
	return p.Run(ctx)
}
