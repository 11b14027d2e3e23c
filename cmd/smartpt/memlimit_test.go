package main

import (
	"bytes"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestApplyMemoryLimit(t *testing.T) {
	saved := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(saved) })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	tests := []struct {
		name  string
		limit int64
		want  int64
	}{
		{"set", 96 << 20, 96 << 20},
		{"zero keeps the runtime's limit", 0, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			applyMemoryLimit(tt.limit, logger)
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("memory limit = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestApplyGCPercent(t *testing.T) {
	saved := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(saved) })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	tests := []struct {
		name       string
		configured int
		gogc       string
		want       int
	}{
		{"default", 0, "", 50},
		{"gc_percent", 80, "", 80},
		{"gc_percent over GOGC", 80, "200", 80},
		{"GOGC kept", 0, "200", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 100 stands for whatever GOGC made the runtime start with.
			debug.SetGCPercent(100)
			applyGCPercent(tt.configured, tt.gogc, logger)
			if got := debug.SetGCPercent(100); got != tt.want {
				t.Errorf("GC percent = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestApplyGCMemoryFloor(t *testing.T) {
	savedGC := debug.SetGCPercent(100)
	savedLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(savedGC)
		debug.SetMemoryLimit(savedLimit)
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	tests := []struct {
		name       string
		floor      int64
		configured int
		gogc       string
		started    bool
	}{
		{"default percent", 32 << 20, 0, "", true},
		{"gc_percent", 32 << 20, 80, "", true},
		{"gc_percent over GOGC", 32 << 20, 80, "200", true},
		{"GOGC alone", 32 << 20, 0, "200", false},
		{"floor off", 0, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			floor := applyGCMemoryFloor(tt.floor, tt.configured, tt.gogc, logger)
			if (floor != nil) != tt.started {
				t.Fatalf("floor started = %t, want %t", floor != nil, tt.started)
			}
			if floor == nil {
				return
			}
			// Started below the floor: no percentage, the floor as limit.
			if got := debug.SetMemoryLimit(-1); got != tt.floor {
				t.Errorf("memory limit = %d, want the floor %d", got, tt.floor)
			}
			floor.Stop()
			if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
				t.Errorf("memory limit after Stop = %d, want none", got)
			}
		})
	}
}

// TestApplyGCMemoryFloorLog checks that the startup log contains the floor
// in force after the memory limit capped it, and the reason GOGC turns it
// off.
func TestApplyGCMemoryFloorLog(t *testing.T) {
	savedGC := debug.SetGCPercent(100)
	savedLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(savedGC)
		debug.SetMemoryLimit(savedLimit)
	})

	tests := []struct {
		name     string
		floor    int64
		limit    int64 // memory limit before the floor starts
		gogc     string
		wantLogs []string
	}{
		{"no limit", 32 << 20, math.MaxInt64, "", []string{"gc_memory_floor_bytes=33554432 gc_percent=50"}},
		{"limit below floor", 64 << 20, 48 << 20, "", []string{
			"gc_memory_floor lowered to the memory limit",
			"gc_memory_floor_bytes=50331648 gc_percent=50",
		}},
		{"GOGC alone", 32 << 20, math.MaxInt64, "80", []string{"gc_memory_floor not applied because GOGC sets the GC percentage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(tt.limit)
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))

			floor := applyGCMemoryFloor(tt.floor, 0, tt.gogc, logger)
			if floor != nil {
				floor.Stop()
			}

			for _, want := range tt.wantLogs {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log does not contain %q:\n%s", want, logs.String())
				}
			}
		})
	}
}
