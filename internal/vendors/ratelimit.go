package vendor

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
)

// Setting names that every integration kind accepts. They replace the rate
// budget the connector applies by default (the vendor's documented limit,
// vendorhttp.DefaultLimits), for an operator whose vendor allows more, for
// example a Wazuh manager with a raised access.max_request_per_minute in
// api.yaml, or who wants to spend less of a budget shared with other tools.
const (
	SettingRequestsPerMinute = "requests_per_minute"
	SettingRequestsPerHour   = "requests_per_hour"
)

// MaxRequestsPerMinute and MaxRequestsPerHour bound the two settings, so
// that a typing error cannot turn the budget into a flood.
const (
	MaxRequestsPerMinute = 6_000_000
	MaxRequestsPerHour   = 360_000_000
)

// RateSettings are the rate budget settings; Register adds them to every
// factory's Settings, so that the CLI lists and accepts them for every kind.
var RateSettings = []Setting{
	{Name: SettingRequestsPerMinute, Help: "vendor calls a minute this integration may make, replacing the vendor's documented per-minute limit; raise it only when the vendor allows more"},
	{Name: SettingRequestsPerHour, Help: "vendor calls an hour this integration may make, replacing the vendor's documented hourly limit"},
}

// RateLimits returns the rate budget of an integration: defaults, with the
// per-minute limit replaced by requests_per_minute and the hourly limit by
// requests_per_hour when cfg sets them. A default limit of another period
// stays. A value that is not a whole number from 1 to the maximum is an
// error that names the setting. Connectors pass the result as
// vendorhttp.Config.Limits.
func RateLimits(cfg Config, defaults []vendorhttp.Limit) ([]vendorhttp.Limit, error) {
	limits := append([]vendorhttp.Limit(nil), defaults...)
	overrides := []struct {
		name string
		per  time.Duration
		max  int
	}{
		{SettingRequestsPerMinute, time.Minute, MaxRequestsPerMinute},
		{SettingRequestsPerHour, time.Hour, MaxRequestsPerHour},
	}
	for _, o := range overrides {
		raw := strings.TrimSpace(cfg.Settings[o.name])
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > o.max {
			return nil, fmt.Errorf("setting %s is %q: give a whole number of calls from 1 to %d", o.name, raw, o.max)
		}

		replaced := false
		for i := range limits {
			if limits[i].Per == o.per {
				limits[i].Count = n
				replaced = true
			}
		}
		if !replaced {
			limits = append(limits, vendorhttp.Limit{Count: n, Per: o.per})
		}
	}
	return limits, nil
}

// withRateSettings returns settings followed by the RateSettings it lacks.
func withRateSettings(settings []Setting) []Setting {
	out := append([]Setting(nil), settings...)
	for _, rs := range RateSettings {
		present := false
		for _, s := range settings {
			present = present || s.Name == rs.Name
		}
		if !present {
			out = append(out, rs)
		}
	}
	return out
}
