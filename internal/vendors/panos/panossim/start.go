package panossim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/panos"
)

func init() {
	simharness.Register(simharness.Sim{Kind: vendor.KindPANOS, Start: Start})
}

// DemoUsername is the administrator the started simulator accepts for
// keygen.
const DemoUsername = "smartpt-api"

// Start serves a simulator over HTTPS on loopback, always, because the
// client requires TLS. The integration it returns uses keygen with a
// password made for this run. The demo inventory needs no setup: a firewall
// quarantines any IP address, including 10.20.0.1 to 10.20.0.20.
func Start(opts simharness.Options) (*simharness.Running, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate simulator password: %w", err)
	}
	password := hex.EncodeToString(secret)

	sim := New(Config{Username: DemoUsername, Password: password, CIDRSupported: true})
	srv, err := simharness.Serve(sim, true)
	if err != nil {
		return nil, err
	}
	return &simharness.Running{
		Kind: vendor.KindPANOS,
		URL:  srv.URL,
		Settings: map[string]string{
			panos.SettingURL:   srv.URL,
			panos.SettingCAPEM: string(srv.CAPEM),
		},
		Secrets: map[string]string{panos.SecretUsername: DemoUsername, panos.SecretPassword: password},
		CAPEM:   srv.CAPEM,
		Handler: sim,
		Close:   srv.Close,
	}, nil
}
