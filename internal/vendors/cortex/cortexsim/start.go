package cortexsim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/cortex"
)

func init() {
	simharness.Register(simharness.Sim{Kind: vendor.KindCortex, Start: Start})
}

// DemoKeyID is the API key ID the started simulator accepts.
const DemoKeyID = "17"

// Start serves a simulator with the demo inventory on loopback and an
// advanced API key made for this run. Running.Handler is the *Server.
func Start(opts simharness.Options) (*simharness.Running, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate simulator API key: %w", err)
	}
	apiKey := hex.EncodeToString(secret)

	sim := New(Config{KeyID: DemoKeyID, APIKey: apiKey, Advanced: true, PendingDelay: opts.PendingDelay})
	AddDemoInventory(sim)

	srv, err := simharness.Serve(sim, opts.TLS)
	if err != nil {
		return nil, err
	}
	settings := map[string]string{
		cortex.SettingAPIURL:  srv.URL,
		cortex.SettingKeyID:   DemoKeyID,
		cortex.SettingKeyType: cortex.KeyAdvanced,
	}
	if len(srv.CAPEM) > 0 {
		settings[cortex.SettingCAPEM] = string(srv.CAPEM)
	}
	return &simharness.Running{
		Kind:     vendor.KindCortex,
		URL:      srv.URL,
		Settings: settings,
		Secrets:  map[string]string{cortex.SecretAPIKey: apiKey},
		CAPEM:    srv.CAPEM,
		Handler:  sim,
		Close:    srv.Close,
	}, nil
}

// AddDemoInventory adds demo-host-01 .. demo-host-20, connected and not
// isolated, with IDs from EndpointID.
func AddDemoInventory(s *Server) {
	for _, h := range simharness.DemoHosts() {
		s.AddEndpoint(Endpoint{ID: EndpointID(h.Hostname), Hostname: h.Hostname, IPs: []string{h.IPv4}})
	}
}
