package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/config"
	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// demoCompany is the name of the company the demo creates.
const demoCompany = "demo"

// demoRequester is the Email of the demo's curl commands.
const demoRequester = "analyst@demo.example"

// demoServices maps each simulator kind to the route family it serves in the
// demo. /paloalto/endpoints is served by PAN-OS and /cortex/endpoints by
// Cortex XDR, so that both Palo Alto Networks products are exercised.
var demoServices = map[vendor.Kind]vendor.Service{
	vendor.KindEntra:    vendor.ServiceAzureAD,
	vendor.KindDefender: vendor.ServiceDefender,
	vendor.KindWazuh:    vendor.ServiceWazuh,
	vendor.KindCisco:    vendor.ServiceCisco,
	vendor.KindCortex:   vendor.ServiceCortex,
	vendor.KindPANOS:    vendor.ServicePaloAlto,
}

// demoTargets is the demo endpoint or user each route's curl commands act
// on; every simulator serves demo-host-01..20 at 10.20.0.1..20 and
// user01..20@demo.example.
var demoTargets = map[vendor.Service]string{
	vendor.ServiceAzureAD:  "user01@demo.example",
	vendor.ServiceWazuh:    "demo-host-01",
	vendor.ServiceDefender: "demo-host-02",
	vendor.ServicePaloAlto: "10.20.0.3",
	vendor.ServiceCisco:    "demo-host-04",
	vendor.ServiceCortex:   "demo-host-05",
}

// demoPendingDelay is how long the simulators keep an asynchronous action
// pending, so that the demo shows isolating before isolated.
const demoPendingDelay = 3 * time.Second

func (c *cli) demo(ctx context.Context, args []string) error {
	fs := c.newFlags("demo", "demo [--data DIR] [--addr HOST:PORT]")
	dataDir := fs.String("data", "", "data `DIR` for the demo's SQLite database and mail outbox; a new temporary folder when empty")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address `HOST:PORT` of the API")
	if _, err := parse(fs, args); err != nil {
		return err
	}

	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// A temporary folder of a demo that fails before serving (a port in
	// use, for one) is removed again. This defer runs after the ones below
	// have closed the store and the simulators.
	var tempDir string
	started := false
	defer func() {
		if tempDir != "" && !started {
			os.RemoveAll(tempDir)
		}
	}()
	if *dataDir == "" {
		dir, err := os.MkdirTemp("", "smartpt-demo-")
		if err != nil {
			return fmt.Errorf("create a temporary data folder: %w", err)
		}
		*dataDir, tempDir = dir, dir
	}
	logger.Info("demo data folder", "path", *dataDir)

	demoKey, err := c.demoKey()
	if err != nil {
		return err
	}

	// The demo never reads SMARTPT_MASTER_KEY: its key file lives in the
	// demo's own data folder.
	stores := storeFlags{dataDir: *dataDir}
	a, err := stores.open(ctx, func(string) string { return "" }, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	a.tenants.CacheKeyChecks(config.DefaultKeyCacheTTL)

	key, err := ensureDemoCompany(ctx, a.tenants, demoKey, logger)
	if err != nil {
		return err
	}

	sims, configured, err := startSimulators(ctx, a.tenants, logger)
	defer func() {
		for _, s := range sims {
			s.Close()
		}
	}()
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; pass another --addr", *addr, err)
	}
	started = true
	return runServer(ctx, a, ln, serverOptions{
		// The demo's confirmations poll simulators; a confirmation cut short
		// by Ctrl-C resumes when the demo restarts with the same --data.
		engineStopTimeout: 3 * time.Second,
		engine: func(cfg *action.Config) {
			cfg.PollMin = 500 * time.Millisecond
			cfg.PollMax = 2 * time.Second
		},
		listening: func(baseURL string) {
			emulateWazuhAgents(sims, baseURL, key, *dataDir, logger)
			printDemoCommands(c.stdout, baseURL, key, configured)
			printSimulators(c.stdout, sims, *dataDir, logger)
			if c.listening != nil {
				c.listening(baseURL, key)
			}
		},
	})
}

// demoKey returns SMARTPT_DEMO_KEY, lowercased, or "" when it is not set.
func (c *cli) demoKey() (string, error) {
	k := strings.ToLower(strings.TrimSpace(c.getenv("SMARTPT_DEMO_KEY")))
	if k == "" {
		return "", nil
	}
	if b, err := hex.DecodeString(k); err != nil || len(b) != 32 {
		return "", errors.New("SMARTPT_DEMO_KEY must be 64 hex characters; unset it to get a random key")
	}
	return k, nil
}

