package wazuhsim

import (
	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
)

// DemoManagerIP is the manager address the demo integration keeps
// reachable when it isolates a demo agent.
const DemoManagerIP = "10.20.0.254"

func init() {
	simharness.Register(simharness.Sim{Kind: vendor.KindWazuh, Start: Start})
}

// Start serves a simulator with the demo inventory on loopback and returns
// the integration settings that point the real client at it.
func Start(opts simharness.Options) (*simharness.Running, error) {
	sim := New(Options{Logger: opts.Logger, PendingDelay: opts.PendingDelay})
	srv, err := simharness.Serve(sim, opts.TLS)
	if err != nil {
		return nil, err
	}

	settings := map[string]string{
		"url":        srv.URL,
		"username":   "wazuh-wui",
		"manager_ip": DemoManagerIP,
	}
	if len(srv.CAPEM) > 0 {
		settings["ca_pem"] = string(srv.CAPEM)
	}
	return &simharness.Running{
		Kind:     vendor.KindWazuh,
		URL:      srv.URL,
		Settings: settings,
		Secrets:  map[string]string{"password": sim.Password},
		CAPEM:    srv.CAPEM,
		Handler:  sim,
		Close: func() {
			srv.Close()
			sim.Close()
		},
	}, nil
}
