package wazuh

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/smartpt/smartpt/internal/isolation"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Setting and secret names of a Wazuh integration.
const (
	SettingURL       = "url"
	SettingUsername  = "username"
	SettingManagerIP = "manager_ip"
	SettingAllowList = "allow_list"
	SettingCAPEM     = "ca_pem"
	SettingCommand   = "command"
	SecretPassword   = "password"
)

// DefaultCommand is the file name of the isolation program in the agents'
// active-response/bin folder.
const DefaultCommand = "smartpt-isolation"

var settings = []vendor.Setting{
	{Name: SettingURL, Required: true, Help: "Wazuh server API URL, https://<manager>:55000"},
	{Name: SettingUsername, Required: true, Help: "API user allowed agent:read and active-response:command"},
	{Name: SecretPassword, Secret: true, Required: true, Help: "password of the API user"},
	{Name: SettingManagerIP, Required: true, Help: "comma-separated IP addresses or CIDR prefixes of the Wazuh manager (and workers) that isolated agents keep reaching"},
	{Name: SettingAllowList, Help: "comma-separated IP addresses or CIDR prefixes that isolated agents also keep reaching, for example a patch server"},
	{Name: SettingCAPEM, Help: "PEM CA certificate that signed the manager's API certificate (the default install uses a self-signed one)"},
	{Name: SettingCommand, Help: "file name of the isolation program in active-response/bin; default smartpt-isolation"},
}

// options are the validated settings of one integration.
type options struct {
	baseURL  string
	username string
	password string
	allow    []string // manager addresses first, then the allow-list, as given after validation
	command  string
	tls      *tls.Config
}

var commandPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func parseConfig(cfg vendor.Config) (options, error) {
	var o options

	base, err := apiBaseURL(cfg.Settings[SettingURL])
	if err != nil {
		return o, misconfigured(err.Error())
	}
	o.baseURL = base

	o.username = strings.TrimSpace(cfg.Settings[SettingUsername])
	if o.username == "" || strings.ContainsAny(o.username, ":\r\n") {
		return o, misconfigured("setting username is missing or contains ':' or a line break: set the Wazuh API user")
	}
	o.password = cfg.Secrets[SecretPassword]
	if o.password == "" {
		return o, misconfigured("secret password is missing: set the Wazuh API user's password")
	}

	managers := splitComma(cfg.Settings[SettingManagerIP])
	if len(managers) == 0 {
		return o, misconfigured("setting manager_ip is missing: set the manager's IP address, which isolated agents must keep reaching")
	}
	extra := splitComma(cfg.Settings[SettingAllowList])
	prefixes, err := isolation.ParseAllow(append(managers, extra...))
	if err != nil {
		return o, misconfigured("setting manager_ip or allow_list: " + err.Error())
	}
	for _, p := range prefixes {
		if p.IsSingleIP() {
			o.allow = append(o.allow, p.Addr().String())
		} else {
			o.allow = append(o.allow, p.String())
		}
	}

	o.command = strings.TrimSpace(cfg.Settings[SettingCommand])
	if o.command == "" {
		o.command = DefaultCommand
	}
	if !commandPattern.MatchString(o.command) {
		return o, misconfigured(fmt.Sprintf("setting command %q is not a file name: use letters, digits, '.', '_' or '-'", o.command))
	}

	if pemText := cfg.Settings[SettingCAPEM]; strings.TrimSpace(pemText) != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pemText)) {
			return o, misconfigured("setting ca_pem contains no PEM certificate")
		}
		o.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

func splitComma(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// apiBaseURL validates the API URL and returns it without a trailing
// slash. HTTPS is required except on loopback, because requests carry the
// API password and tokens.
func apiBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("setting url is missing: set the Wazuh server API URL, https://<manager>:55000")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("setting url %q is not an absolute URL: use https://<manager>:55000", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("setting url %q must not carry credentials, a query or a fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("setting url %q uses plain HTTP: use https", raw)
		}
	default:
		return "", fmt.Errorf("setting url %q has scheme %q: use https", raw, u.Scheme)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func misconfigured(detail string) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrMisconfigure, Vendor: vendor.KindWazuh, Op: "configure client", Detail: detail}
}
