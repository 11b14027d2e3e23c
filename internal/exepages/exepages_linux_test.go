package exepages

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sampleSmaps = `00400000-01015000 r-xp 00000000 fe:00 9994299                            /opt/smartpt/smartpt
Size:              12372 kB
Rss:               10260 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
01015000-01cdf000 r--p 00c15000 fe:00 9994299                            /opt/smartpt/smartpt
Size:              13096 kB
Rss:               10088 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
01cdf000-01da0000 rw-p 018df000 fe:00 9994299                            /opt/smartpt/smartpt
Size:                772 kB
Anonymous:           200 kB
VmFlags: rd wr mr mw me ac
01da0000-01da4000 r--p 019a0000 fe:00 9994299                            /opt/smartpt/smartpt
Size:                 16 kB
Anonymous:             8 kB
VmFlags: rd mr mw me
7f0000000000-7f0000200000 r-xp 00000000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libc.so.6
Size:               2048 kB
Anonymous:             0 kB
7f0000300000-7f0000400000 rw-p 00000000 00:00 0
Size:               1024 kB
Anonymous:          1024 kB
7f0000500000-7f0000501000 r--p 00000000 fe:00 42                         /opt/old smartpt (deleted)
Size:                  4 kB
Anonymous:             0 kB
`

func TestReadOnlyMappings(t *testing.T) {
	tests := []struct {
		name string
		exe  string
		want []Mapping
	}{
		{
			name: "code and read-only data, not data or written pages",
			exe:  "/opt/smartpt/smartpt",
			want: []Mapping{{0x400000, 0x1015000}, {0x1015000, 0x1cdf000}},
		},
		{
			name: "deleted executable, last mapping of the file",
			exe:  "/opt/old smartpt (deleted)",
			want: []Mapping{{0x7f0000500000, 0x7f0000501000}},
		},
		{
			name: "executable not mapped",
			exe:  "/usr/bin/other",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadOnlyMappings(strings.NewReader(sampleSmaps), tt.exe)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadOnlyMappings(%q) mismatch (-want +got):\n%s", tt.exe, diff)
			}
		})
	}
}

func TestReleaseDropsResidentPages(t *testing.T) {
	before := residentExeKiB(t)
	if before == 0 {
		t.Fatal("no resident page of the test binary before Release")
	}

	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := residentExeKiB(t)

	if released <= 0 {
		t.Errorf("Release() covered %d bytes, want the executable's read-only mappings", released)
	}
	// Reading smaps and this test's own code map a few pages again, far
	// fewer than start-up left resident.
	if after >= before/2 {
		t.Errorf("resident read-only pages of the executable: %d KiB before Release, %d KiB after; want under half", before, after)
	}
}

// residentExeKiB sums the Rss of the test binary's read-only mappings.
func residentExeKiB(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	total, inExe := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if _, _, ok := parseRange(fields[0]); ok && len(fields) >= 5 {
			inExe = strings.Join(fields[5:], " ") == exe && !strings.Contains(fields[1], "w")
			continue
		}
		if inExe && fields[0] == "Rss:" {
			kib, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("Rss line %q: %v", sc.Text(), err)
			}
			total += kib
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}
