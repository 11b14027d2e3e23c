package ciscosim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/cisco"
)

func init() {
	simharness.Register(simharness.Sim{Kind: vendor.KindCisco, Start: Start})
}

// DemoClientID is the API client ID the started simulator accepts.
const DemoClientID = "0f1e2d3c4b5a69788796"

// Start serves a simulator with the demo inventory on loopback and an API
// key made for this run. Running.Handler is the *Server.
func Start(opts simharness.Options) (*simharness.Running, error) {
	secret := make([]byte, 18)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate simulator API key: %w", err)
	}
	apiKey := hex.EncodeToString(secret)

	sim := New(Config{ClientID: DemoClientID, APIKey: apiKey, PendingDelay: opts.PendingDelay})
	AddDemoInventory(sim)

	srv, err := simharness.Serve(sim, opts.TLS)
	if err != nil {
		return nil, err
	}
	settings := map[string]string{cisco.SettingAPIURL: srv.URL}
	if len(srv.CAPEM) > 0 {
		settings[cisco.SettingCAPEM] = string(srv.CAPEM)
	}
	return &simharness.Running{
		Kind:     vendor.KindCisco,
		URL:      srv.URL,
		Settings: settings,
		Secrets:  map[string]string{cisco.SecretClientID: DemoClientID, cisco.SecretAPIKey: apiKey},
		CAPEM:    srv.CAPEM,
		Handler:  sim,
		Close:    srv.Close,
	}, nil
}

// AddDemoInventory adds demo-host-01 .. demo-host-20, active, not isolated
// and allowed to isolate, with GUIDs from ConnectorGUID.
func AddDemoInventory(s *Server) {
	for _, h := range simharness.DemoHosts() {
		s.AddComputer(Computer{GUID: ConnectorGUID(h.Hostname), Hostname: h.Hostname, InternalIPs: []string{h.IPv4}, Active: true})
	}
}
