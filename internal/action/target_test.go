package action

import (
	"errors"
	"strings"
	"testing"

	vendor "github.com/smartpt/smartpt/internal/vendors"
)

func TestParseTarget(t *testing.T) {
	c := &fakeEDR{} // ids: three or more digits, never all zeros
	long := strings.Repeat("a", 63)
	tests := []struct {
		in       string
		wantKind vendor.TargetKind
		wantVal  string
		wantErr  string // part of the 400 message
	}{
		{in: "001", wantKind: vendor.TargetID, wantVal: "001"},
		{in: "1234", wantKind: vendor.TargetID, wantVal: "1234"},
		{in: "10.20.0.7", wantKind: vendor.TargetIP, wantVal: "10.20.0.7"},
		{in: "2001:db8::1", wantKind: vendor.TargetIP, wantVal: "2001:db8::1"},
		{in: "2001:DB8:0:0::1", wantKind: vendor.TargetIP, wantVal: "2001:db8::1"},
		{in: "demo-host-01", wantKind: vendor.TargetHostname, wantVal: "demo-host-01"},
		{in: "demo-host-01.corp.example.", wantKind: vendor.TargetHostname, wantVal: "demo-host-01.corp.example"},
		{in: long + "." + long, wantKind: vendor.TargetHostname, wantVal: long + "." + long},
		{in: "", wantErr: "is empty"},
		{in: "000", wantErr: "'000' is not a valid agent id"},
		{in: "12", wantErr: "'12' is not a valid agent id"},
		{in: "001,002", wantErr: "list"},
		{in: "001 002", wantErr: "list"},
		{in: "host;rm", wantErr: "list"},
		{in: "host-*", wantErr: "wildcard"},
		{in: "host-?", wantErr: "wildcard"},
		{in: "10.0.0.0/8", wantErr: "path separator"},
		{in: `..\agents`, wantErr: "path separator"},
		{in: "../001", wantErr: "path separator"},
		{in: "a#b", wantErr: "query character"},
		{in: "a&b=c", wantErr: "query character"},
		{in: "fe80::1%eth0", wantErr: "query character"},
		{in: "%2e%2e", wantErr: "query character"},
		{in: "host\n01", wantErr: "control character"},
		{in: "host\x00", wantErr: "control character"},
		{in: "10.20.0.300", wantErr: "not a valid IP address"},
		{in: "-host", wantErr: "hyphen"},
		{in: "host..corp", wantErr: "empty host name label"},
		{in: strings.Repeat("a", 64), wantErr: "longer than 63"},
		{in: strings.Repeat(long+".", 4) + "com", wantErr: "longer than 253"},
		{in: "host_01", wantErr: "not valid in a host name"},
		{in: "hôst", wantErr: "not valid in a host name"},
	}
	for _, tc := range tests {
		got, err := ParseTarget(c, tc.in)
		if tc.wantErr != "" {
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, tc.wantErr) {
				t.Errorf("ParseTarget(%q) = %+v, %v; want a 400 containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.Kind != tc.wantKind || got.Value != tc.wantVal {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %s %q", tc.in, got, err, tc.wantKind, tc.wantVal)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"001", "000", "demo-host-01", "10.20.0.1", "::1", "a,b", "*", "x/y", "a?b", "host.corp.example."} {
		f.Add(s)
	}
	c := &fakeEDR{}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTarget(c, s)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("ParseTarget(%q): error %v is not a 400 *Error", s, err)
			}
			return
		}
		// An accepted target never carries a character that could change a
		// vendor URL, filter or list.
		if strings.ContainsAny(got.Value, ",;*?/\\#&=% \t\r\n\x00") {
			t.Fatalf("ParseTarget(%q) accepted %q", s, got.Value)
		}
	})
}
