package mssim

import (
	"testing"
)

func TestParseFilter(t *testing.T) {
	record := map[string][]string{
		"userPrincipalName":                 {"O'Neil@contoso.com"},
		"createdDateTime":                   {"2026-01-10T00:00:00Z"},
		"computerDnsName":                   {"host-01.contoso.com"},
		"targetResources/userPrincipalName": {"a@contoso.com", "b@contoso.com"},
		"type":                              {"Isolate"},
		"machineId":                         {"abc"},
	}
	get := func(field string) []string { return record[field] }

	cases := []struct {
		filter string
		match  bool
	}{
		{"userPrincipalName eq 'o''neil@contoso.com'", true},
		{"userPrincipalName eq 'x' or userPrincipalName eq 'O''Neil@contoso.com'", true},
		{"userPrincipalName eq 'x'", false},
		{"createdDateTime ge 2026-01-01T00:00:00Z and createdDateTime lt 2026-02-01T00:00:00Z", true},
		{"createdDateTime ge 2026-01-11T00:00:00Z", false},
		{"startswith(computerDnsName,'host-01.')", true},
		{"startswith(computerDnsName,'host-02')", false},
		{"targetResources/any(t:t/userPrincipalName eq 'b@contoso.com')", true},
		{"targetResources/any(t: t/userPrincipalName eq 'c@contoso.com')", false},
		{"machineId eq 'abc' and (type eq 'Isolate' or type eq 'Unisolate')", true},
		{"machineId eq 'abc' and (type eq 'Scan')", false},
	}
	for _, tc := range cases {
		expr, err := ParseFilter(tc.filter)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tc.filter, err)
			continue
		}
		if got := Eval(expr, get); got != tc.match {
			t.Errorf("Eval(%q) = %t, want %t", tc.filter, got, tc.match)
		}
	}
}

func TestParseFilterRejects(t *testing.T) {
	for _, f := range []string{
		"userPrincipalName eq 'unterminated",
		"userPrincipalName eq alice",
		"userPrincipalName like 'a'",
		"(userPrincipalName eq 'a'",
		"userPrincipalName eq 'a' extra",
		"userPrincipalName eq 'a';drop",
		"",
	} {
		if _, err := ParseFilter(f); err == nil {
			t.Errorf("ParseFilter(%q) succeeded, want an error", f)
		}
	}
}

func TestFields(t *testing.T) {
	expr, err := ParseFilter("targetResources/any(t:t/userPrincipalName eq 'a') and activityDateTime ge 2026-01-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	got := Fields(expr)
	if len(got) != 2 || got[0] != "targetResources/userPrincipalName" || got[1] != "activityDateTime" {
		t.Errorf("Fields = %q", got)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"a eq 'b'", "startswith(a,'b')", "x/any(t:t/y eq 'z') and d ge 2026-01-01T00:00:00Z", "(a eq 1 or b ne null)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		expr, err := ParseFilter(s)
		if err != nil {
			return
		}
		_ = Fields(expr)
		_ = Eval(expr, func(string) []string { return []string{"v", "2026-01-01T00:00:00Z"} })
	})
}
