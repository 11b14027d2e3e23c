package cisco

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Setting and secret names of a Cisco Secure Endpoint integration.
const (
	SettingRegion  = "region"
	SettingAPIURL  = "api_url"
	SettingCAPEM   = "ca_pem"
	SecretClientID = "client_id"
	SecretAPIKey   = "api_key"
)

// Regions maps a region name to its API host (Cisco Secure Endpoint API v1,
// api-docs.amp.cisco.com: North America, Europe, Asia Pacific, Japan and
// China).
var Regions = map[string]string{
	"nam":  "https://api.amp.cisco.com",
	"eu":   "https://api.eu.amp.cisco.com",
	"apjc": "https://api.apjc.amp.cisco.com",
}

// DefaultRegion is used when neither region nor api_url is set.
const DefaultRegion = "nam"

var settings = []vendor.Setting{
	{Name: SettingRegion, Help: `cloud region: "nam" (default), "eu" or "apjc"`},
	{Name: SettingAPIURL, Help: "API base URL, https://<host>; overrides region"},
	{Name: SettingCAPEM, Help: "PEM CA certificate to trust instead of the system roots, for a TLS-inspecting proxy or a lab"},
	{Name: SecretClientID, Secret: true, Required: true, Help: "API client ID from the console's API Credentials page"},
	{Name: SecretAPIKey, Secret: true, Required: true, Help: "API key of that client ID"},
}

// options are the validated settings of one integration.
type options struct {
	baseURL  string // scheme and host
	clientID string
	apiKey   string
	tls      *tls.Config
}

func parseConfig(cfg vendor.Config) (options, error) {
	var o options

	if raw := strings.TrimSpace(cfg.Settings[SettingAPIURL]); raw != "" {
		base, err := apiBaseURL(raw)
		if err != nil {
			return o, misconfigured(err.Error())
		}
		o.baseURL = base
	} else {
		region := strings.ToLower(strings.TrimSpace(cfg.Settings[SettingRegion]))
		if region == "" {
			region = DefaultRegion
		}
		base, ok := Regions[region]
		if !ok {
			return o, misconfigured(fmt.Sprintf("setting region %q is invalid: use nam, eu or apjc, or set api_url", region))
		}
		o.baseURL = base
	}

	o.clientID = cfg.Secrets[SecretClientID]
	o.apiKey = cfg.Secrets[SecretAPIKey]
	if !printable(o.clientID) || strings.Contains(o.clientID, ":") {
		return o, misconfigured("secret client_id is missing or contains spaces, colons or control characters")
	}
	if !printable(o.apiKey) {
		return o, misconfigured("secret api_key is missing or contains spaces or control characters")
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

// apiBaseURL validates an api_url override. HTTPS is required, except for a
// loopback host (a simulator), because every request carries the API key.
func apiBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("setting api_url %q is not an absolute URL: use https://<host>", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("setting api_url %q must be only a scheme and host, such as https://api.amp.cisco.com", raw)
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

func printable(s string) bool {
	if s == "" || len(s) > 1024 {
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
	return &vendor.Error{Kind: vendor.ErrMisconfigure, Vendor: vendor.KindCisco, Op: "configure client", Detail: detail}
}
