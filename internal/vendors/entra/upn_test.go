package entra

import (
	"net/url"
	"strings"
	"testing"
)

func TestValidateUPN(t *testing.T) {
	cases := []struct {
		upn   string
		valid bool
	}{
		{"user@contoso.com", true},
		{"first.last@sub.contoso.com", true},
		{"o'neil@contoso.com", true},
		{"ops+alerts@contoso.com", true},
		{"$svc@contoso.com", true},
		{"jörg.müller@contoso.com", false},
		{"user01@dem\u043e.example", false},
		{"us\u0435r@contoso.com", false},
		{"user@cont\u00f6so.com", false},
		{"user_fabrikam.com#EXT#@contoso.onmicrosoft.com", true},
		{"a@b.c", true},
		{strings.Repeat("a", 64) + "@contoso.com", true},
		{"", false},
		{"user", false},
		{"@contoso.com", false},
		{"user@", false},
		{"user@localhost", false},
		{"a@b@contoso.com", false},
		{"user name@contoso.com", false},
		{"user\t@contoso.com", false},
		{"user\x00@contoso.com", false},
		{"user\u200b@contoso.com", false},
		{"us/er@contoso.com", false},
		{`us\er@contoso.com`, false},
		{"us?er@contoso.com", false},
		{"us&er@contoso.com", false},
		{"us%er@contoso.com", false},
		{`us"er@contoso.com`, false},
		{".user@contoso.com", false},
		{"user.@contoso.com", false},
		{"us..er@contoso.com", false},
		{"user@contoso..com", false},
		{"user@-contoso.com", false},
		{"user@con_toso.com", false},
		{strings.Repeat("a", 65) + "@contoso.com", false},
		{"a@" + strings.Repeat("b", 45) + ".com", false},
		{"\xff@contoso.com", false},
	}
	for _, tc := range cases {
		err := ValidateUPN(tc.upn)
		if (err == nil) != tc.valid {
			t.Errorf("ValidateUPN(%q) = %v, want valid %t", tc.upn, err, tc.valid)
		}
	}
}

func TestUserPath(t *testing.T) {
	cases := []struct{ upn, want string }{
		{"user@contoso.com", "/users/user@contoso.com"},
		{"a_b.com#EXT#@contoso.onmicrosoft.com", "/users/a_b.com%23EXT%23@contoso.onmicrosoft.com"},
		{"ops+alerts@contoso.com", "/users/ops+alerts@contoso.com"},
		{"o'neil@contoso.com", "/users/o%27neil@contoso.com"},
		{"jörg@contoso.com", "/users/j%C3%B6rg@contoso.com"},
		{"$svc@contoso.com", "/users(%27$svc@contoso.com%27)"},
	}
	for _, tc := range cases {
		if got := userPath(tc.upn); got != tc.want {
			t.Errorf("userPath(%q) = %q, want %q", tc.upn, got, tc.want)
		}
	}
}

// FuzzValidateUPN checks that a UPN the validator accepts stays one path
// segment and decodes back to itself.
func FuzzValidateUPN(f *testing.F) {
	for _, s := range []string{"user@contoso.com", "a_b.com#EXT#@c.onmicrosoft.com", "$x@y.z", "o'n+e@d.com", "j\u00f6rg@d.com", "a/b@c.d", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, upn string) {
		if ValidateUPN(upn) != nil {
			return
		}
		path := userPath(upn)
		if strings.HasPrefix(upn, "$") {
			return
		}
		segment := strings.TrimPrefix(path, "/users/")
		if strings.ContainsAny(segment, "/?#") {
			t.Fatalf("userPath(%q) = %q leaves a path, query or fragment delimiter", upn, path)
		}
		decoded, err := url.PathUnescape(segment)
		if err != nil || decoded != upn {
			t.Fatalf("userPath(%q) decodes to %q, %v", upn, decoded, err)
		}
	})
}
