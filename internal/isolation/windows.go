package isolation

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Names of the Windows Firewall rules the Windows backend adds.
const (
	WinRuleIn  = "SmartPT isolation (inbound)"
	WinRuleOut = "SmartPT isolation (outbound)"
)

// WindowsFirewall isolates with "netsh advfirewall firewall". It adds one
// block rule per direction whose remote addresses are every address except
// the allowed ones. In Windows Firewall a block rule wins over any allow
// rule, so existing allow rules cannot reopen the host, and deleting the two
// rules by name restores the previous state. The firewall does not filter
// loopback traffic, so loopback stays open.
//
// NOTE: the firewall service must be running and the profiles enabled; a
// host whose firewall is turned off is not isolated by these rules.
type WindowsFirewall struct {
	Runner Runner
	Binary string // path of netsh; "netsh" when empty
}

// Name returns "windows-firewall".
func (w *WindowsFirewall) Name() string { return "windows-firewall" }

func (w *WindowsFirewall) binary() string {
	if w.Binary == "" {
		return "netsh"
	}
	return w.Binary
}

// Isolate deletes any earlier isolation rules and adds new ones.
func (w *WindowsFirewall) Isolate(ctx context.Context, allow []netip.Prefix) error {
	_ = w.Release(ctx)
	for _, args := range WinIsolateCommands(allow) {
		if _, err := w.Runner.Run(ctx, nil, w.binary(), args...); err != nil {
			return fmt.Errorf("add Windows Firewall isolation rule: %w", err)
		}
	}
	return nil
}

// Release deletes the isolation rules. netsh fails when no rule matches the
// name, which means that direction is already released.
func (w *WindowsFirewall) Release(ctx context.Context) error {
	for _, args := range WinReleaseCommands() {
		_, _ = w.Runner.Run(ctx, nil, w.binary(), args...)
	}
	return nil
}

// WinIsolateCommands returns the netsh arguments that add the two block
// rules.
func WinIsolateCommands(allow []netip.Prefix) [][]string {
	remote := strings.Join(BlockRanges(allow), ",")
	var cmds [][]string
	for _, r := range []struct{ name, dir string }{{WinRuleIn, "in"}, {WinRuleOut, "out"}} {
		cmds = append(cmds, []string{
			"advfirewall", "firewall", "add", "rule",
			"name=" + r.name, "dir=" + r.dir, "action=block", "enable=yes",
			"profile=any", "protocol=any", "remoteip=" + remote,
		})
	}
	return cmds
}

// WinReleaseCommands returns the netsh arguments that delete both rules.
func WinReleaseCommands() [][]string {
	return [][]string{
		{"advfirewall", "firewall", "delete", "rule", "name=" + WinRuleIn},
		{"advfirewall", "firewall", "delete", "rule", "name=" + WinRuleOut},
	}
}

// BlockRanges returns the complement of allow over the IPv4 and the IPv6
// address spaces, as "first-last" ranges in the form netsh accepts for
// remoteip.
func BlockRanges(allow []netip.Prefix) []string {
	v4, v6 := splitFamilies(allow)
	var out []string
	out = append(out, complementRanges(v4, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}))...)
	out = append(out, complementRanges(v6, netip.IPv6Unspecified(), netip.AddrFrom16([16]byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	}))...)
	return out
}

// complementRanges returns the ranges of [first, last] not covered by the
// sorted, non-overlapping prefixes.
func complementRanges(prefixes []netip.Prefix, first, last netip.Addr) []string {
	var out []string
	next := first
	open := true // next is a valid start address
	for _, p := range prefixes {
		start, end := p.Masked().Addr(), lastAddr(p)
		if open && next.Less(start) {
			out = append(out, next.String()+"-"+start.Prev().String())
		}
		if end == last {
			open = false
			break
		}
		if !next.Less(end.Next()) {
			continue
		}
		next = end.Next()
	}
	if open {
		out = append(out, next.String()+"-"+last.String())
	}
	return out
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	b := a.AsSlice()
	bits := p.Bits()
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			if i*8+bit >= bits {
				b[i] |= 0x80 >> bit
			}
		}
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr
}
