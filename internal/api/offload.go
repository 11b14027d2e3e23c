package api

import (
	"fmt"
	"net/http"
	"runtime/debug"
)

// offload runs fn on a goroutine of its own and returns when fn returns.
//
// Authentication and action requests call the store and the engine through
// it. Those calls reach SQLite (modernc.org/sqlite runs its C code,
// translated to Go, on the caller's stack) and vendor clients, and need 8 to
// 16 KiB of stack. Made on a connection's goroutine, they would grow its
// stack to 16 KiB on every request. Go halves a stack only during a GC, and
// only while the goroutine uses less than a quarter of it, so most requests
// that wait for an action slot would hold 16 KiB instead of the 8 KiB that
// reading, checking and responding to a request need: about 8 MiB more with
// 1,000 waiting requests. A short-lived goroutine gives its stack back as
// soon as fn returns.
//
// A panic in fn is raised again on the caller's goroutine, so that the
// observe middleware turns it into a 500 as before. The value becomes an
// offloadedPanic that carries fn's stack trace, except http.ErrAbortHandler,
// which net/http must see unchanged.
func offload(fn func()) {
	var recovered *offloadedPanic
	done := make(chan struct{})
	go func() {
		growStack()
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				recovered = &offloadedPanic{value: v, stack: debug.Stack()}
			}
		}()
		fn()
	}()
	<-done

	if recovered != nil {
		if recovered.value == http.ErrAbortHandler {
			panic(http.ErrAbortHandler)
		}
		panic(recovered)
	}
}

// offloadedPanic is a panic raised by a function that offload ran.
type offloadedPanic struct {
	value any
	stack []byte // the stack trace of the goroutine that panicked
}

func (p *offloadedPanic) String() string {
	return fmt.Sprintf("%v\n\ngoroutine that panicked:\n%s", p.value, p.stack)
}

// offloadStack is the stack, in bytes, that growStack makes a goroutine
// start with, about what a request's store and vendor calls use. A new
// goroutine's stack starts small and doubles each time a call needs more,
// copying and fixing up every frame it holds each time. In a status read
// the copies took about 5 % of the gateway's CPU, as most of them happened
// deep in SQLite's code. Grown once at the start, while the stack holds
// one frame, the stack is copied once and cheaply.
const offloadStack = 12 << 10

// growStack makes the calling goroutine's stack big enough for a frame of
// offloadStack bytes, with one copy of a nearly empty stack. Its frame is
// the array, which keepFrame's use keeps from being optimised away.
//
//go:noinline
func growStack() {
	var frame [offloadStack]byte
	keepFrame(&frame)
}

//go:noinline
func keepFrame(*[offloadStack]byte) {}
