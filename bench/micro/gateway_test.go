package micro

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/api"
	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/notify"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
	_ "github.com/smartpt/smartpt/internal/vendors/all"
	"github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim"
)

// benchAgents is the number of agents the simulator serves. Requests go to
// them in turn, so that an isolate does not find an isolation of its agent
// still in flight, which the gateway resolves from its store without a vendor call.
const benchAgents = 10_000

// gatewayStack is the gateway wired as `smartpt serve` wires it, with a
// Wazuh simulator whose request limit and the integration's rate budget are
// both raised, so that a benchmark measures the gateway and not a budget.
type gatewayStack struct {
	url    string
	key    string
	client *http.Client
	audit  *audit.Log
	db     *store.DB
}

func newGatewayStack(b *testing.B, dialect store.Dialect) *gatewayStack {
	b.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	opts := wazuhsim.Options{RequestsPerMinute: 6_000_000}
	for i := 1; i <= benchAgents; i++ {
		opts.Hosts = append(opts.Hosts, simharness.Host{
			Index: i, Hostname: fmt.Sprintf("bench-host-%05d", i), IPv4: fmt.Sprintf("10.20.%d.%d", i/250, i%250+1),
		})
	}
	sim := wazuhsim.New(opts)
	simSrv, err := simharness.Serve(sim, false)
	if err != nil {
		b.Fatalf("serve the Wazuh simulator: %v", err)
	}
	b.Cleanup(func() { simSrv.Close(); sim.Close() })

	db := storetest.Open(b, dialect)
	masterKey := make([]byte, 32)
	rand.Read(masterKey)
	sealer, err := secret.NewSealer(masterKey)
	if err != nil {
		b.Fatalf("sealer: %v", err)
	}
	tenants := tenant.New(db, sealer, &secret.Resolver{})
	auditLog := audit.New(db)

	company, key, err := tenants.CreateCompany(ctx, "bench", "")
	if err != nil {
		b.Fatalf("create company: %v", err)
	}
	err = tenants.SetIntegration(ctx, company.ID, vendor.ServiceWazuh, vendor.KindWazuh,
		map[string]string{
			"url": simSrv.URL, "username": "wazuh-wui", "manager_ip": wazuhsim.DemoManagerIP,
			vendor.SettingRequestsPerMinute: "6000000",
		},
		map[string]string{"password": sim.Password})
	if err != nil {
		b.Fatalf("set the Wazuh integration: %v", err)
	}

	engine, err := action.New(action.Config{
		DB: db, Tenants: tenants, Audit: auditLog, Sealer: sealer,
		HTTP: vendorhttp.NewPool(logger), Logger: logger,
		MailerFor: func(context.Context, string) (notify.Mailer, error) { return nil, fmt.Errorf("no mail in benchmarks") },
	})
	if err != nil {
		b.Fatalf("build the engine: %v", err)
	}
	if err := engine.Start(ctx); err != nil {
		b.Fatalf("start the engine: %v", err)
	}
	b.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		engine.Stop(stop)
	})

	handler, err := api.New(api.Config{
		Executor: engine, Auth: tenants, AuthFailures: auditLog, Ready: db.Ping,
		Logger: logger, ActionTimeout: 60 * time.Second, TrustedProxies: []netip.Prefix{},
	})
	if err != nil {
		b.Fatalf("build the API: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })

	transport := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}
	return &gatewayStack{
		url: "http://" + ln.Addr().String() + "/wazuh/agents", key: key,
		client: &http.Client{Transport: transport, Timeout: 30 * time.Second},
		audit:  auditLog, db: db,
	}
}

// post sends one action for agent NNN and fails the benchmark on a non-200.
func (s *gatewayStack) post(b *testing.B, action string, agent int) {
	body := `{"action":"` + action + `","Email":"bench@demo.example","agent_id":"` + fmt.Sprintf("%03d", agent) + `"}`
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-sha256", s.key)
	resp, err := s.client.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("%s %03d: status %d: %s", action, agent, resp.StatusCode, data)
	}
}

// BenchmarkGateway sends status, or isolate and release in turn, through
// the whole gateway (HTTP, authentication, engine, audit append, vendor
// call to the simulator) from parallel clients. The simulator and the
// client share the process, so ns/op is a ceiling of the gateway's own
// cost; its value is the CPU profile:
//
//	go test -run '^$' -bench 'Gateway/sqlite/status' -cpu 2 -cpuprofile /tmp/cpu.out ./bench/micro
func BenchmarkGateway(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		for _, mix := range []string{"status", "isolate"} {
			b.Run(string(dialect)+"/"+mix, func(b *testing.B) {
				s := newGatewayStack(b, dialect)
				s.post(b, "status", 1) // log in to the simulator once
				var next atomic.Int64
				b.SetParallelism(16)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						n := int(next.Add(1))
						agent := n%benchAgents + 1
						action := "status"
						if mix == "isolate" {
							// Each agent alternates isolate and release.
							action = "isolate"
							if (n/benchAgents)%2 == 1 {
								action = "releaseisolate"
							}
						}
						s.post(b, action, agent)
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
				if groups, calls := s.db.GroupStats(); groups > 0 {
					b.ReportMetric(float64(calls)/float64(groups), "calls/commit")
				}
			})
		}
	}
}
