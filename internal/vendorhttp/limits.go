package vendorhttp

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultLimits returns the documented rate limits of a vendor kind, which
// Pool.Client applies when Config.Limits is empty:
//
//   - defender: 100 calls a minute and 1,500 an hour (Microsoft Defender for
//     Endpoint API: the isolate, unisolate, get machine, list machines and
//     find-by-IP pages each state this limit);
//   - cisco: 3,000 calls an hour (Cisco Secure Endpoint API v1: the
//     X-RateLimit-Limit value in the published example responses);
//   - wazuh: 300 calls a minute (Wazuh server API: the default of
//     access.max_request_per_minute in api.yaml).
//
// Graph, Cortex XDR and PAN-OS document no fixed number: no budget, and a
// 429 is still honoured.
func DefaultLimits(kind string) []Limit {
	switch kind {
	case "defender":
		return []Limit{{Count: 100, Per: time.Minute}, {Count: 1500, Per: time.Hour}}
	case "cisco":
		return []Limit{{Count: 3000, Per: time.Hour}}
	case "wazuh":
		return []Limit{{Count: 300, Per: time.Minute}}
	}
	return nil
}

// rateLimitReset reads Cisco Secure Endpoint's rate limit headers:
// X-RateLimit-Remaining, X-RateLimit-Reset in seconds and
// X-RateLimit-ResetDate as an RFC 3339 time. The documentation text spells
// them X-Rate-Limit-*, so both spellings are read. When Remaining is 0 it
// returns the time the budget renews, capped at MaxRetryAfter from now.
func rateLimitReset(h http.Header, now time.Time) (time.Time, bool) {
	get := func(name string) string {
		if v := h.Get("X-RateLimit-" + name); v != "" {
			return strings.TrimSpace(v)
		}
		return strings.TrimSpace(h.Get("X-Rate-Limit-" + name))
	}
	remaining, err := strconv.Atoi(get("Remaining"))
	if err != nil || remaining > 0 {
		return time.Time{}, false
	}

	var until time.Time
	if secs, err := strconv.ParseFloat(get("Reset"), 64); err == nil && secs >= 0 && secs < 1e9 {
		until = now.Add(time.Duration(secs * float64(time.Second)))
	} else if t, err := time.Parse(time.RFC3339, get("ResetDate")); err == nil {
		until = t
	} else {
		// Exhausted, with no usable reset: a short pause.
		until = now.Add(time.Second)
	}
	if until.Before(now) {
		until = now
	}
	if until.Sub(now) > MaxRetryAfter {
		until = now.Add(MaxRetryAfter)
	}
	return until, true
}

// isWazuhThrottle reports whether body is the Wazuh server API's 429 body
// with error code 6001, "Maximum number of requests per minute reached"
// (Wazuh server API reference, TooManyRequestsResponse).
func isWazuhThrottle(body []byte) bool {
	var p struct {
		Code  int `json:"code"`
		Error int `json:"error"`
	}
	return json.Unmarshal(body, &p) == nil && (p.Code == 6001 || p.Error == 6001)
}
