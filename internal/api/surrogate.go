package api

import (
	"strconv"
	"unicode/utf16"
)

// hasLoneSurrogate reports whether the JSON string literal raw contains a
// \u escape of a UTF-16 surrogate that is not part of a high-low pair.
// encoding/json turns such an escape into U+FFFD, so the value would reach
// a vendor silently changed. RFC 7493 (I-JSON), section 2.1, forbids them.
func hasLoneSurrogate(raw []byte) bool {
	pendingHigh := false
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			if pendingHigh {
				return true
			}
			continue
		}
		if raw[i+1] != 'u' || i+6 > len(raw) {
			if pendingHigh {
				return true
			}
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		code, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		i += 5
		if err != nil {
			continue // the decoder rejects a malformed escape
		}
		r := rune(code)
		switch {
		case pendingHigh && r >= 0xDC00 && r <= 0xDFFF:
			pendingHigh = false
		case pendingHigh:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			pendingHigh = true
		case utf16.IsSurrogate(r):
			return true // a low surrogate without a high one
		}
	}
	return pendingHigh
}
