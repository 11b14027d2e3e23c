package cortex

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Setting and secret names of a Cortex XDR integration.
const (
	SettingAPIURL  = "api_url"
	SettingKeyID   = "key_id"
	SettingKeyType = "key_type"
	SettingCAPEM   = "ca_pem"
	SecretAPIKey   = "api_key"
)

// Key types, as the Cortex XDR console names them when a key is created.
const (
	KeyStandard = "standard"
	KeyAdvanced = "advanced"
)

var settings = []vendor.Setting{
	{Name: SettingAPIURL, Required: true, Help: "tenant API URL shown when the key is created, https://api-<tenant fqdn>"},
	{Name: SettingKeyID, Required: true, Help: "API key ID (the number in the console's ID column), sent as x-xdr-auth-id"},
	{Name: SettingKeyType, Help: `API key security level: "advanced" (default) or "standard"`},
	{Name: SettingCAPEM, Help: "PEM CA certificate to trust instead of the system roots, for a TLS-inspecting proxy or a lab"},
	{Name: SecretAPIKey, Secret: true, Required: true, Help: "API key"},
}

// options are the validated settings of one integration.
type options struct {
	baseURL  string // scheme and host, then /public_api/v1
	keyID    string
	apiKey   string
	advanced bool
	tls      *tls.Config
}

func parseConfig(cfg vendor.Config) (options, error) {
	var o options

	base, err := apiBaseURL(cfg.Settings[SettingAPIURL])
	if err != nil {
		return o, misconfigured(err.Error())
	}
	o.baseURL = base + "/public_api/v1"

	o.keyID = strings.TrimSpace(cfg.Settings[SettingKeyID])
	if !printableToken(o.keyID, 64) {
		return o, misconfigured("setting key_id is missing or invalid: set the API key ID from the Cortex XDR console (up to 64 visible characters)")
	}

	o.apiKey = cfg.Secrets[SecretAPIKey]
	if !printableToken(o.apiKey, 1024) {
		return o, misconfigured("secret api_key is missing or contains spaces or control characters")
	}

	switch kt := strings.ToLower(strings.TrimSpace(cfg.Settings[SettingKeyType])); kt {
	case "", KeyAdvanced:
		o.advanced = true
	case KeyStandard:
		o.advanced = false
	default:
		return o, misconfigured(fmt.Sprintf("setting key_type %q is invalid: use %q or %q", kt, KeyAdvanced, KeyStandard))
	}

	if pemText := cfg.Settings[SettingCAPEM]; strings.TrimSpace(pemText) != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pemText)) {
			return o, misconfigured("setting ca_pem holds no PEM certificate")
		}
		o.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// apiBaseURL validates the tenant API URL and returns its scheme and host.
// HTTPS is required, except for a loopback host (a simulator or a local
// tunnel), because the request headers carry the API key or its hash.
func apiBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("setting api_url is missing: set the tenant API URL, https://api-<tenant fqdn>")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("setting api_url %q is not an absolute URL: use https://api-<tenant fqdn>", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("setting api_url %q must be only a scheme and host, such as https://api-acme.xdr.us.paloaltonetworks.com", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("setting api_url %q uses plain HTTP: use https", raw)
		}
	default:
		return "", fmt.Errorf("setting api_url %q has scheme %q: use https", raw, u.Scheme)
	}
	return u.Scheme + "://" + u.Host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// printableToken reports whether s is 1 to max visible ASCII characters.
func printableToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func misconfigured(detail string) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrMisconfigure, Vendor: vendor.KindCortex, Op: "configure client", Detail: detail}
}
