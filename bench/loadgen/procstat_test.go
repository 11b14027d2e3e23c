package loadgen

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		name string
		line string
		want time.Duration
	}{
		{"plain", "1234 (smartpt) S 1 1234 1234 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 9 0 100 0 0", 2 * time.Second},
		{"command with spaces and parens", "99 (a b) (c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 100 * time.Millisecond},
	}
	for _, tc := range cases {
		got, err := parseStatCPU([]byte(tc.line))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: CPU = %v, want %v", tc.name, got, tc.want)
		}
	}

	if _, err := parseStatCPU([]byte("12 (x) S 1 2")); err == nil {
		t.Error("short stat line: no error, want one")
	}
}

func TestParseStatus(t *testing.T) {
	data := "Name:\tsmartpt\nVmPeak:\t  900 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nThreads:\t12\n"
	var s ProcSample
	if err := parseStatus([]byte(data), &s); err != nil {
		t.Fatal(err)
	}
	if s.PeakRSS != 40<<20 || s.RSS != 20<<20 || s.Threads != 12 {
		t.Errorf("got peak %d, rss %d, threads %d; want %d, %d, 12", s.PeakRSS, s.RSS, s.Threads, 40<<20, 20<<20)
	}

	if err := parseStatus([]byte("Name:\tkthreadd\nThreads:\t1\n"), &s); err == nil {
		t.Error("status without VmHWM: no error, want one")
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc on this system: %v", err)
	}
	if s.PeakRSS <= 0 || s.RSS <= 0 || s.PeakRSS < s.RSS {
		t.Errorf("peak RSS %d, RSS %d: want 0 < RSS <= peak", s.PeakRSS, s.RSS)
	}
	if s.Threads < 1 {
		t.Errorf("threads = %d, want at least 1", s.Threads)
	}
}
