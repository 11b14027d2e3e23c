package vendor

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smartpt/smartpt/internal/vendorhttp"
)

func TestRateLimits(t *testing.T) {
	defender := []vendorhttp.Limit{{Count: 100, Per: time.Minute}, {Count: 1500, Per: time.Hour}}
	tests := []struct {
		name     string
		settings map[string]string
		defaults []vendorhttp.Limit
		want     []vendorhttp.Limit
		wantErr  string
	}{
		{name: "no setting keeps the defaults", defaults: defender, want: defender},
		{name: "no setting, no default", want: nil},
		{name: "per minute replaces the minute limit only",
			settings: map[string]string{SettingRequestsPerMinute: "6000"}, defaults: defender,
			want: []vendorhttp.Limit{{Count: 6000, Per: time.Minute}, {Count: 1500, Per: time.Hour}}},
		{name: "both replaced, spaces trimmed",
			settings: map[string]string{SettingRequestsPerMinute: " 200 ", SettingRequestsPerHour: "9000"}, defaults: defender,
			want: []vendorhttp.Limit{{Count: 200, Per: time.Minute}, {Count: 9000, Per: time.Hour}}},
		{name: "added where the vendor documents none",
			settings: map[string]string{SettingRequestsPerHour: "50"},
			want:     []vendorhttp.Limit{{Count: 50, Per: time.Hour}}},
		{name: "zero", settings: map[string]string{SettingRequestsPerMinute: "0"}, defaults: defender, wantErr: "requests_per_minute"},
		{name: "negative", settings: map[string]string{SettingRequestsPerHour: "-5"}, wantErr: "requests_per_hour"},
		{name: "not a number", settings: map[string]string{SettingRequestsPerMinute: "fast"}, wantErr: "whole number"},
		{name: "fraction", settings: map[string]string{SettingRequestsPerMinute: "1.5"}, wantErr: "whole number"},
		{name: "above the maximum", settings: map[string]string{SettingRequestsPerMinute: "6000001"}, wantErr: "6000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]vendorhttp.Limit(nil), tt.defaults...)
			got, err := RateLimits(Config{Settings: tt.settings}, tt.defaults)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RateLimits error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RateLimits: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RateLimits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.defaults); diff != "" {
				t.Errorf("RateLimits changed its defaults argument (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRegisterAddsRateSettings(t *testing.T) {
	got := withRateSettings([]Setting{{Name: "url", Required: true}, {Name: SettingRequestsPerHour, Help: "own"}})
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	want := []string{"url", SettingRequestsPerHour, SettingRequestsPerMinute}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	if got[1].Help != "own" {
		t.Errorf("a kind's own declaration of %s was replaced", SettingRequestsPerHour)
	}
}
