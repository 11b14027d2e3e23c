package mslogin_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/vendors/mslogin"
	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"
)

func TestQuoteString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"alice@contoso.com", "'alice@contoso.com'"},
		{"o'neil@contoso.com", "'o''neil@contoso.com'"},
		{"''", "''''''"},
		{"", "''"},
	}
	for _, tc := range cases {
		if got := mslogin.QuoteString(tc.in); got != tc.want {
			t.Errorf("QuoteString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestEncodeQuery(t *testing.T) {
	got := mslogin.EncodeQuery(
		mslogin.Param{Key: "$filter", Value: "userPrincipalName eq " + mslogin.QuoteString("a+b#EXT#@c.com&x=1")},
		mslogin.Param{Key: "$top", Value: "5"},
	)
	want := "?$filter=userPrincipalName%20eq%20%27a%2Bb%23EXT%23%40c.com%26x%3D1%27&$top=5"
	if got != want {
		t.Errorf("EncodeQuery = %s, want %s", got, want)
	}
}

// FuzzFilterRoundTrip checks that any value quoted and encoded by the
// client reads back unchanged through URL decoding and the OData parser,
// so no value can change the filter's structure.
func FuzzFilterRoundTrip(f *testing.F) {
	for _, s := range []string{"alice@contoso.com", "o'neil", "a' or 1 eq 1 or 'x", "x&$top=1", "#EXT#", "%27", "+ +", "j\u00f6rg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		query := mslogin.EncodeQuery(mslogin.Param{Key: "$filter", Value: "userPrincipalName eq " + mslogin.QuoteString(value)})
		parsed, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", query, err)
		}
		if len(parsed) != 1 || len(parsed["$filter"]) != 1 {
			t.Fatalf("query %q splits into %v", query, parsed)
		}
		filter := parsed.Get("$filter")
		expr, err := mssim.ParseFilter(filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", filter, err)
		}
		cmp, ok := expr.(mssim.Compare)
		if !ok || cmp.Field != "userPrincipalName" || cmp.Value.Kind != "string" || cmp.Value.Text != value {
			t.Fatalf("filter %q parsed as %#v, want one comparison with %q", filter, expr, value)
		}
	})
}

func TestLookupCloud(t *testing.T) {
	for name, login := range map[string]string{"": "https://login.microsoftonline.com", "global": "https://login.microsoftonline.com", "USGOV": "https://login.microsoftonline.us", "gcc": "https://login.microsoftonline.com"} {
		c, err := mslogin.LookupCloud(name)
		if err != nil || c.Login != login {
			t.Errorf("LookupCloud(%q) = %s, %v; want login %s", name, c.Login, err, login)
		}
	}
	if _, err := mslogin.LookupCloud("mars"); err == nil {
		t.Errorf("LookupCloud(mars) succeeded")
	}
	if host, err := mslogin.LookupRegion("EU"); err != nil || host != "https://eu.api.security.microsoft.com" {
		t.Errorf("LookupRegion(EU) = %s, %v", host, err)
	}
}

func TestBaseURL(t *testing.T) {
	cases := []struct {
		raw, want string
		ok        bool
	}{
		{"https://graph.microsoft.com/", "https://graph.microsoft.com", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"http://[::1]:8080", "http://[::1]:8080", true},
		{"http://localhost:1", "http://localhost:1", true},
		{"http://graph.microsoft.com", "", false},
		{"http://127.evil.example", "", false},
		{"ftp://x.example", "", false},
		{"https://user:pw@x.example", "", false},
		{"https://x.example?a=1", "", false},
		{"graph.microsoft.com", "", false},
	}
	for _, tc := range cases {
		got, err := mslogin.BaseURL("graph_url", tc.raw)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q ok %t", tc.raw, got, err, tc.want, tc.ok)
		}
	}
}

func TestCredentialsValidate(t *testing.T) {
	good := mslogin.Credentials{TenantID: "contoso.onmicrosoft.com", ClientID: "3f2b9c41-6d7e-4a58-8b19-0c2d4e6f8a7b", ClientSecret: "s"}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
	for _, bad := range []mslogin.Credentials{
		{TenantID: "../x", ClientID: good.ClientID, ClientSecret: "s"},
		{TenantID: "a/b", ClientID: good.ClientID, ClientSecret: "s"},
		{TenantID: "contoso.com", ClientID: "not-a-guid", ClientSecret: "s"},
		{TenantID: "contoso.com", ClientID: good.ClientID},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) succeeded", bad)
		}
	}
}

func TestParseToken(t *testing.T) {
	token, life, err := mslogin.ParseToken([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"abc"}`))
	if err != nil || token != "abc" || life != 3599*time.Second {
		t.Errorf("ParseToken = %q, %v, %v", token, life, err)
	}
	if _, life, err := mslogin.ParseToken([]byte(`{"token_type":"Bearer","expires_in":"3600","access_token":"abc"}`)); err != nil || life != time.Hour {
		t.Errorf("ParseToken with string expires_in = %v, %v", life, err)
	}
	for _, bad := range []string{`{}`, `{"access_token":"a","expires_in":0}`, `{"access_token":"a","expires_in":"x"}`, `{"access_token":"a","token_type":"mac","expires_in":10}`} {
		if _, _, err := mslogin.ParseToken([]byte(bad)); err == nil {
			t.Errorf("ParseToken(%s) succeeded", bad)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"abc"}`))
	f.Add([]byte(`{"expires_in":"1e9"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		token, life, err := mslogin.ParseToken(body)
		if err == nil && (token == "" || life <= 0) {
			t.Fatalf("ParseToken accepted token %q lifetime %v", token, life)
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"error":{"code":"Request_ResourceNotFound","message":"x","innerError":{"date":"d"}}}`))
	f.Add([]byte(`{"error":{"code":"ResourceNotFound","message":"Machine 1 was not found","target":"t"}}`))
	f.Add([]byte(`{"error":"invalid_client"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, _, ok := mslogin.ParseError(body)
		if ok && code == "" {
			t.Fatalf("ParseError reported ok without a code")
		}
	})
}

func TestParseCertificate(t *testing.T) {
	cert, bundle, err := mssim.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := mssim.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := mslogin.ParseCertificate(bundle)
	if err != nil || !parsed.Leaf.Equal(cert) {
		t.Fatalf("ParseCertificate = %v, %v", parsed, err)
	}

	certOnly, keyOnly, _ := strings.Cut(string(bundle), "-----BEGIN PRIVATE KEY")
	_, otherKey, _ := strings.Cut(string(other), "-----BEGIN PRIVATE KEY")
	for name, bad := range map[string]string{
		"no key":         certOnly,
		"no certificate": "-----BEGIN PRIVATE KEY" + keyOnly,
		"foreign key":    certOnly + "-----BEGIN PRIVATE KEY" + otherKey,
		"not PEM":        "secret",
	} {
		if _, err := mslogin.ParseCertificate([]byte(bad)); err == nil {
			t.Errorf("%s: ParseCertificate succeeded", name)
		}
	}

	both := mslogin.Credentials{TenantID: "contoso.com", ClientID: "3f2b9c41-6d7e-4a58-8b19-0c2d4e6f8a7b", ClientSecret: "s", Certificate: parsed}
	if err := both.Validate(); err == nil {
		t.Errorf("Validate accepted a secret and a certificate together")
	}
}
