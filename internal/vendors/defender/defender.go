// Package defender isolates and releases machines through the Microsoft
// Defender for Endpoint API. It implements vendor.Containment and registers
// the "defender" kind for the /defender/machines route.
//
// The app registration needs the application permissions Machine.Isolate
// and Machine.Read.All. Isolation is asynchronous: isolate and unisolate
// return a MachineAction that the engine confirms with Confirm.
package defender

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin"
)

// Settings specific to Defender.
const (
	SettingRegion = "region"  // regional API host of the global cloud
	SettingAPIURL = "api_url" // overrides the API host
)

// Limits documented on each API page used here (isolate, unisolate, get
// machine, list machines, find devices by internal IP): 100 calls per
// minute and 1,500 calls per hour.
var Limits = []vendorhttp.Limit{{Count: 100, Per: time.Minute}, {Count: 1500, Per: time.Hour}}

func init() {
	vendor.Register(vendor.Factory{
		Kind:     vendor.KindDefender,
		Services: []vendor.Service{vendor.ServiceDefender},
		Validate: mslogin.RequireOneCredential,
		Settings: append(append([]vendor.Setting{}, mslogin.CommonSettings...),
			vendor.Setting{Name: SettingRegion, Help: "regional API host of the global cloud: us, eu, uk, au, swa, ina or aea; empty means api.security.microsoft.com"},
			vendor.Setting{Name: SettingAPIURL, Help: "Defender for Endpoint API base URL without /api; overrides cloud and region"}),
		NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
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

// Client is a Defender for Endpoint API client for one company's
// integration. It is safe for concurrent use.
type Client struct {
	api     *vendorhttp.Client
	auth    *vendorhttp.TokenAuth
	apiBase string // for Plan: the API URL including /api
	logger  *slog.Logger
	now     func() time.Time
}

var _ vendor.Containment = (*Client)(nil)

// New builds a client from an integration's settings. Settings that cannot
// work give *vendor.Error of kind ErrMisconfigure.
func New(cfg vendor.Config, deps vendor.Deps) (*Client, error) {
	creds, err := mslogin.CredentialsOf(cfg)
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindDefender, err)
	}
	if deps.HTTP == nil {
		return nil, mslogin.Misconfigured(vendor.KindDefender, fmt.Errorf("no HTTP pool given"))
	}

	cloud, err := mslogin.LookupCloud(cfg.Settings[mslogin.SettingCloud])
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindDefender, err)
	}
	login, api := cloud.Login, cloud.Defender
	if region := cfg.Settings[SettingRegion]; region != "" {
		if cloud.Defender != mslogin.Clouds["global"].Defender {
			return nil, mslogin.Misconfigured(vendor.KindDefender, fmt.Errorf("region %q applies to the global cloud only: clear it or set cloud to global", region))
		}
		if api, err = mslogin.LookupRegion(region); err != nil {
			return nil, mslogin.Misconfigured(vendor.KindDefender, err)
		}
	}
	if v := cfg.Settings[mslogin.SettingLoginURL]; v != "" {
		if login, err = mslogin.BaseURL(mslogin.SettingLoginURL, v); err != nil {
			return nil, mslogin.Misconfigured(vendor.KindDefender, err)
		}
	}
	if v := cfg.Settings[SettingAPIURL]; v != "" {
		if api, err = mslogin.BaseURL(SettingAPIURL, v); err != nil {
			return nil, mslogin.Misconfigured(vendor.KindDefender, err)
		}
	}
	tlsConfig, err := mslogin.TLSConfig(cfg)
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindDefender, err)
	}

	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	limits, err := vendor.RateLimits(cfg, Limits)
	if err != nil {
		return nil, mslogin.Misconfigured(vendor.KindDefender, err)
	}
	auth := mslogin.NewTokenAuth(cfg, deps, vendor.KindDefender, login, creds, cloud.DefenderScope, tlsConfig)
	base := api + "/api"
	client := deps.HTTP.Client(cfg.CompanyID, string(cfg.Service)+"/"+string(vendor.KindDefender), vendorhttp.Config{
		Vendor:  string(vendor.KindDefender),
		BaseURL: base,
		Auth:    auth,
		TLS:     tlsConfig,
		Limits:  limits,
		Secrets: []string{creds.ClientSecret},
	})
	return &Client{
		api:     client,
		auth:    auth,
		apiBase: base,
		logger:  logger.With("vendor", string(vendor.KindDefender), "company", cfg.CompanyID),
		now:     time.Now,
	}, nil
}
