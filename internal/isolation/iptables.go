package isolation

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Chains that the iptables backend adds to the filter table of iptables
// and ip6tables. INPUT and OUTPUT jump to them first.
const (
	IPTChainIn  = "SMARTPT_ISO_IN"
	IPTChainOut = "SMARTPT_ISO_OUT"
)

// IPTables isolates with iptables and ip6tables, for hosts without nft. The
// isolation chains RETURN allowed traffic to the host's own rules, so they
// only ever remove access, and DROP the rest.
type IPTables struct {
	Runner Runner
}

// Name returns "iptables".
func (t *IPTables) Name() string { return "iptables" }

// iptFamily is one of iptables and ip6tables with its address family.
type iptFamily struct {
	restore string // iptables-restore or ip6tables-restore
	tool    string // iptables or ip6tables
	v6      bool
}

var iptFamilies = []iptFamily{
	{restore: "iptables-restore", tool: "iptables"},
	{restore: "ip6tables-restore", tool: "ip6tables", v6: true},
}

// Isolate fills both chains in one iptables-restore transaction per family,
// then inserts the jumps from INPUT and OUTPUT when they are missing.
func (t *IPTables) Isolate(ctx context.Context, allow []netip.Prefix) error {
	v4, v6 := splitFamilies(allow)
	for _, fam := range iptFamilies {
		prefixes := v4
		if fam.v6 {
			prefixes = v6
		}
		script := IPTRestoreScript(prefixes, fam.v6)
		if _, err := t.Runner.Run(ctx, []byte(script), fam.restore, "--noflush"); err != nil {
			if fam.v6 {
				// The IPv4 chains are in place and stay: a host half isolated is
				// safer than one released because IPv6 failed.
				return fmt.Errorf("IPv4 traffic is isolated, but loading the ip6tables isolation chains failed: %w", err)
			}
			return fmt.Errorf("load %s isolation chains: %w", fam.tool, err)
		}

		for _, jump := range iptJumps() {
			if _, err := t.Runner.Run(ctx, nil, fam.tool, append([]string{"-w", "-C"}, jump...)...); err == nil {
				continue
			}
			insert := append([]string{"-w", "-I", jump[0], "1"}, jump[1:]...)
			if _, err := t.Runner.Run(ctx, nil, fam.tool, insert...); err != nil {
				return fmt.Errorf("insert %s jump to isolation chain: %w", fam.tool, err)
			}
		}
	}
	return nil
}

// Release removes the jumps and deletes both chains in each family. A
// family whose chains do not exist is skipped.
func (t *IPTables) Release(ctx context.Context) error {
	for _, fam := range iptFamilies {
		for _, jump := range iptJumps() {
			// A jump inserted twice by hand is removed as well; ten is a bound,
			// not an expected count.
			for i := 0; i < 10; i++ {
				if _, err := t.Runner.Run(ctx, nil, fam.tool, append([]string{"-w", "-D"}, jump...)...); err != nil {
					break
				}
			}
		}
		for _, chain := range []string{IPTChainIn, IPTChainOut} {
			if _, err := t.Runner.Run(ctx, nil, fam.tool, "-w", "-S", chain); err != nil {
				continue // no such chain
			}
			if _, err := t.Runner.Run(ctx, nil, fam.tool, "-w", "-F", chain); err != nil {
				return fmt.Errorf("flush %s chain %s: %w", fam.tool, chain, err)
			}
			if _, err := t.Runner.Run(ctx, nil, fam.tool, "-w", "-X", chain); err != nil {
				return fmt.Errorf("delete %s chain %s: %w", fam.tool, chain, err)
			}
		}
	}
	return nil
}

// iptJumps returns the rules, as iptables arguments after -C/-I/-D, that
// send INPUT and OUTPUT traffic through the isolation chains.
func iptJumps() [][]string {
	return [][]string{
		{"INPUT", "-j", IPTChainIn},
		{"OUTPUT", "-j", IPTChainOut},
	}
}

// IPTRestoreScript returns the iptables-restore input that (re)creates both
// isolation chains for one family. With --noflush, declaring a chain that
// already exists empties it, so running it twice leaves one copy of each
// rule.
func IPTRestoreScript(prefixes []netip.Prefix, v6 bool) string {
	var b strings.Builder
	b.WriteString("*filter\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", IPTChainIn, IPTChainOut)

	for _, dir := range []struct{ chain, iface, addr string }{
		{IPTChainIn, "-i", "-s"},
		{IPTChainOut, "-o", "-d"},
	} {
		fmt.Fprintf(&b, "-A %s %s lo -j RETURN\n", dir.chain, dir.iface)
		if v6 {
			// Neighbour and router discovery: ICMPv6 types 133 to 136.
			for _, icmpType := range []string{"133", "134", "135", "136"} {
				fmt.Fprintf(&b, "-A %s -p ipv6-icmp --icmpv6-type %s -j RETURN\n", dir.chain, icmpType)
			}
		}
		for _, p := range prefixes {
			fmt.Fprintf(&b, "-A %s %s %s -j RETURN\n", dir.chain, dir.addr, p.String())
		}
		fmt.Fprintf(&b, "-A %s -j DROP\n", dir.chain)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
