package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// setHeapSampling turns off the runtime's sampling of heap allocations
// unless pprofAddr (SMARTPT_PPROF_ADDR) is set. Only startProfiler serves
// the heap profile, and without it nothing reads the samples, whose records
// took about 1.4 MiB at 1,000 connections (bench/run.sh conns).
func setHeapSampling(pprofAddr string) {
	if pprofAddr == "" {
		runtime.MemProfileRate = 0
	}
}

// startProfiler serves Go's profiles (net/http/pprof) on addr when addr is
// set, for measuring the server under load. It refuses any address that is
// not loopback, because profiles show request data held in memory. It
// also samples blocking events of 10 µs and more, and one mutex contention
// in 100, which costs a little CPU while it runs. The server stops with ctx.
func startProfiler(ctx context.Context, addr string, logger *slog.Logger) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("SMARTPT_PPROF_ADDR %q is not HOST:PORT: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("SMARTPT_PPROF_ADDR %q must be a loopback address such as 127.0.0.1:6060: profiles expose memory contents", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for profiles on %s: %w", addr, err)
	}

	runtime.SetBlockProfileRate(int((10 * time.Microsecond).Nanoseconds()))
	runtime.SetMutexProfileFraction(100)

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("profile server stopped", "addr", addr, "error", err)
		}
	}()
	logger.Warn("serving Go profiles; unset SMARTPT_PPROF_ADDR outside measurements", "addr", ln.Addr().String())
	return nil
}
