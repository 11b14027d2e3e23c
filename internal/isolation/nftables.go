package isolation

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// NFTTable is the nftables table that holds the isolation rules. Nothing
// else in the ruleset is read or changed.
const NFTTable = "smartpt_isolation"

// nftPriority is the netfilter "raw" priority, ahead of conntrack (-200),
// mangle (-150) and filter (0), so a drop here happens before any other
// table evaluates the packet. An accept here is not final because other
// tables' chains still run, so isolation never opens what another rule
// blocks.
const nftPriority = -300

// NFTables isolates with the nft command (nftables 0.9 or later).
type NFTables struct {
	Runner Runner
	Binary string // path of nft; "nft" when empty
}

// Name returns "nftables".
func (n *NFTables) Name() string { return "nftables" }

func (n *NFTables) binary() string {
	if n.Binary == "" {
		return "nft"
	}
	return n.Binary
}

// Isolate loads NFTIsolateScript(allow) in one nft transaction.
func (n *NFTables) Isolate(ctx context.Context, allow []netip.Prefix) error {
	if _, err := n.Runner.Run(ctx, []byte(NFTIsolateScript(allow)), n.binary(), "-f", "-"); err != nil {
		return fmt.Errorf("load nftables isolation table: %w", err)
	}
	return nil
}

// Release deletes the isolation table in one nft transaction.
func (n *NFTables) Release(ctx context.Context) error {
	if _, err := n.Runner.Run(ctx, []byte(NFTReleaseScript()), n.binary(), "-f", "-"); err != nil {
		return fmt.Errorf("delete nftables isolation table: %w", err)
	}
	return nil
}

// NFTReleaseScript returns the nft script that deletes the isolation table.
// Declaring the table first makes the delete succeed when the table does
// not exist, so release is idempotent.
func NFTReleaseScript() string {
	return fmt.Sprintf("table inet %[1]s\ndelete table inet %[1]s\n", NFTTable)
}

// NFTIsolateScript returns the nft script that replaces the isolation table
// with one that drops everything except loopback, IPv6 neighbour discovery
// and traffic to or from the allowed prefixes. nft applies a script as one
// transaction, so the host is never half isolated and running it twice
// leaves exactly one table.
func NFTIsolateScript(allow []netip.Prefix) string {
	v4, v6 := splitFamilies(allow)

	var b strings.Builder
	b.WriteString(NFTReleaseScript())
	fmt.Fprintf(&b, "table inet %s {\n", NFTTable)
	writeNFTSet(&b, "allow4", "ipv4_addr", v4)
	writeNFTSet(&b, "allow6", "ipv6_addr", v6)

	for _, dir := range []struct{ chain, hook, iface, addr string }{
		{"input", "input", "iif", "saddr"},
		{"output", "output", "oif", "daddr"},
	} {
		fmt.Fprintf(&b, "\tchain %s {\n", dir.chain)
		fmt.Fprintf(&b, "\t\ttype filter hook %s priority %d; policy drop;\n", dir.hook, nftPriority)
		fmt.Fprintf(&b, "\t\t%s \"lo\" accept\n", dir.iface)
		// Without neighbour discovery an on-link IPv6 manager is unreachable.
		b.WriteString("\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept\n")
		fmt.Fprintf(&b, "\t\tip %s @allow4 accept\n", dir.addr)
		fmt.Fprintf(&b, "\t\tip6 %s @allow6 accept\n", dir.addr)
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func writeNFTSet(b *strings.Builder, name, typ string, prefixes []netip.Prefix) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n", name, typ)
	if len(prefixes) > 0 {
		elems := make([]string, len(prefixes))
		for i, p := range prefixes {
			elems[i] = prefixString(p)
		}
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n")
}
