package loadgen

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Endpoint action names, as the public API spells them.
const (
	ActionStatus  = "status"
	ActionIsolate = "isolate"
	ActionRelease = "releaseisolate"
)

// DemoTargets is the size of the demo inventory: demo-host-01 to
// demo-host-20, 10.20.0.1 to 10.20.0.20, Wazuh agent ids 001 to 020.
const DemoTargets = 20

// MaxTargets bounds the target count. Counts above DemoTargets need
// Wazuh agent ids (target form id) and a simulator started with as many
// agents (bench/floor -hosts N).
const MaxTargets = 10_000

// Op is one request to send: an action on demo target Target (1 to the
// target count).
type Op struct {
	Action string
	Target int
}

// Mix picks the next Op. A weight for "isolate" covers containment
// changes: on each target, isolate and releaseisolate alternate, starting
// with isolate, so that the targets do not all end up isolated and every
// isolate does real work. Targets are taken in turn, so that every target
// gets the same share. Mix is safe for concurrent use.
type Mix struct {
	mu        sync.Mutex
	rng       *rand.Rand
	statusPct float64 // share of status requests, 0 to 1
	targets   int
	next      int          // next target index, 0-based
	isolated  map[int]bool // targets whose last containment op was isolate
}

// ParseMix reads a spec such as "status=80,isolate=20". The weights are
// relative; "isolate" covers isolate and releaseisolate in alternation.
// The seed makes the sequence repeatable.
func ParseMix(spec string, targets int, seed uint64) (*Mix, error) {
	if targets < 1 || targets > MaxTargets {
		return nil, fmt.Errorf("target count %d is outside 1..%d", targets, MaxTargets)
	}

	weights := map[string]float64{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("mix entry %q has no '=': write it as status=80,isolate=20", part)
		}
		if name != ActionStatus && name != ActionIsolate {
			return nil, fmt.Errorf("mix entry %q names an unknown action; use status and isolate", name)
		}
		w, err := strconv.ParseFloat(value, 64)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("mix weight %q for %s is not a number >= 0", value, name)
		}
		weights[name] = w
	}

	total := weights[ActionStatus] + weights[ActionIsolate]
	if total <= 0 {
		return nil, fmt.Errorf("mix %q has no positive weight", spec)
	}
	return &Mix{
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		statusPct: weights[ActionStatus] / total,
		targets:   targets,
		isolated:  map[int]bool{},
	}, nil
}

// Next returns the next request to send.
func (m *Mix) Next() Op {
	m.mu.Lock()
	defer m.mu.Unlock()

	target := m.next + 1
	m.next = (m.next + 1) % m.targets

	if m.statusPct >= 1 || (m.statusPct > 0 && m.rng.Float64() < m.statusPct) {
		return Op{Action: ActionStatus, Target: target}
	}
	if m.isolated[target] {
		m.isolated[target] = false
		return Op{Action: ActionRelease, Target: target}
	}
	m.isolated[target] = true
	return Op{Action: ActionIsolate, Target: target}
}

// String describes the mix for reports.
func (m *Mix) String() string {
	return fmt.Sprintf("status=%.0f%%,isolate/release=%.0f%%,targets=%d", 100*m.statusPct, 100*(1-m.statusPct), m.targets)
}

// sortedKeys returns the keys of a count map in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