// ensureDemoCompany creates company demo, or, in a data folder of an earlier
// demo, keeps the existing company and returns a key that works: the
// requested key when it is already valid, else a newly rotated one.
func ensureDemoCompany(ctx context.Context, tenants *tenant.Service, want string, logger *slog.Logger) (string, error) {
	_, key, err := tenants.CreateCompany(ctx, demoCompany, want)
	if err == nil {
		return key, nil
	}
	if _, lookupErr := tenants.Company(ctx, demoCompany); lookupErr != nil {
		return "", fmt.Errorf("create company %s: %w", demoCompany, err)
	}

	if want != "" {
		if co, err := tenants.Authenticate(ctx, want); err == nil && co.Name == demoCompany {
			return want, nil
		}
		logger.Warn("company demo already exists without SMARTPT_DEMO_KEY as a valid key; rotating to a new key")
	}
	if err := tenants.SetDisabled(ctx, demoCompany, false); err != nil {
		return "", err
	}
	_, key, err = tenants.RotateKey(ctx, demoCompany)
	if err != nil {
		return "", fmt.Errorf("rotate the key of company %s: %w", demoCompany, err)
	}
	return key, nil
}

// startSimulators starts every registered simulator on loopback and points
// the demo company's integrations at them. It returns the running
// simulators and the services configured.
func startSimulators(ctx context.Context, tenants *tenant.Service, logger *slog.Logger) ([]*simharness.Running, []vendor.Service, error) {
	var (
		running    []*simharness.Running
		configured []vendor.Service
	)
	registered := map[vendor.Kind]bool{}
	for _, kind := range simharness.Kinds() {
		registered[kind] = true
		svc, ok := demoServices[kind]
		if !ok {
			logger.Info("simulator has no demo route; skipped", "kind", kind)
			continue
		}
		if _, ok := vendor.Lookup(kind); !ok {
			logger.Warn("simulator has no client in this build; skipped", "kind", kind)
			continue
		}

		sim, _ := simharness.Lookup(kind)
		r, err := sim.Start(simharness.Options{Logger: logger.With("simulator", string(kind)), PendingDelay: demoPendingDelay})
		if err != nil {
			return running, configured, fmt.Errorf("start the %s simulator: %w", kind, err)
		}
		running = append(running, r)

		if err := tenants.SetIntegration(ctx, demoCompany, svc, kind, r.Settings, r.Secrets); err != nil {
			return running, configured, fmt.Errorf("configure the %s integration of company %s: %w", svc, demoCompany, err)
		}
		configured = append(configured, svc)
		logger.Info("simulator started", "kind", kind, "route", "/"+string(svc), "url", r.URL)
	}

	for kind, svc := range demoServices {
		if !registered[kind] {
			logger.Info("no simulator for this kind yet; its route is not configured in the demo", "kind", kind, "service", svc)
		}
	}
	return running, configured, nil
}

// printDemoCommands writes the company key and a curl command for every
// configured route and action.
func printDemoCommands(w io.Writer, baseURL, key string, configured []vendor.Service) {
	fmt.Fprintf(w, "\nSmartPT demo is serving %s\n\nCompany: %s\nCompany key (x-sha256): %s\n", baseURL, demoCompany, key)
	fmt.Fprintf(w, "\nexport SMARTPT_URL=%s SMARTPT_KEY=%s\n", baseURL, key)

	ready := map[vendor.Service]bool{}
	for _, s := range configured {
		ready[s] = true
	}
	for _, path := range demoRoutes() {
		svc := vendor.Routes[path]
		if !ready[svc] {
			fmt.Fprintf(w, "\n# %s: no simulator in this build, not configured\n", path)
			continue
		}
		target := demoTargets[svc]
		field, actions := "agent_id", []vendor.ActionKind{vendor.ActionStatus, vendor.ActionIsolate, vendor.ActionRelease}
		if svc == vendor.ServiceAzureAD {
			field, actions = "upn", []vendor.ActionKind{vendor.ActionUStatus, vendor.ActionBlock, vendor.ActionUnblock, vendor.ActionReport}
		}
		fmt.Fprintf(w, "\n# %s\n", path)
		for _, act := range actions {
			fmt.Fprintf(w, "curl -sS -X POST \"$SMARTPT_URL%s\" -H 'Content-Type: application/json' -H \"x-sha256: $SMARTPT_KEY\" -d '{\"action\":\"%s\",\"Email\":\"%s\",\"%s\":\"%s\"}'\n",
				path, act, demoRequester, field, target)
		}
	}
	fmt.Fprintf(w, "\n# An action and its history (use an action_id from a response above)\ncurl -sS \"$SMARTPT_URL/v1/actions/ACTION_ID\" -H \"x-sha256: $SMARTPT_KEY\"\n")
	fmt.Fprintf(w, "\n# Dry run: the vendor calls an isolation would make, without making them\ncurl -sS -X POST \"$SMARTPT_URL/wazuh/agents\" -H 'Content-Type: application/json' -H \"x-sha256: $SMARTPT_KEY\" -d '{\"action\":\"isolate\",\"Email\":\"%s\",\"agent_id\":\"demo-host-01\",\"dry_run\":true}'\n", demoRequester)
	fmt.Fprintf(w, "\nAPI document: %s/openapi.json   Metrics: %s/metrics   Stop: Ctrl-C\n\n", baseURL, baseURL)
}

// demoRoutes lists the action routes in the order the demo prints them.
func demoRoutes() []string {
	return []string{"/azuread/users", "/wazuh/agents", "/defender/machines", "/paloalto/endpoints", "/cisco/computers", "/cortex/endpoints"}
}
