// Package cisco is the Cisco Secure Endpoint (formerly AMP for Endpoints)
// client: it looks computers up through /v1/computers and isolates and
// releases them through the /v1/computers/{connector_guid}/isolation
// sub-resource, authenticated with HTTP Basic (client ID and API key).
//
// Isolation is asynchronous: PUT moves the computer to pending_start and the
// connector reports isolated later; DELETE goes through pending_stop to
// not_isolated. Every isolation carries an unlock code that lifts it on the
// machine itself.
package cisco

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/url"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

func init() {
	vendor.Register(vendor.Factory{
		Kind:     vendor.KindCisco,
		Services: []vendor.Service{vendor.ServiceCisco},
		Settings: settings,
		NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
			return New(cfg, deps)
		},
		Check: check,
	})
}

// HourlyLimit is the API's default request budget per client ID (observed
// X-RateLimit-Limit: 3000 per hour).
const HourlyLimit = 3000

// Client is a Cisco Secure Endpoint client for one company's integration.
// It is safe for concurrent use.
type Client struct {
	http      *vendorhttp.Client
	baseURL   string
	basicAuth string // "Basic base64(client_id:api_key)"
	logger    *slog.Logger
}

var _ vendor.Containment = (*Client)(nil)

// New validates cfg and returns a client. Errors are *vendor.Error of kind
// ErrMisconfigure.
func New(cfg vendor.Config, deps vendor.Deps) (*Client, error) {
	opts, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}

	pool := deps.HTTP
	if pool == nil {
		pool = vendorhttp.NewPool(deps.Logger)
	}
	// The engine's logger carries the company and vendor already.
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default().With("vendor", string(vendor.KindCisco), "company", cfg.CompanyID)
	}
	limits, err := vendor.RateLimits(cfg, []vendorhttp.Limit{{Count: HourlyLimit, Per: time.Hour}})
	if err != nil {
		return nil, misconfigured(err.Error())
	}
	credentials := base64.StdEncoding.EncodeToString([]byte(opts.clientID + ":" + opts.apiKey))
	httpClient := pool.Client(cfg.CompanyID, string(cfg.Service)+"/"+string(vendor.KindCisco), vendorhttp.Config{
		Vendor:  string(vendor.KindCisco),
		BaseURL: opts.baseURL,
		Limits:  limits,
		TLS:     opts.tls,
		Secrets: []string{opts.apiKey, credentials},
	})
	return &Client{
		http:      httpClient,
		baseURL:   opts.baseURL,
		basicAuth: "Basic " + credentials,
		logger:    logger,
	}, nil
}

// check lists one computer, the cheapest call that needs valid credentials.
func check(cfg vendor.Config, deps vendor.Deps) error {
	c, err := New(cfg, deps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const op = "list computers"
	resp, err := c.do(ctx, request{op: op, method: "GET", path: "/v1/computers", query: url.Values{"limit": {"1"}}})
	if err != nil {
		return err
	}
	if resp.Status != 200 {
		return statusError(op, resp)
	}
	return nil
}

// IsID reports whether s is a connector GUID: a lowercase UUID such as
// fc0365d7-50b2-4464-a222-f7a3e3431b10.
func (c *Client) IsID(s string) bool { return IsConnectorGUID(s) }

// IsConnectorGUID reports whether s is a lowercase UUID in 8-4-4-4-12 form.
func IsConnectorGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
				return false
			}
		}
	}
	return true
}
