package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/action"
)

// blockingExecutor holds every Execute until release is closed and ignores
// its context, as a slow vendor call would.
type blockingExecutor struct {
	*fakeExecutor
	entered chan struct{}
	release chan struct{}
}

func (b *blockingExecutor) Execute(ctx context.Context, req action.Request) (*action.Result, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.fakeExecutor.Execute(ctx, req)
}

// TestMaxConcurrentActions checks the bound on actions in progress. With
// one slot taken, a second request waits, then gets 503 with Retry-After
// when the action timeout ends, and never reaches the engine, but is
// recorded as rejected. Once the slot frees, requests go through again.
func TestMaxConcurrentActions(t *testing.T) {
	exec := &blockingExecutor{fakeExecutor: newFakeExecutor(), entered: make(chan struct{}, 4), release: make(chan struct{})}
	h := newHarness(t, exec, func(c *Config) {
		c.MaxConcurrentActions = 1
		c.ActionTimeout = 300 * time.Millisecond
	})
	body := `{"action":"status","Email":"soc@example.com","agent_id":"001"}`

	first := make(chan response, 1)
	go func() { first <- h.post("/wazuh/agents", body) }()
	<-exec.entered

	second := h.post("/wazuh/agents", body)
	if second.Status != http.StatusServiceUnavailable || second.Header.Get("Retry-After") != "1" {
		t.Fatalf("second request: %d, Retry-After %q, %s; want 503 with Retry-After 1", second.Status, second.Header.Get("Retry-After"), second.Raw)
	}
	if len(exec.entered) != 0 {
		t.Fatal("the waiting request reached the engine")
	}
	exec.mu.Lock()
	rejects := append([]string(nil), exec.rejects...)
	exec.mu.Unlock()
	if len(rejects) != 1 || !strings.Contains(rejects[0], "001: Service Unavailable: 1 actions are in progress") {
		t.Errorf("rejects recorded: %q, want one for agent 001 with the 503 message", rejects)
	}

	close(exec.release)
	<-first
	third := h.post("/wazuh/agents", body)
	if third.Status != http.StatusOK {
		t.Fatalf("after the slot freed: %d %s, want 200", third.Status, third.Raw)
	}
}

// TestDefaultMaxConcurrentActions checks that a server without the setting
// works on DefaultMaxConcurrentActions (128) actions at once: 128 requests
// reach the engine together, and the next one gets 503.
func TestDefaultMaxConcurrentActions(t *testing.T) {
	const want = 128
	exec := &blockingExecutor{fakeExecutor: newFakeExecutor(), entered: make(chan struct{}, want+1), release: make(chan struct{})}
	h := newHarness(t, exec, func(c *Config) {
		c.MaxConcurrentActions = 0
		c.ActionTimeout = 300 * time.Millisecond
	})
	body := `{"action":"status","Email":"soc@example.com","agent_id":"001"}`

	done := make(chan response, want)
	for range want {
		go func() { done <- h.post("/wazuh/agents", body) }()
	}
	for range want {
		<-exec.entered
	}

	extraDone := make(chan response, 1)
	go func() { extraDone <- h.post("/wazuh/agents", body) }()
	var extra response
	select {
	case <-exec.entered:
		close(exec.release)
		t.Fatalf("request %d reached the engine, want it to wait for a slot", want+1)
	case extra = <-extraDone:
	}

	if extra.Status != http.StatusServiceUnavailable {
		t.Errorf("request %d: %d %s, want 503", want+1, extra.Status, extra.Raw)
	}
	if !strings.Contains(message(extra), "128 actions are in progress") {
		t.Errorf("request %d: message %q, want it to name 128 actions in progress", want+1, message(extra))
	}

	close(exec.release)
	for range want {
		if r := <-done; r.Status != http.StatusOK {
			t.Errorf("request in a slot: %d %s, want 200", r.Status, r.Raw)
		}
	}
}
