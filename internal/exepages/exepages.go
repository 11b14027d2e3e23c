// Package exepages drops the process's mappings of its own executable's
// code and read-only data, so that the pages that only start-up used stop
// counting in the resident set size (RSS).
//
// Linux maps a page of a file when a process first touches it, and also
// the pages around it that are already in the page cache: up to 64 KiB,
// aligned (fault-around, fault_around_pages in the kernel's mm/memory.c).
// Package initialisation, configuration and migrations touch code and data
// of nearly every linked package: an idle `smartpt serve` had 20 MiB of its
// 25 MiB of code and read-only data resident (Linux 6.18, Go 1.26). Dropping
// the mappings once start-up is over leaves only the pages touched later,
// and their neighbours, in the RSS.
package exepages

// Mapping is one mapped range of the executable, in bytes of the address
// space: [Start, End).
type Mapping struct {
	Start, End uintptr
}

// Release drops the page table entries of every read-only mapping of the
// running executable, and returns the bytes of address space it covered.
// The data stays in the page cache, and a later access maps it again from
// the file, so no content is lost: only mappings that the process cannot
// write and that hold no privately modified page are released. On systems
// other than Linux it does nothing and returns 0 and nil.
func Release() (int64, error) {
	return release()
}
