package mslogin

import (
	"net/url"
	"strings"
)

// QuoteString returns v as an OData string literal: enclosed in single
// quotes, with each single quote inside doubled (OData v4 URL conventions,
// section 5.1.1.6.1: O'Neil becomes 'O”Neil'). The result still needs
// percent-encoding before it goes into a URL, which EncodeQuery does.
func QuoteString(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// Param is one query parameter, kept in order.
type Param struct {
	Key   string
	Value string
}

// EncodeQuery returns "?k=v&..." with every key and value percent-encoded
// per RFC 3986: a space becomes %20 (not "+"), and "#", "&", "+", "=" and
// non-ASCII bytes are escaped, so no value can end the parameter early. The
// "$" of system query options such as $filter stays literal, as Microsoft's
// examples write it.
func EncodeQuery(params ...Param) string {
	if len(params) == 0 {
		return ""
	}
	var b strings.Builder
	for i, p := range params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(strings.ReplaceAll(escape(p.Key), "%24", "$"))
		b.WriteByte('=')
		b.WriteString(escape(p.Value))
	}
	return b.String()
}

// escape is url.QueryEscape with %20 for a space. QueryEscape turns a
// literal "+" into %2B, so every "+" in its output stands for a space.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
