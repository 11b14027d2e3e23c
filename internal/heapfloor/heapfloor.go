// Package heapfloor keeps the Go garbage collector from running while the
// Go runtime's memory is below a floor, and otherwise leaves it to the GC
// percentage (GOGC).
//
// With the percentage alone, the collector starts a cycle when the heap
// reaches the live heap plus that percentage of the live heap, goroutine
// stacks and globals (runtime package documentation, "Environment
// Variables"). With a small live heap that goal is only a few MiB above
// it. A server that allocates tens of MiB a second then runs dozens of
// cycles a second. Each has a fixed cost on top: stopping every goroutine
// to scan its stack, and sweeping. A floor makes a small heap collected
// less often, while a big one grows by the same share as before.
//
// A raised percentage does not keep the floor well. The runtime
// multiplies it by the live heap and stacks of the last cycle. A
// percentage in the thousands, set while the heap was nearly empty, thus
// lets the heap grow far past the floor once load arrives. With 1,000 connections arriving, the
// peak RSS reached 123 MiB with a floor of 24 MiB. So after every
// collection, Floor picks one of two modes:
//
//   - below the floor: the percentage is off and the runtime's soft memory
//     limit is the floor. The limit counts stacks and the runtime's own
//     memory as they grow, so the Go runtime's memory stays under the
//     floor whatever arrives.
//   - at or above it: the percentage is on, and the memory limit is what it
//     was before Start (none unless GOMEMLIMIT or memory_limit set one).
//
// The mode is below the floor when the memory that the percentage would
// let the runtime reach is less than the floor.
package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Usage contains the memory figures after a collection, in bytes.
type Usage struct {
	Live    uint64 // heap objects marked live
	Stacks  uint64 // goroutine stacks scanned
	Globals uint64 // globals scanned
	Other   uint64 // Go runtime memory held from the OS that is neither heap objects nor free heap: stacks, unused parts of heap spans, the runtime's own structures
}

// Reach returns the Go runtime memory, in bytes, that the GC percentage
// lets the process reach before its next collection: the heap goal (the
// live heap plus percent of the live heap, stacks and globals) and the
// other memory.
func Reach(u Usage, percent int) uint64 {
	// No overflow: percent is at most 1000 (gc_percent), and the memory far
	// below 2^64 / 1000 bytes.
	return u.Other + u.Live + (u.Live+u.Stacks+u.Globals)*uint64(percent)/100
}

// Runtime metrics read after each collection (runtime/metrics
// documentation). The memory limit applies to total minus released.
var samples = []string{
	"/gc/heap/live:bytes",
	"/gc/scan/stack:bytes",
	"/gc/scan/globals:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
}

// Floor is a memory floor under the collector, as the package describes, in force until Stop.
type Floor struct {
	floor   uint64
	percent int
	stopped atomic.Bool

	mu          sync.Mutex
	samples     []metrics.Sample
	floored     bool  // in the mode below the floor
	gcBefore    int   // the GC percentage before Start
	limitBefore int64 // the memory limit before Start, the ceiling of the floor

	collections atomic.Uint64 // collections that Floor has followed
}

// Start begins below the floor, with the percentage off and the memory
// limit at floor, and picks the mode again after every collection.
// floor is in bytes of Go runtime memory, and percent is the GC percentage
// of the mode at or above it (gc_percent). A memory limit already set
// (GOMEMLIMIT, memory_limit) stays the limit of that mode, and caps the
// floor.
func Start(floor uint64, percent int) *Floor {
	f := &Floor{floor: floor, percent: percent}
	f.samples = make([]metrics.Sample, len(samples))
	for i, name := range samples {
		f.samples[i].Name = name
	}
	f.limitBefore = debug.SetMemoryLimit(-1)
	f.floor = min(floor, uint64(f.limitBefore))

	f.mu.Lock()
	debug.SetMemoryLimit(int64(f.floor))
	f.gcBefore = debug.SetGCPercent(-1)
	f.floored = true
	f.mu.Unlock()
	f.arm()
	return f
}

// sentinel is an object that only the next collection frees. Its pointer
// field keeps it out of the runtime's blocks of tiny objects, which are
// freed only once all their objects are unreachable.
type sentinel struct {
	_ *byte
	_ [8]byte
}

// arm makes the next collection call after.
func (f *Floor) arm() {
	runtime.AddCleanup(new(sentinel), func(f *Floor) { f.after() }, f)
}

// after runs once a collection has freed the sentinel: it picks the mode
// for the next cycle and arms the floor again.
func (f *Floor) after() {
	// stopped is checked under f.mu: Stop sets it and then restores the
	// settings under f.mu, so a check before the lock could pass, wait for
	// Stop to restore the settings, and then set the floor again.
	f.mu.Lock()
	if f.stopped.Load() {
		f.mu.Unlock()
		return
	}
	f.pick(f.read())
	f.mu.Unlock()
	f.collections.Add(1)
	f.arm()
}

// read returns the memory figures after the last collection; f.mu is held.
func (f *Floor) read() Usage {
	metrics.Read(f.samples)
	v := func(i int) uint64 { return f.samples[i].Value.Uint64() }
	mapped, inHeap := v(3)-v(4), v(5)+v(6)
	u := Usage{Live: v(0), Stacks: v(1), Globals: v(2)}
	if mapped > inHeap {
		u.Other = mapped - inHeap
	}
	return u
}

// pick switches to the mode that u calls for; f.mu is held. Each switch
// sets the new bound before it lifts the old one, so that the collector
// always has one.
func (f *Floor) pick(u Usage) {
	below := Reach(u, f.percent) < f.floor
	switch {
	case below && !f.floored:
		debug.SetMemoryLimit(int64(f.floor))
		debug.SetGCPercent(-1)
	case !below && f.floored:
		debug.SetGCPercent(f.percent)
		debug.SetMemoryLimit(f.limitBefore)
	}
	f.floored = below
}

// Floored reports whether the collector runs below the floor, with the
// percentage off.
func (f *Floor) Floored() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.floored
}

// Bytes returns the floor in bytes: the floor given to Start, or the
// memory limit in force before Start when that is lower.
func (f *Floor) Bytes() uint64 { return f.floor }

// Collections returns how many collections the floor has followed.
func (f *Floor) Collections() uint64 { return f.collections.Load() }

// Stop ends the floor and restores the GC percentage and memory limit
// that were in force before Start.
func (f *Floor) Stop() {
	if f.stopped.Swap(true) {
		return
	}
	f.mu.Lock()
	f.restore()
	f.mu.Unlock()
}

// restore sets the GC percentage and memory limit that were in force
// before Start; f.mu is held.
func (f *Floor) restore() {
	debug.SetGCPercent(f.gcBefore)
	debug.SetMemoryLimit(f.limitBefore)
}
