// Package cortex is the Cortex XDR client: it isolates and releases endpoints
// through the Cortex XDR public API (POST /public_api/v1/<api>/<call> with a
// {"request_data":{...}} body) and confirms the asynchronous actions through
// actions/get_action_status.
//
// It serves /cortex/endpoints, and /paloalto/endpoints when a company's Palo
// Alto integration is Cortex XDR. Endpoint IDs are 32 lowercase hexadecimal
// characters.
package cortex

import (
	"context"
	"log/slog"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

func init() {
	vendor.Register(vendor.Factory{
		Kind:     vendor.KindCortex,
		Services: []vendor.Service{vendor.ServiceCortex, vendor.ServicePaloAlto},
		Settings: settings,
		NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
			return New(cfg, deps)
		},
		Check: check,
	})
}

// Client is a Cortex XDR client for one company's integration. It is safe
// for concurrent use.
type Client struct {
	http    *vendorhttp.Client
	baseURL string
	logger  *slog.Logger
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
		logger = slog.Default().With("vendor", string(vendor.KindCortex), "company", cfg.CompanyID)
	}

	limits, err := vendor.RateLimits(cfg, vendorhttp.DefaultLimits(string(vendor.KindCortex)))
	if err != nil {
		return nil, misconfigured(err.Error())
	}
	httpClient := pool.Client(cfg.CompanyID, string(cfg.Service)+"/"+string(vendor.KindCortex), vendorhttp.Config{
		Vendor:  string(vendor.KindCortex),
		BaseURL: opts.baseURL,
		Limits:  limits,
		Auth:    &keyAuth{keyID: opts.keyID, apiKey: opts.apiKey, advanced: opts.advanced, now: time.Now},
		TLS:     opts.tls,
		Secrets: []string{opts.apiKey},
	})
	return &Client{
		http:    httpClient,
		baseURL: opts.baseURL,
		logger:  logger,
	}, nil
}

// check reads one endpoint, the cheapest call that needs a valid key.
func check(cfg vendor.Config, deps vendor.Deps) error {
	c, err := New(cfg, deps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	req := GetEndpointRequest{Filters: []Filter{}, SearchFrom: 0, SearchTo: 1}
	_, err = c.call(ctx, "read endpoints", pathGetEndpoint, req, true, nil)
	return err
}

// IsID reports whether s is a Cortex XDR endpoint ID: 32 hexadecimal
// characters (an MD5-sized value, as the API shows in action statuses).
func (c *Client) IsID(s string) bool { return IsEndpointID(s) }

// IsEndpointID reports whether s is 32 hexadecimal characters.
func IsEndpointID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F') {
			return false
		}
	}
	return true
}
