// Package crash kills smartpt serve with SIGKILL while vendor actions are
// pending, restarts it, and checks that every confirmation finishes and no
// vendor write was sent twice: on SQLite, on PostgreSQL, and with two
// replicas sharing one PostgreSQL schema.
//
// The default run is sized for CI; SMARTPT_CRASH_ACTIONS=1000 runs the full
// count.
package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/e2e/fault"
	"github.com/smartpt/smartpt/internal/faultproxy"
	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/vendors"
)

// defaultActions is the CI-sized count of isolations.
const defaultActions = 100

// hostsPerIntegration is how many demo hosts of each simulator get an
// isolation.
const hostsPerIntegration = 10

// defenderHosts is how many demo hosts of each company's Defender
// integration get an isolation. Each isolation costs about eight Defender
// calls, an estimate: one lookup of the machine, the isolate call, and
// about six reads of the machine action while the simulator keeps it
// pending for pendingDelay. The client spends the documented budget of 100
// calls a minute as a bucket of 10 refilled at 1.7 calls a second. Four isolations,
// about 32 calls, finish within the 10 s dispatch timeout; ten did not,
// because about half of them could not send their isolate call in time.
const defenderHosts = 4

// hostsFor returns how many demo hosts of a simulator of kind get an
// isolation.
func hostsFor(kind vendor.Kind) int {
	if kind == vendor.KindDefender {
		return defenderHosts
	}
	return hostsPerIntegration
}

// pendingDelay keeps every simulated isolation pending well past the kill.
const pendingDelay = 4 * time.Second

func actionCount(t *testing.T) int {
	v := os.Getenv("SMARTPT_CRASH_ACTIONS")
	if v == "" {
		return defaultActions
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("SMARTPT_CRASH_ACTIONS=%q is not a positive number", v)
	}
	return n
}

// engineEnv shortens the engine's confirmation and recovery timings, so
// that a restarted server resumes within seconds.
var engineEnv = []string{
	"SMARTPT_ENGINE_POLL_MIN=200ms",
	"SMARTPT_ENGINE_POLL_MAX=1s",
	"SMARTPT_ENGINE_SWEEP_INTERVAL=500ms",
	"SMARTPT_ENGINE_SWEEP_SLACK=2s",
	"SMARTPT_ENGINE_DISPATCH_TIMEOUT=10s",
	"SMARTPT_ENGINE_LEASE_SLACK=1s",
	"SMARTPT_ENGINE_JOB_POLL_INTERVAL=100ms",
}

// settleTimeout bounds the wait for every action to be final after a kill.
// With the timings above, an action left mid-call is settled about 13 s
// after its call began: the 10 s dispatch timeout, the 1 s lease slack and
// the 2 s sweep slack.
const settleTimeout = time.Minute

// target is one endpoint to isolate.
type target struct {
	company string
	key     string
	in      *vendorSide
	host    string
}

// vendorSide is one company's simulator behind a counting proxy.
type vendorSide struct {
	company string
	profile fault.Profile
	sim     *simharness.Running
	proxy   *faultproxy.Server
}

// scenario is one crash test: a deployment, its vendors and its targets.
type scenario struct {
	t       *testing.T
	d       *deployment
	db      *store.DB
	targets []target
	sides   []*vendorSide
	keys    map[string]string // company name -> key

	// responses holds the outcome of each target's isolation request, by
	// target index, once sendAll has run.
	responses []response
}

func newScenario(t *testing.T, d *deployment, db *store.DB, actions int) *scenario {
	t.Helper()
	s := &scenario{t: t, d: d, db: db, keys: map[string]string{}}
	for c := 0; len(s.targets) < actions; c++ {
		name := fmt.Sprintf("crash-co-%03d", c+1)
		key := d.createCompany(name)
		s.keys[name] = key
		added := 0
		for _, p := range fault.Profiles {
			if p.Kind == vendor.KindWazuh {
				// Wazuh confirms through agent events, not by polling.
				continue
			}
			side := s.connect(name, p)
			if side == nil {
				continue
			}
			for _, h := range simharness.DemoHosts()[:hostsFor(p.Kind)] {
				if len(s.targets) < actions {
					s.targets = append(s.targets, target{company: name, key: key, in: side, host: h.Hostname})
					added++
				}
			}
		}
		if added == 0 {
			t.Fatal("the smartpt binary includes none of the vendors under test")
		}
	}
	return s
}

