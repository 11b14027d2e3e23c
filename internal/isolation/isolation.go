// Package isolation cuts a host off the network except for loopback and a
// list of allowed addresses (the Wazuh manager and any allow-list), and lifts
// that isolation again.
//
// Each backend adds its own separate piece of firewall configuration and
// removes only that piece on release, so the host's previous firewall state
// comes back exactly:
//
//   - NFTables: one table, "table inet smartpt_isolation", loaded atomically
//     with "nft -f -" (Linux).
//   - IPTables: two chains jumped to from INPUT and OUTPUT, for hosts without
//     nft (Linux).
//   - WindowsFirewall: two block rules built with netsh advfirewall.
//   - Record: writes what it would do to a file, for tests and dry runs.
//
// The kernel keeps nftables and iptables rules when the program that loaded
// them exits or crashes, so isolation survives a crash of the caller.
package isolation

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
)

// Backend isolates and releases the local host.
type Backend interface {
	// Name identifies the backend in logs and the state file.
	Name() string

	// Isolate blocks all traffic except loopback and allow. Calling it
	// again replaces the previous allow-list; it never stacks rules.
	Isolate(ctx context.Context, allow []netip.Prefix) error

	// Release removes what Isolate added. Releasing a host that is not
	// isolated succeeds.
	Release(ctx context.Context) error
}

// Runner runs one command with optional standard input and returns its
// combined output.
type Runner interface {
	Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
}

// ExecRunner runs commands with os/exec, never through a shell.
type ExecRunner struct{}

// Run starts name with args and waits for it.
func (ExecRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// ParseAllow parses addresses and CIDR prefixes (IPv4 and IPv6), such as
// "10.0.0.5" or "2001:db8::/64", and returns them as sorted, de-duplicated
// prefixes with their host bits cleared. It rejects the whole list when one
// entry is invalid, so a typo never isolates a host without its manager.
func ParseAllow(entries []string) ([]netip.Prefix, error) {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, raw := range entries {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}

		var prefix netip.Prefix
		if strings.Contains(entry, "/") {
			p, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("allowed address %q is not a valid CIDR prefix: %w", entry, err)
			}
			prefix = p.Masked()
		} else {
			addr, err := netip.ParseAddr(entry)
			if err != nil {
				return nil, fmt.Errorf("allowed address %q is not a valid IPv4 or IPv6 address", entry)
			}
			if addr.Zone() != "" {
				return nil, fmt.Errorf("allowed address %q has a zone; give the address without %%zone", entry)
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}

		if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		if prefix.Bits() == 0 {
			return nil, fmt.Errorf("allowed address %q allows every address, which would not isolate the host", entry)
		}
		if !seen[prefix] {
			seen[prefix] = true
			out = append(out, prefix)
		}
	}
	sortPrefixes(out)
	return collapse(out), nil
}

// collapse drops every prefix that another prefix of the list contains,
// because nftables rejects overlapping intervals in one set.
func collapse(sorted []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range sorted {
		covered := false
		for _, q := range out {
			if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

func sortPrefixes(ps []netip.Prefix) {
	sort.Slice(ps, func(i, j int) bool {
		if c := ps[i].Addr().Compare(ps[j].Addr()); c != 0 {
			return c < 0
		}
		return ps[i].Bits() < ps[j].Bits()
	})
}

// splitFamilies returns the IPv4 and the IPv6 prefixes of allow.
func splitFamilies(allow []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range allow {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

// prefixString prints a host prefix as a bare address, as firewall tools
// print them.
func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}
