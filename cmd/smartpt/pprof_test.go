package main

import (
	"runtime"
	"testing"
)

func TestSetHeapSampling(t *testing.T) {
	saved := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = saved })

	cases := []struct {
		name      string
		pprofAddr string
		want      int
	}{
		{"profiles served", "127.0.0.1:6060", saved},
		{"no profiles", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runtime.MemProfileRate = saved
			setHeapSampling(tc.pprofAddr)
			if runtime.MemProfileRate != tc.want {
				t.Errorf("MemProfileRate = %d, want %d", runtime.MemProfileRate, tc.want)
			}
		})
	}
}
