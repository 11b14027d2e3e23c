package mslogin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Setting names shared by the Entra and Defender integrations.
const (
	SettingTenantID     = "tenant_id"
	SettingClientID     = "client_id"
	SettingClientSecret = "client_secret"
	SettingCertificate  = "client_certificate"
	SettingCloud        = "cloud"
	SettingLoginURL     = "login_url"
	SettingCAPEM        = "ca_pem"
)

// CommonSettings describes the settings every Microsoft integration has.
var CommonSettings = []vendor.Setting{
	{Name: SettingTenantID, Required: true, Help: "directory (tenant) ID GUID, or a domain such as contoso.onmicrosoft.com"},
	{Name: SettingClientID, Required: true, Help: "application (client) ID GUID of the app registration"},
	{Name: SettingClientSecret, Secret: true, Help: "client secret value of the app registration; set this or client_certificate"},
	{Name: SettingCertificate, Secret: true, Help: "PEM of the app registration's certificate and its RSA private key; set this or client_secret"},
	{Name: SettingCloud, Help: "cloud preset: global (default), gcc or usgov (GCC High and DoD)"},
	{Name: SettingLoginURL, Help: "Microsoft identity platform base URL; overrides the cloud preset"},
	{Name: SettingCAPEM, Help: "PEM of an extra CA to trust, for a TLS-inspecting proxy or a simulator"},
}

// RequireOneCredential is the Factory.Validate of the Microsoft kinds: an
// app registration authenticates with client_secret or client_certificate,
// and exactly one of them must be stored.
func RequireOneCredential(settings, secrets map[string]string) error {
	hasSecret, hasCert := secrets[SettingClientSecret] != "", secrets[SettingCertificate] != ""
	switch {
	case !hasSecret && !hasCert:
		return fmt.Errorf("missing credential: pass --secret %s=VALUE or --secret %s=PEM of the app registration", SettingClientSecret, SettingCertificate)
	case hasSecret && hasCert:
		return fmt.Errorf("%s and %s are both given: keep one", SettingClientSecret, SettingCertificate)
	}
	return nil
}

// CredentialsOf reads the tenant, client id, and secret or certificate of
// cfg, and validates them.
func CredentialsOf(cfg vendor.Config) (Credentials, error) {
	creds := Credentials{
		TenantID:     cfg.Settings[SettingTenantID],
		ClientID:     cfg.Settings[SettingClientID],
		ClientSecret: cfg.Secrets[SettingClientSecret],
	}
	if bundle := cfg.Secrets[SettingCertificate]; bundle != "" {
		cert, err := ParseCertificate([]byte(bundle))
		if err != nil {
			return Credentials{}, fmt.Errorf("%s: %w", SettingCertificate, err)
		}
		creds.Certificate = cert
	}
	return creds, creds.Validate()
}

// Misconfigured returns the error a factory gives for unusable settings.
func Misconfigured(kind vendor.Kind, err error) *vendor.Error {
	return &vendor.Error{Kind: vendor.ErrMisconfigure, Vendor: kind, Op: "read integration settings", Detail: err.Error(), Err: err}
}

// TLSConfig returns the TLS configuration of cfg: nil for the system roots,
// or one that trusts only the ca_pem setting.
func TLSConfig(cfg vendor.Config) (*tls.Config, error) {
	pem := cfg.Settings[SettingCAPEM]
	if pem == "" {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		return nil, fmt.Errorf("%s contains no PEM certificate: paste the CA certificate, BEGIN and END lines included", SettingCAPEM)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// NewTokenAuth builds the token cache of one integration: a login client on
// its own rate budget (so that token requests never spend the API's) and a
// vendorhttp.TokenAuth that renews a token RenewBefore ahead of its expiry,
// or at half its lifetime when it is short.
func NewTokenAuth(cfg vendor.Config, deps vendor.Deps, kind vendor.Kind, login string, creds Credentials, scope string, tlsConfig *tls.Config) *vendorhttp.TokenAuth {
	client := deps.HTTP.Client(cfg.CompanyID, string(cfg.Service)+"/"+string(kind)+"/login", vendorhttp.Config{
		Vendor:  string(kind),
		BaseURL: login,
		Timeout: 20 * time.Second,
		TLS:     tlsConfig,
		Secrets: []string{creds.ClientSecret},
	})
	return &vendorhttp.TokenAuth{Fetch: TokenSource(client, login, kind, creds, scope), RenewBefore: RenewBefore}
}

// EnsureToken fetches a token into auth's cache unless a valid one is
// there. Clients call it before vendorhttp.Client.Do, because Do reports a
// failed token request as a transport error and retries it, which would
// hide a wrong secret (ErrAuth) behind ErrUnavailable.
//
// A failure means that the client's own API request was not sent, so a
// *vendor.Error comes back with NotSent set, also when the token request
// itself reached the login server: the engine then fails a write at once
// instead of holding it as possibly done.
func EnsureToken(ctx context.Context, auth *vendorhttp.TokenAuth) error {
	_, err := auth.Token(ctx)
	if err == nil {
		return nil
	}
	var ve *vendor.Error
	if !errors.As(err, &ve) {
		return err
	}
	notSent := *ve
	notSent.NotSent = true
	return &notSent
}
