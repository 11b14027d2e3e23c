package exepages

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func release() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("find the executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read the process's mappings: %w", err)
	}
	defer f.Close()

	mappings, err := ReadOnlyMappings(f, exe)
	if err != nil {
		return 0, err
	}

	var total int64
	for _, m := range mappings {
		// MADV_DONTNEED on a private file mapping discards the page table
		// entries, and the next access maps the file's page again. That is
		// only lossless for pages never written, which ReadOnlyMappings
		// checked.
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.Start, m.End-m.Start, syscall.MADV_DONTNEED)
		if errno != 0 {
			return total, fmt.Errorf("madvise(MADV_DONTNEED) on %#x-%#x: %w", m.Start, m.End, errno)
		}
		total += int64(m.End - m.Start)
	}
	return total, nil
}

// ReadOnlyMappings parses smaps, the format of /proc/PID/smaps, and returns
// the mappings of the file exe that are neither writable nor hold an
// anonymous page. An anonymous page in a file mapping is a private copy
// that the process wrote, for example a relocation that the dynamic loader
// applied before it made the range read-only. Dropping it would lose the
// write, so such a mapping is skipped.
func ReadOnlyMappings(smaps io.Reader, exe string) ([]Mapping, error) {
	var out []Mapping
	var current *Mapping // the exe's read-only mapping being read, if any
	keep := func() {
		if current != nil {
			out = append(out, *current)
			current = nil
		}
	}

	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}

		// A mapping's header line: "START-END PERMS OFFSET DEV INODE [PATH]".
		if start, end, ok := parseRange(fields[0]); ok && len(fields) >= 5 {
			keep()
			path := strings.Join(fields[5:], " ")
			if path == exe && len(fields[1]) == 4 && fields[1][0] == 'r' && fields[1][1] == '-' {
				current = &Mapping{Start: start, End: end}
			}
			continue
		}

		// A field of the mapping's statistics: "Anonymous:   0 kB".
		if current != nil && fields[0] == "Anonymous:" && len(fields) >= 2 && fields[1] != "0" {
			current = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the process's mappings: %w", err)
	}
	keep()
	return out, nil
}

// parseRange parses "START-END" in hexadecimal.
func parseRange(s string) (start, end uintptr, ok bool) {
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	a, err := strconv.ParseUint(lo, 16, 64)
	if err != nil {
		return 0, 0, false
	}
	b, err := strconv.ParseUint(hi, 16, 64)
	if err != nil || b <= a {
		return 0, 0, false
	}
	return uintptr(a), uintptr(b), true
}
