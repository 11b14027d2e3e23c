// Package wazuh isolates Wazuh agents through the Wazuh server API 4.x.
//
// Wazuh has no built-in host isolation. The client runs the custom Active
// Response command "!smartpt-isolation" on one agent with PUT
// /active-response; the agent's wazuh-execd starts the smartpt-isolation
// program (cmd/smartpt-isolation), which changes the host firewall and logs
// the result to active-responses.log. The API only queues the command and
// cannot say whether it ran, so Isolate and Release return a pending
// outcome, and the result arrives later as a Wazuh alert that the
// smartpt-wazuh integration forwards to the gateway.
//
// The arguments of the command (see Arguments) tell the program what to do
// and which addresses stay reachable: the manager and the allow-list.
package wazuh

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

// RequestsPerMinute is max_request_per_minute's default in the manager's
// api.yaml (wazuh/wazuh v4.14.7 api/api/configuration.py).
const RequestsPerMinute = 300

func init() {
	vendor.Register(vendor.Factory{
		Kind:     vendor.KindWazuh,
		Services: []vendor.Service{vendor.ServiceWazuh},
		Settings: settings,
		NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
			return New(cfg, deps)
		},
		Check: check,
	})
}

// Client is a Wazuh integration of one company. It is safe for concurrent
// use.
type Client struct {
	opts   options
	http   *vendorhttp.Client
	logger *slog.Logger
}

// New builds a client from a company's integration settings.
func New(cfg vendor.Config, deps vendor.Deps) (*Client, error) {
	opts, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	pool := deps.HTTP
	if pool == nil {
		pool = vendorhttp.NewPool(logger)
	}

	limits, err := vendor.RateLimits(cfg, []vendorhttp.Limit{{Count: RequestsPerMinute, Per: time.Minute}})
	if err != nil {
		return nil, misconfigured(err.Error())
	}
	base := vendorhttp.Config{
		Vendor:  string(vendor.KindWazuh),
		BaseURL: opts.baseURL,
		Limits:  limits,
		TLS:     opts.tls,
		Secrets: []string{opts.password},
	}
	lg := &login{
		http:     pool.Client(cfg.CompanyID, string(vendor.KindWazuh), base),
		username: opts.username,
		password: opts.password,
		now:      time.Now,
	}

	withAuth := base
	// fetch already subtracts the renewal margin from the expiry.
	withAuth.Auth = &vendorhttp.TokenAuth{Fetch: lg.fetch, RenewBefore: time.Millisecond}
	return &Client{
		opts:   opts,
		http:   pool.Client(cfg.CompanyID, string(vendor.KindWazuh), withAuth),
		logger: logger.With("vendor", vendor.KindWazuh, "company", cfg.CompanyID),
	}, nil
}

// check logs in and reads one agent, the cheapest authenticated read.
func check(cfg vendor.Config, deps vendor.Deps) error {
	c, err := New(cfg, deps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.call(ctx, vendorhttp.Request{
		Op: "list agents", Method: http.MethodGet, Path: "/agents",
		Query: map[string][]string{"limit": {"1"}, "select": {"id"}}, Idempotent: true,
	})
	return err
}
