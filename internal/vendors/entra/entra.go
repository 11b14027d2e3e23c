// Package entra blocks, unblocks, reads and reports on Microsoft Entra ID
// users through Microsoft Graph v1.0. It implements vendor.Directory and
// registers the "entra" kind for the /azuread/users route.
//
// Authentication is the OAuth 2.0 client-credentials flow of the Microsoft
// identity platform with an application permission set of
// User.ReadWrite.All (or User.EnableDisableAccount.All with User.Read.All),
// User.RevokeSessions.All, and AuditLog.Read.All with Directory.Read.All
// for the report.
package entra

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

// SettingGraphURL overrides the Graph host of the cloud preset.
const SettingGraphURL = "graph_url"

func init() {
	vendor.Register(vendor.Factory{
		Kind:     vendor.KindEntra,
		Services: []vendor.Service{vendor.ServiceAzureAD},
		Validate: mslogin.RequireOneCredential,
		Settings: append(append([]vendor.Setting{}, mslogin.CommonSettings...),
			vendor.Setting{Name: SettingGraphURL, Help: "Microsoft Graph base URL without /v1.0; overrides the cloud preset"}),
		NewDirectory: func(cfg vendor.Config, deps vendor.Deps) (vendor.Directory, error) {
			return New(cfg, deps)
		},
		Check: func(cfg vendor.Config, deps vendor.Deps) error {
			c, err := New(cfg, deps)
			if err != nil {
				return err
			}
			return c.Check()
		},
	})
}

// Client is a Microsoft Graph client for one company's Entra integration.
// It is safe for concurrent use.
type Client struct {
	graph     *vendorhttp.Client
	auth      *vendorhttp.TokenAuth
	graphBase string // for Plan: the Graph URL including /v1.0
	logger    *slog.Logger
	now       func() time.Time
}

var _ vendor.Directory = (*Client)(nil)

// New builds a client from an integration's settings. Settings that cannot
// work give *vendor.Error of kind ErrMisconfigure.
func New(cfg vendor.Config, deps vendor.Deps) (*Client, error) {
	creds, err := mslogin.CredentialsOf(cfg)
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindEntra, err)
	}
	if deps.HTTP == nil {
		return nil, mslogin.Misconfigured(vendor.KindEntra, fmt.Errorf("no HTTP pool given"))
	}

	cloud, err := mslogin.LookupCloud(cfg.Settings[mslogin.SettingCloud])
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindEntra, err)
	}
	login, graph, scope := cloud.Login, cloud.Graph, cloud.GraphScope
	if v := cfg.Settings[mslogin.SettingLoginURL]; v != "" {
		if login, err = mslogin.BaseURL(mslogin.SettingLoginURL, v); err != nil {
			return nil, mslogin.Misconfigured(vendor.KindEntra, err)
		}
	}
	if v := cfg.Settings[SettingGraphURL]; v != "" {
		if graph, err = mslogin.BaseURL(SettingGraphURL, v); err != nil {
			return nil, mslogin.Misconfigured(vendor.KindEntra, err)
		}
	}
	tlsConfig, err := mslogin.TLSConfig(cfg)
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindEntra, err)
	}

	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	limits, err := vendor.RateLimits(cfg, vendorhttp.DefaultLimits(string(vendor.KindEntra)))
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindEntra, err)
	}
	auth := mslogin.NewTokenAuth(cfg, deps, vendor.KindEntra, login, creds, scope, tlsConfig)
	base := graph + "/v1.0"
	client := deps.HTTP.Client(cfg.CompanyID, string(cfg.Service)+"/"+string(vendor.KindEntra), vendorhttp.Config{
		Vendor:  string(vendor.KindEntra),
		BaseURL: base,
		Auth:    auth,
		TLS:     tlsConfig,
		Secrets: []string{creds.ClientSecret},
		// Graph publishes no fixed per-tenant number for the user and
		// audit-log APIs ("Microsoft Graph throttling guidance"): without
		// requests_per_minute or requests_per_hour there is no local
		// budget, and the client relies on 429 with Retry-After.
		Limits: limits,
	})
	return &Client{
		graph:     client,
		auth:      auth,
		graphBase: base,
		logger:    logger.With("vendor", string(vendor.KindEntra), "company", cfg.CompanyID),
		now:       time.Now,
	}, nil
}

// ValidateUPN implements vendor.Directory.
func (c *Client) ValidateUPN(upn string) error { return ValidateUPN(upn) }
