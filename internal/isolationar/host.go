package isolationar

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"
)

// clientAddress matches <address> inside the agent's <client><server>
// blocks (ossec.conf reference, "client").
var (
	clientBlock   = regexp.MustCompile(`(?s)<client>(.*?)</client>`)
	clientAddress = regexp.MustCompile(`<address>\s*([^<\s]+)\s*</address>`)
)

// managerAddresses returns the manager addresses the agent's ossec.conf
// names, so that isolation never cuts the agent off its manager even when
// the request's allow-list omits it. Host names are resolved now, while DNS
// is still reachable. A name that does not resolve within three seconds is
// left out and returned in skipped.
func managerAddresses(ctx context.Context, ossecConf string) (addrs, skipped []string) {
	data, err := os.ReadFile(ossecConf)
	if err != nil {
		return nil, nil
	}
	for _, block := range clientBlock.FindAllSubmatch(data, -1) {
		for _, m := range clientAddress.FindAllSubmatch(block[1], -1) {
			host := string(m[1])
			if _, err := netip.ParseAddr(host); err == nil {
				addrs = append(addrs, host)
				continue
			}
			lookupCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			ips, err := net.DefaultResolver.LookupIPAddr(lookupCtx, host)
			cancel()
			if err != nil || len(ips) == 0 {
				skipped = append(skipped, host)
				continue
			}
			for _, ip := range ips {
				if ip.Zone == "" {
					addrs = append(addrs, ip.IP.String())
				}
			}
		}
	}
	return addrs, skipped
}

// AgentID returns this agent's id, the first field of the first line of
// client.keys ("<id> <name> <ip> <key>"), or "" when it cannot be read.
func AgentID(clientKeys string) string {
	f, err := os.Open(clientKeys)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return ""
	}
	fields := strings.Fields(sc.Text())
	if len(fields) == 0 || strings.Trim(fields[0], "0123456789") != "" {
		return ""
	}
	return fields[0]
}