// connect starts a simulator of p behind a counting proxy and configures the
// company's integration with the CLI. It returns nil when the binary does
// not include p's client.
func (s *scenario) connect(company string, p fault.Profile) *vendorSide {
	t := s.t
	sim, ok := simharness.Lookup(p.Kind)
	if !ok {
		return nil
	}
	running, err := sim.Start(simharness.Options{PendingDelay: pendingDelay})
	if err != nil {
		t.Fatalf("start %s simulator: %v", p.Kind, err)
	}
	t.Cleanup(running.Close)
	proxy, err := faultproxy.Start(faultproxy.Config{Upstream: running.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)

	args := []string{"integration", "set", company, "--service", string(p.Service), "--kind", string(p.Kind)}
	for k, v := range running.Settings {
		args = append(args, "--setting", k+"="+strings.ReplaceAll(v, running.URL, proxy.URL))
	}
	for k, v := range running.Secrets {
		args = append(args, "--secret", k+"="+v)
	}
	cmd := exec.Command(s.d.bin, append(args, s.d.storeArgs...)...)
	cmd.Env = s.d.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("has no client in this build")) {
			return nil
		}
		t.Fatalf("smartpt integration set %s %s: %v\n%s", company, p.Kind, err, out)
	}
	side := &vendorSide{company: company, profile: p, sim: running, proxy: proxy}
	s.sides = append(s.sides, side)
	return side
}

// response is the outcome of one isolation request: the route, the HTTP
// status (0 when no response arrived) and the cause, which is the transport
// error or, for an error status, the message and detail of the body.
type response struct {
	route  string
	status int
	cause  string
}

