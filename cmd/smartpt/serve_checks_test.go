package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeMissingCertFailsBeforeServing(t *testing.T) {
	_, keyFile, _ := writeTestCert(t)
	env := map[string]string{
		"SMARTPT_DATA_DIR":      t.TempDir(),
		"SMARTPT_LISTEN":        "127.0.0.1:0",
		"SMARTPT_TLS_CERT_FILE": filepath.Join(t.TempDir(), "missing.pem"),
		"SMARTPT_TLS_KEY_FILE":  keyFile,
	}
	code, _, errOut := runCLI(t, env, "serve")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "missing.pem") {
		t.Errorf("stderr does not name the missing certificate file:\n%s", errOut)
	}
	if strings.Contains(errOut, "serving the SmartPT API") {
		t.Errorf("stderr announces serving before the certificate failed:\n%s", errOut)
	}
}

func TestServeShutdownLogsDurationAsText(t *testing.T) {
	env := map[string]string{
		"SMARTPT_DATA_DIR": t.TempDir(),
		"SMARTPT_LISTEN":   "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	ready := make(chan struct{})
	c := &cli{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] },
		listening: func(string, string) { close(ready) }}
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, []string{"serve"}) }()

	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d before serving:\n%s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start within 30s")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop within 40s")
	}

	log := stderr.String()
	if !strings.Contains(log, `"timeout":"30s"`) {
		t.Errorf("shutdown log does not give the timeout as \"30s\":\n%s", log)
	}
	if strings.Contains(log, "plain HTTP") {
		t.Errorf("serve on loopback warned about plain HTTP:\n%s", log)
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080}, true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, false},
		{&net.TCPAddr{IP: net.ParseIP("::"), Port: 8080}, false},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}, false},
	}
	for _, tc := range tests {
		if got := isLoopback(tc.addr); got != tc.want {
			t.Errorf("isLoopback(%v) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}
