package panos

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Setting and secret names of a PAN-OS integration.
const (
	SettingURL            = "url"
	SettingVsys           = "vsys"
	SettingTarget         = "target"
	SettingTag            = "tag"
	SettingTimeoutSeconds = "timeout_seconds"
	SettingAuthMode       = "auth_mode"
	SettingCIDRTargets    = "cidr_targets"
	SettingCAPEM          = "ca_pem"
	SecretAPIKey          = "api_key"
	SecretUsername        = "username"
	SecretPassword        = "password"
)

// Defaults of the optional settings.
const (
	DefaultVsys = "vsys1"
	DefaultTag  = "smartpt-quarantine"
)

// Ways to send the API key.
const (
	AuthHeader = "header" // X-PAN-KEY request header
	AuthForm   = "form"   // key field of the POST form
)

var settings = []vendor.Setting{
	{Name: SettingURL, Required: true, Help: "firewall or Panorama management URL, https://<host>[:port]"},
	{Name: SettingVsys, Help: "virtual system that holds the quarantine dynamic address group (default vsys1)"},
	{Name: SettingTarget, Help: "serial number of the managed firewall, when url is a Panorama"},
	{Name: SettingTag, Help: "tag the quarantine dynamic address group matches (default smartpt-quarantine)"},
	{Name: SettingTimeoutSeconds, Help: "seconds after which the firewall lifts the quarantine by itself, 0 to 2592000 (default 0: never)"},
	{Name: SettingAuthMode, Help: `how the API key is sent: "header" (X-PAN-KEY, default) or "form"`},
	{Name: SettingCIDRTargets, Help: `"true" to accept CIDR networks as targets (PAN-OS 10.0 or later)`},
	{Name: SettingCAPEM, Help: "PEM CA certificate that signed the management certificate, trusted instead of the system roots"},
	{Name: SecretAPIKey, Secret: true, Help: "XML API key; alternatively set username and password"},
	{Name: SecretUsername, Secret: true, Help: "administrator for keygen, when no api_key is set"},
	{Name: SecretPassword, Secret: true, Help: "password of that administrator"},
}

var (
	vsysPattern   = regexp.MustCompile(`^vsys[0-9]{1,3}$`)
	serialPattern = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)
)

// options are the validated settings of one integration.
type options struct {
	baseURL   string // scheme and host
	vsys      string
	target    string
	tag       string
	timeout   int
	authMode  string
	allowCIDR bool
	apiKey    string
	username  string
	password  string
	tls       *tls.Config
}

func parseConfig(cfg vendor.Config) (options, error) {
	o := options{vsys: DefaultVsys, tag: DefaultTag, authMode: AuthHeader}

	base, err := managementURL(cfg.Settings[SettingURL])
	if err != nil {
		return o, misconfigured(err.Error())
	}
	o.baseURL = base

	if v := strings.TrimSpace(cfg.Settings[SettingVsys]); v != "" {
		if !vsysPattern.MatchString(v) {
			return o, misconfigured(fmt.Sprintf("setting vsys %q is invalid: use a name such as vsys1", v))
		}
		o.vsys = v
	}
	if v := strings.TrimSpace(cfg.Settings[SettingTarget]); v != "" {
		if !serialPattern.MatchString(v) {
			return o, misconfigured(fmt.Sprintf("setting target %q is not a firewall serial number (letters and digits)", v))
		}
		o.target = v
	}
	if v, ok := cfg.Settings[SettingTag]; ok && v != "" {
		if err := ValidateTag(v); err != nil {
			return o, misconfigured("setting " + err.Error())
		}
		o.tag = v
	}
	if v := strings.TrimSpace(cfg.Settings[SettingTimeoutSeconds]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxTimeoutSeconds {
			return o, misconfigured(fmt.Sprintf("setting timeout_seconds %q is invalid: use 0 to %d seconds", v, MaxTimeoutSeconds))
		}
		o.timeout = n
	}
	switch v := strings.ToLower(strings.TrimSpace(cfg.Settings[SettingAuthMode])); v {
	case "", AuthHeader:
	case AuthForm:
		o.authMode = AuthForm
	default:
		return o, misconfigured(fmt.Sprintf("setting auth_mode %q is invalid: use %q or %q", v, AuthHeader, AuthForm))
	}
	switch v := strings.ToLower(strings.TrimSpace(cfg.Settings[SettingCIDRTargets])); v {
	case "", "false":
	case "true":
		o.allowCIDR = true
	default:
		return o, misconfigured(fmt.Sprintf("setting cidr_targets %q is invalid: use true or false", v))
	}

	o.apiKey = cfg.Secrets[SecretAPIKey]
	o.username = cfg.Secrets[SecretUsername]
	o.password = cfg.Secrets[SecretPassword]
	switch {
	case o.apiKey != "":
		if !printable(o.apiKey) {
			return o, misconfigured("secret api_key contains spaces or control characters")
		}
	case o.username != "" && o.password != "":
	default:
		return o, misconfigured("set secret api_key, or secrets username and password for keygen")
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

// managementURL validates the management URL and returns its scheme and
// host. HTTPS is required, because every request carries the API key.
func managementURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("setting url is missing: set the firewall's management URL, https://<host>")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("setting url %q is not an absolute URL: use https://<host>", raw)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("setting url %q must use https", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/" && u.Path != "/api" && u.Path != "/api/") {
		return "", fmt.Errorf("setting url %q must be only a scheme and host, such as https://fw.example.com", raw)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil && strings.Contains(u.Host, ":") && !strings.HasPrefix(u.Host, "[") {
		return "", fmt.Errorf("setting url %q has an invalid host", raw)
	}
	return "https://" + u.Host, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

func misconfigured(detail string) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrMisconfigure, Vendor: vendor.KindPANOS, Op: "configure client", Detail: detail}
}
