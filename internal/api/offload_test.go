package api

import (
	"bytes"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// goroutineID returns the id that runtime.Stack prints for the calling
// goroutine ("goroutine 12 [running]:").
func goroutineID(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	fields := bytes.Fields(buf)
	if len(fields) < 2 || string(fields[0]) != "goroutine" {
		t.Fatalf("unexpected runtime.Stack header %q", buf)
	}
	return string(fields[1])
}

func TestOffloadRunsOnOtherGoroutine(t *testing.T) {
	caller := goroutineID(t)
	var inside string
	offload(func() { inside = goroutineID(t) })

	if inside == "" {
		t.Fatal("fn did not run before offload returned")
	}
	if inside == caller {
		t.Errorf("fn ran on the caller's goroutine %s", caller)
	}
}

func TestOffloadRaisesPanicOnCaller(t *testing.T) {
	cause := errors.New("engine bug")
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		offload(func() { panic(cause) })
	}()

	p, ok := recovered.(*offloadedPanic)
	if !ok {
		t.Fatalf("recovered %T %v, want *offloadedPanic", recovered, recovered)
	}
	if p.value != cause {
		t.Errorf("panic value = %v, want %v", p.value, cause)
	}
	if !strings.Contains(p.String(), "engine bug") {
		t.Errorf("String() = %q, want the panic value in it", p.String())
	}
	if !strings.Contains(string(p.stack), "TestOffloadRaisesPanicOnCaller") {
		t.Errorf("stack does not show the panicking function:\n%s", p.stack)
	}
}

func TestOffloadKeepsErrAbortHandler(t *testing.T) {
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		offload(func() { panic(http.ErrAbortHandler) })
	}()

	if recovered != http.ErrAbortHandler {
		t.Errorf("recovered %v, want http.ErrAbortHandler unchanged", recovered)
	}
}
