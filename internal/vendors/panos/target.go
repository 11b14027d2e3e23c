package panos

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTagLength is the longest tag PAN-OS accepts (PAN-OS XML API, "Register
// IP addresses and tags": up to 127 characters).
const MaxTagLength = 127

// MaxTimeoutSeconds is the longest registration timeout (30 days).
const MaxTimeoutSeconds = 2592000

// Smallest CIDR prefixes accepted as a target, so that one request cannot
// quarantine a whole network by mistake.
const (
	MinPrefixIPv4 = 16
	MinPrefixIPv6 = 48
)

// ValidateTag checks a quarantine tag against PAN-OS rules: 1 to 127
// characters, no quotes, not only spaces, and not one of the dynamic address
// group operators and, or, not. Control characters and surrounding spaces
// are rejected too, because XML cannot carry the former and PAN-OS trims
// the latter.
func ValidateTag(tag string) error {
	switch {
	case tag == "":
		return fmt.Errorf("tag is empty: set a tag of 1 to %d characters", MaxTagLength)
	case !utf8.ValidString(tag):
		return fmt.Errorf("tag is not valid UTF-8")
	case utf8.RuneCountInString(tag) > MaxTagLength:
		return fmt.Errorf("tag is %d characters long: PAN-OS accepts at most %d", utf8.RuneCountInString(tag), MaxTagLength)
	case strings.TrimSpace(tag) == "":
		return fmt.Errorf("tag is only spaces")
	case strings.TrimSpace(tag) != tag:
		return fmt.Errorf("tag %q starts or ends with a space", tag)
	case strings.ContainsAny(tag, `"'`):
		return fmt.Errorf("tag %q contains a quote, which PAN-OS does not accept", tag)
	}
	switch strings.ToLower(tag) {
	case "and", "or", "not":
		return fmt.Errorf("tag %q is a dynamic address group operator: choose another name", tag)
	}
	for _, r := range tag {
		if unicode.IsControl(r) || r == utf8.RuneError || !xmlChar(r) {
			return fmt.Errorf("tag %q contains a control character or one XML cannot carry", tag)
		}
	}
	return nil
}

// xmlChar reports whether r is allowed in an XML 1.0 document (the Char
// production), so that encoding/xml never has to replace it.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// ParseTarget returns the canonical form of an IPv4 or IPv6 address, or of a
// CIDR network when allowCIDR is set (PAN-OS 10.0 and later). It rejects
// zones, unspecified and multicast addresses, networks given with host bits
// set and networks larger than MinPrefixIPv4 or MinPrefixIPv6.
func ParseTarget(s string, allowCIDR bool) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		if !allowCIDR {
			return "", fmt.Errorf("%q is a network: CIDR targets need PAN-OS 10.0 or later and the cidr_targets setting", s)
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid CIDR network", s)
		}
		if p.Masked() != p {
			return "", fmt.Errorf("%q has host bits set: use %s", s, p.Masked())
		}
		min := MinPrefixIPv4
		if p.Addr().Is6() {
			min = MinPrefixIPv6
		}
		if p.Bits() < min {
			return "", fmt.Errorf("%q is larger than /%d, the largest network a single request may quarantine", s, min)
		}
		if err := checkAddr(p.Addr(), s); err != nil {
			return "", err
		}
		return p.String(), nil
	}

	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid IPv4 or IPv6 address", s)
	}
	if a.Zone() != "" {
		return "", fmt.Errorf("%q has an IPv6 zone, which a firewall cannot match: remove %%%s", s, a.Zone())
	}
	if err := checkAddr(a, s); err != nil {
		return "", err
	}
	return a.Unmap().String(), nil
}

func checkAddr(a netip.Addr, s string) error {
	if a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("%q is an unspecified or multicast address, which cannot be quarantined", s)
	}
	return nil
}

// sameTarget reports whether the firewall's entry ip names canonical.
func sameTarget(entryIP, canonical string) bool {
	if entryIP == canonical {
		return true
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(entryIP)); err == nil {
		return a.Unmap().String() == canonical
	}
	if p, err := netip.ParsePrefix(strings.TrimSpace(entryIP)); err == nil {
		return p.Masked().String() == canonical
	}
	return false
}
