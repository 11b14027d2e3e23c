package action

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"unicode"

	"github.com/smartpt/smartpt/internal/vendors"
)

// MaxHostnameLength is the longest host name accepted (RFC 1123, section
// 2.1: 255 octets on the wire, 253 characters as text).
const MaxHostnameLength = 253

// ParseTarget validates an agent_id and returns how it names the endpoint: the
// vendor's own id (c.IsID), an IPv4 or IPv6 address, or an RFC 1123 host
// name (short or fully qualified). Lists, wildcards, path separators, query
// characters, control characters and strings of digits that are not a
// valid id of the vendor are refused. Errors are *Error with status 400 and
// a message naming the value.
func ParseTarget(c vendor.Containment, s string) (vendor.Target, error) {
	bad := func(why string) (vendor.Target, error) {
		return vendor.Target{}, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Bad Request: agent_id %s %s", quote(s), why)}
	}

	if s == "" {
		return bad("is empty; send the vendor's agent id, a host name or an IP address")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return bad("contains a control character")
		}
	}
	switch {
	case strings.ContainsAny(s, ", ;"):
		return bad("looks like a list; send one endpoint per request")
	case strings.ContainsAny(s, "*?"):
		return bad("contains a wildcard; name exactly one endpoint")
	case strings.ContainsAny(s, `/\`):
		return bad("contains a path separator; CIDR ranges and paths are not accepted")
	case strings.ContainsAny(s, "#&=%"):
		return bad("contains a query character (# & = %)")
	}

	if c.IsID(s) {
		return vendor.Target{Kind: vendor.TargetID, Value: s}, nil
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		return vendor.Target{Kind: vendor.TargetIP, Value: addr.String()}, nil
	}
	if allDigits(s) {
		return bad("is not a valid agent id of this vendor, nor a host name or an IP address")
	}
	if why := hostnameProblem(s); why != "" {
		return bad(why)
	}
	return vendor.Target{Kind: vendor.TargetHostname, Value: strings.TrimSuffix(s, ".")}, nil
}

// hostnameProblem returns why s is not an RFC 1123 host name, or "".
func hostnameProblem(s string) string {
	name := strings.TrimSuffix(s, ".")
	if len(name) > MaxHostnameLength {
		return fmt.Sprintf("is longer than %d characters", MaxHostnameLength)
	}
	labels := strings.Split(name, ".")
	numeric := 0
	for _, l := range labels {
		if l == "" {
			return "has an empty host name label"
		}
		if len(l) > 63 {
			return "has a host name label longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "has a host name label that starts or ends with a hyphen"
		}
		for i := 0; i < len(l); i++ {
			ch := l[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return fmt.Sprintf("contains %q, which is not valid in a host name, an IP address or an agent id", rune(ch))
			}
		}
		if allDigits(l) {
			numeric++
		}
	}
	// A name made of numeric labels only would be an IP address, and
	// netip did not accept it.
	if numeric == len(labels) {
		return "is not a valid IP address"
	}
	return ""
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quote returns s in single quotes, shortened to 80 characters and with
// control characters escaped, for messages.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	q := fmt.Sprintf("%q", s)
	return "'" + strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`) + "'"
}
