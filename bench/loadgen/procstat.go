package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/PID/stat. Linux reports these fields in USER_HZ, which is 100 on
// every architecture Go supports (proc(5), "/proc/pid/stat"), so it is not
// read with sysconf, which would need cgo.
const clockTicksPerSecond = 100

// ProcSample is one reading of a process's memory and CPU time.
type ProcSample struct {
	PID       int
	PeakRSS   int64         // VmHWM in bytes: the highest resident set size so far
	RSS       int64         // VmRSS in bytes at the time of reading
	CPU       time.Duration // user plus system time since the process started
	Threads   int
	Timestamp time.Time
}

// ReadProc reads /proc/PID/status and /proc/PID/stat. It works on Linux only.
func ReadProc(pid int) (ProcSample, error) {
	sample := ProcSample{PID: pid, Timestamp: time.Now()}

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return sample, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	if err := parseStatus(status, &sample); err != nil {
		return sample, fmt.Errorf("parse /proc/%d/status: %w", pid, err)
	}

	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return sample, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return sample, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	sample.CPU = cpu
	return sample, nil
}

// parseStatus reads VmHWM, VmRSS and Threads, whose sizes /proc reports in
// kB (that is KiB).
func parseStatus(data []byte, s *ProcSample) error {
	found := 0
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmHWM":
			s.PeakRSS = n * 1024
			found++
		case "VmRSS":
			s.RSS = n * 1024
			found++
		case "Threads":
			s.Threads = int(n)
		}
	}
	if found < 2 {
		return fmt.Errorf("VmHWM or VmRSS missing (a kernel thread or a zombie process has neither)")
	}
	return nil
}

// parseStatCPU returns utime + stime. The second field, the command name,
// may contain spaces and parentheses, so fields are counted from the last
// ')' on: utime and stime are fields 14 and 15 of the line.
func parseStatCPU(data []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("no ')' after the command name")
	}
	fields := strings.Fields(string(data[end+1:]))

	// fields[0] is field 3 (state), so field k is fields[k-3].
	if len(fields) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name, want at least 13", len(fields))
	}
	utime, err := strconv.ParseInt(fields[14-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", fields[14-3], err)
	}
	stime, err := strconv.ParseInt(fields[15-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", fields[15-3], err)
	}
	ticks := utime + stime
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}