// isolate sends one isolation to the server at base.
func isolate(ctx context.Context, client *http.Client, base string, tg target) response {
	out := response{route: tg.in.profile.Route}
	body, _ := json.Marshal(map[string]string{"action": "isolate", "Email": "soc@crash.example", "agent_id": tg.host})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+tg.in.profile.Route, bytes.NewReader(body))
	if err != nil {
		out.cause = err.Error()
		return out
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-sha256", tg.key)
	resp, err := client.Do(req)
	if err != nil {
		out.cause = "no response: " + transportCause(err)
		return out
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	out.status = resp.StatusCode
	if resp.StatusCode >= 400 {
		var e struct {
			Message string `json:"message"`
			Detail  string `json:"detail"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			out.cause = strings.TrimSpace(e.Message + " (" + idPattern.ReplaceAllString(e.Detail, "<id>") + ")")
		} else {
			out.cause = strings.TrimSpace(string(data))
		}
	}
	return out
}

// idPattern matches the action ids and numbers in an error detail, so that
// causes that differ only in those group together.
var idPattern = regexp.MustCompile(`[0-9a-f]{32}|\d+`)

// transportCause shortens a transport error to its last part, such as
// "connection refused" or "EOF", without the address.
func transportCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// sendAll isolates every target with 16 concurrent clients; server(i)
// picks the server for target i. After killAfter responses, kill runs once
// while the other requests are still in flight.
func (s *scenario) sendAll(ctx context.Context, server func(i int) string, killAfter int, kill func()) map[int]int {
	client := &http.Client{Timeout: time.Minute}
	statuses := map[int]int{}
	s.responses = make([]response, len(s.targets))
	var mu sync.Mutex
	var answered atomic.Int64
	var killOnce sync.Once

	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				got := isolate(ctx, client, server(i), s.targets[i])
				mu.Lock()
				statuses[got.status]++
				s.responses[i] = got
				mu.Unlock()
				if answered.Add(1) == int64(killAfter) {
					killOnce.Do(kill)
				}
			}
		}()
	}
	for i := range s.targets {
		next <- i
	}
	close(next)
	wg.Wait()
	killOnce.Do(kill)
	return statuses
}

// unfinished returns the number of actions not yet in a final state.
func (s *scenario) unfinished(ctx context.Context) (int, error) {
	var n int
	err := s.db.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM actions WHERE state IN ('requested', 'dispatched')").Scan(&n)
	return n, err
}

// check asserts that every action is final, that no endpoint got a second
// accepted isolation, that every endpoint the vendor isolated has a
// confirmed action, and that every company's audit chain verifies.
func (s *scenario) check(ctx context.Context) {
	t := s.t
	t.Helper()

	rows, err := s.db.SQL.QueryContext(ctx, "SELECT id, company_id, agent_id, state, detail FROM actions WHERE action = 'isolate'")
	if err != nil {
		t.Fatalf("read actions: %v", err)
	}
	type act struct{ id, company, agent, state, detail string }
	byAgent := map[string][]act{}
	failures := map[string]int{} // detail -> count, for the log
	states := map[string]int{}
	for rows.Next() {
		var a act
		if err := rows.Scan(&a.id, &a.company, &a.agent, &a.state, &a.detail); err != nil {
			t.Fatal(err)
		}
		byAgent[a.company+"/"+a.agent] = append(byAgent[a.company+"/"+a.agent], a)
		states[a.state]++
		if a.state == "failed" {
			failures[a.detail]++
		}
		if a.state == "requested" || a.state == "dispatched" {
			t.Errorf("action %s on %s is still %s: %s", a.id, a.agent, a.state, a.detail)
		}
	}
	rows.Close()

	companyIDs := map[string]string{}
	idRows, err := s.db.SQL.QueryContext(ctx, "SELECT name, id FROM companies")
	if err != nil {
		t.Fatalf("read companies: %v", err)
	}
	for idRows.Next() {
		var name, id string
		idRows.Scan(&name, &id)
		companyIDs[name] = id
	}
	idRows.Close()

	writes, accepted := 0, map[string]int{}
	for _, side := range s.sides {
		for _, ex := range side.proxy.Exchanges() {
			w, ok := side.profile.Write(ex)
			if !ok || !ex.Forwarded {
				continue
			}
			writes++
			if ex.Status >= 200 && ex.Status <= 299 {
				accepted[side.company+"/"+string(side.profile.Kind)+"/"+w.Target]++
			}
		}
	}
	doubled := 0
	for k, n := range accepted {
		if n > 1 {
			doubled++
			t.Errorf("endpoint %s got %d accepted isolations, want at most 1", k, n)
		}
	}

	// Every endpoint the vendor isolated must have a confirmed action.
	for _, side := range s.sides {
		for _, ex := range side.proxy.Exchanges() {
			w, ok := side.profile.Write(ex)
			if !ok || !ex.Forwarded || ex.Status < 200 || ex.Status > 299 {
				continue
			}
			confirmed := false
			for _, a := range byAgent[companyIDs[side.company]+"/"+w.Target] {
				confirmed = confirmed || a.state == "confirmed"
			}
			if !confirmed {
				t.Errorf("%s isolated endpoint %s of %s, but no isolate action on it is confirmed: %+v", side.profile.Kind, w.Target, side.company, byAgent[companyIDs[side.company]+"/"+w.Target])
			}
		}
	}

	for name, id := range companyIDs {
		brk, err := audit.New(s.db).Verify(ctx, id)
		if err != nil {
			t.Errorf("verify audit chain of %s: %v", name, err)
		} else if brk != nil {
			t.Errorf("audit chain of %s is broken: %s", name, brk.Reason)
		}
	}
	t.Logf("isolate actions by state %v; forwarded isolate writes %d, endpoints isolated %d, doubled %d; failures by detail %v",
		sortedMap(states), writes, len(accepted), doubled, sortedMap(failures))
	s.logResponses()
}

// logResponses logs the isolation requests that did not succeed in two
// groups: those the kill left without a response, and those the server
// responded to with a 5xx, each by route and cause. Other error statuses are
// logged as a third group.
func (s *scenario) logResponses() {
	killed, serverErrors, others := map[string]int{}, map[string]int{}, map[string]int{}
	for _, r := range s.responses {
		switch {
		case r.status == 0:
			killed[r.route+" "+r.cause]++
		case r.status >= 500:
			serverErrors[fmt.Sprintf("%s %d %s", r.route, r.status, r.cause)]++
		case r.status >= 400:
			others[fmt.Sprintf("%s %d %s", r.route, r.status, r.cause)]++
		}
	}
	s.t.Logf("requests without a response (the kill): %d %v", total(killed), sortedMap(killed))
	s.t.Logf("requests answered with a 5xx: %d %v", total(serverErrors), sortedMap(serverErrors))
	s.t.Logf("requests answered with a 4xx: %d %v", total(others), sortedMap(others))
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedMap(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// runKillRestart is the single-server scenario: isolate, kill -9 when half
// the responses have arrived, restart, and wait for every confirmation.
func runKillRestart(t *testing.T, d *deployment, db *store.DB) {
	ctx := context.Background()
	n := actionCount(t)
	s := newScenario(t, d, db, n)

	first := d.serve("first")
	start := time.Now()
	statuses := s.sendAll(ctx, func(int) string { return first.url }, len(s.targets)/2, first.kill)
	killedAt := time.Since(start)

	open, err := s.unfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := d.serve("second")
	restart := time.Now()
	if !waitFor(ctx, settleTimeout, func() bool { n, err := s.unfinished(ctx); return err == nil && n == 0 }) {
		left, _ := s.unfinished(ctx)
		t.Errorf("%d actions still unfinished %s after the restart; log of the restarted server:\n%s", left, settleTimeout, tail(second.log))
	}
	t.Logf("%d isolations: responses %v; killed after %s with %d actions unfinished; all final %s after the restart",
		len(s.targets), statuses, killedAt.Round(time.Millisecond), open, time.Since(restart).Round(time.Millisecond))
	s.check(ctx)
}

func TestKillDuringConfirmationsSQLite(t *testing.T) {
	dir := t.TempDir()
	d := newDeployment(t, []string{"--data", dir}, engineEnv...)
	db, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runKillRestart(t, d, db)
}

func TestKillDuringConfirmationsPostgres(t *testing.T) {
	url, _ := storetest.SchemaURL(t)
	d := newDeployment(t, []string{"--database-url", url}, engineEnv...)
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runKillRestart(t, d, db)
}

// TestKillOneOfTwoReplicas runs two servers on one PostgreSQL schema, kills
// one while half the isolations have responses, checks that the survivor
// finishes the work, then restarts the killed one.
func TestKillOneOfTwoReplicas(t *testing.T) {
	url, _ := storetest.SchemaURL(t)
	d := newDeployment(t, []string{"--database-url", url}, engineEnv...)
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	ctx := context.Background()
	s := newScenario(t, d, db, actionCount(t))
	a, b := d.serve("replica-a"), d.serve("replica-b")
	var aDead atomic.Bool
	server := func(i int) string {
		if i%2 == 0 && !aDead.Load() {
			return a.url
		}
		return b.url
	}
	statuses := s.sendAll(ctx, server, len(s.targets)/2, func() { a.kill(); aDead.Store(true) })

	// The survivor alone finishes what the killed replica left.
	start := time.Now()
	if !waitFor(ctx, settleTimeout, func() bool { n, err := s.unfinished(ctx); return err == nil && n == 0 }) {
		left, _ := s.unfinished(ctx)
		t.Errorf("%d actions still unfinished %s after replica a was killed; log of replica b:\n%s", left, settleTimeout, tail(b.log))
	}
	t.Logf("%d isolations over two replicas: responses %v; survivor finished in %s", len(s.targets), statuses, time.Since(start).Round(time.Millisecond))

	// The restarted replica joins without redoing anything.
	d.serve("replica-a-restarted")
	time.Sleep(2 * time.Second)
	s.check(ctx)
}
