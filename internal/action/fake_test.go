package action

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/notify"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// The fakes below stand in for a vendor connector, the tenant store and the
// audit trail in the engine's own tests. They count calls, so that a test
// can prove a vendor write happened exactly once.

const (
	kindFakeEDR vendor.Kind = "fake-edr"
	kindFakeDir vendor.Kind = "fake-dir"
)

var (
	fakesMu sync.Mutex
	fakes   = map[string]any{} // instance name -> *fakeEDR or *fakeDir
)

func init() {
	vendor.Register(vendor.Factory{
		Kind: kindFakeEDR,
		NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
			fakesMu.Lock()
			defer fakesMu.Unlock()
			f, ok := fakes[cfg.Settings["instance"]].(*fakeEDR)
			if !ok {
				return nil, fmt.Errorf("no fake endpoint product %q", cfg.Settings["instance"])
			}
			return f, nil
		},
	})
	vendor.Register(vendor.Factory{
		Kind: kindFakeDir,
		NewDirectory: func(cfg vendor.Config, deps vendor.Deps) (vendor.Directory, error) {
			fakesMu.Lock()
			defer fakesMu.Unlock()
			return fakes[cfg.Settings["instance"]].(*fakeDir), nil
		},
	})
}

// fakeEDR is an endpoint product with hosts host-01.. and agent ids 001..,
// Wazuh-style.
type fakeEDR struct {
	Pending      bool          // Isolate and Release return Pending
	ConfirmAfter int           // polls until a pending action is final
	AwaitEvent   bool          // a pending outcome marks that only an event confirms it
	Delay        time.Duration // each Isolate and Release takes this long
	Unknown      bool          // Status cannot report isolation
	FailWith     error         // Isolate and Release fail with this error
	LoseResponse bool          // Isolate and Release act, then fail as if the response was lost
	ResolveErr   error
	StatusErr    error // Status fails with this error

	// Entered, when set, receives a value as each Isolate or Release
	// starts, and Gate, when set, holds the call until it is closed.
	Entered chan struct{}
	Gate    chan struct{}

	isolates, releases, confirms, statuses atomic.Int64

	mu    sync.Mutex
	hosts []vendor.Endpoint
	ops   map[string]*fakeOp // vendor ref -> pending action
	seq   int
	order []string // "isolate 001", "release 001" in the order received
}

type fakeOp struct {
	agent string
	act   vendor.ActionKind
	polls int
}

func newFakeEDR(t testing.TB, hosts int) (*fakeEDR, string) {
	f := &fakeEDR{ops: map[string]*fakeOp{}, ConfirmAfter: 2}
	for i := 1; i <= hosts; i++ {
		f.hosts = append(f.hosts, vendor.Endpoint{
			Vendor: kindFakeEDR, AgentID: fmt.Sprintf("%03d", i), Hostname: fmt.Sprintf("host-%02d", i),
			IP: fmt.Sprintf("10.1.0.%d", i), Online: true, Isolation: vendor.NotIsolated,
		})
	}
	name := fmt.Sprintf("%s-%p", t.Name(), f)
	fakesMu.Lock()
	fakes[name] = f
	fakesMu.Unlock()
	return f, name
}

func (f *fakeEDR) IsID(s string) bool {
	return len(s) >= 3 && allDigits(s) && strings.Trim(s, "0") != ""
}

func (f *fakeEDR) Resolve(ctx context.Context, t vendor.Target) ([]vendor.Endpoint, error) {
	if f.ResolveErr != nil {
		return nil, f.ResolveErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []vendor.Endpoint
	for _, h := range f.hosts {
		switch t.Kind {
		case vendor.TargetID:
			if h.AgentID == t.Value {
				out = append(out, h)
			}
		case vendor.TargetIP:
			if h.IP == t.Value {
				out = append(out, h)
			}
		default:
			short, _, _ := strings.Cut(strings.ToLower(t.Value), ".")
			if h.Hostname == short || strings.HasPrefix(h.Hostname, short+"*") {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

func (f *fakeEDR) set(agent string, iso vendor.Isolation) vendor.Endpoint {
	for i := range f.hosts {
		if f.hosts[i].AgentID == agent {
			f.hosts[i].Isolation = iso
			return f.hosts[i]
		}
	}
	return vendor.Endpoint{}
}

func (f *fakeEDR) get(agent string) vendor.Endpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(agent)
}

// find returns the host with agent id agent; f.mu must be held.
func (f *fakeEDR) find(agent string) vendor.Endpoint {
	for _, h := range f.hosts {
		if h.AgentID == agent {
			return h
		}
	}
	return vendor.Endpoint{}
}

func (f *fakeEDR) write(ctx context.Context, ep vendor.Endpoint, act vendor.ActionKind) (vendor.Outcome, error) {
	if f.Entered != nil {
		f.Entered <- struct{}{}
	}
	if f.Gate != nil {
		select {
		case <-f.Gate:
		case <-ctx.Done():
			return vendor.Outcome{}, ctx.Err()
		}
	}
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-ctx.Done():
			return vendor.Outcome{}, ctx.Err()
		}
	}
	if f.FailWith != nil {
		return vendor.Outcome{}, f.FailWith
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.order = append(f.order, string(act)+" "+ep.AgentID)

	done, moving := vendor.Isolated, vendor.Isolating
	if act == vendor.ActionRelease {
		done, moving = vendor.NotIsolated, vendor.Releasing
	}
	cur := f.find(ep.AgentID)
	if cur.Isolation == done {
		return vendor.Outcome{Endpoint: cur, AlreadyInState: true, Raw: json.RawMessage(`{"already":true}`)}, nil
	}
	if f.LoseResponse {
		f.set(ep.AgentID, done)
		return vendor.Outcome{}, &vendor.Error{Kind: vendor.ErrTimeout, Vendor: kindFakeEDR, Op: string(act), Detail: "context deadline exceeded"}
	}
	if !f.Pending {
		got := f.set(ep.AgentID, done)
		return vendor.Outcome{Endpoint: got, Raw: json.RawMessage(`{"done":true}`), UnlockCode: "12345"}, nil
	}
	f.seq++
	ref := fmt.Sprintf("ref-%d", f.seq)
	f.ops[ref] = &fakeOp{agent: ep.AgentID, act: act}
	got := f.set(ep.AgentID, moving)
	return vendor.Outcome{Endpoint: got, VendorRef: ref, Pending: true, AwaitEvent: f.AwaitEvent, Raw: json.RawMessage(`{"id":"` + ref + `"}`)}, nil
}

func (f *fakeEDR) Isolate(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	f.isolates.Add(1)
	return f.write(ctx, ep, vendor.ActionIsolate)
}

func (f *fakeEDR) Release(ctx context.Context, ep vendor.Endpoint, opts vendor.Options) (vendor.Outcome, error) {
	f.releases.Add(1)
	return f.write(ctx, ep, vendor.ActionRelease)
}

func (f *fakeEDR) Status(ctx context.Context, ep vendor.Endpoint) (vendor.Outcome, error) {
	f.statuses.Add(1)
	if f.StatusErr != nil {
		return vendor.Outcome{}, f.StatusErr
	}
	got := f.get(ep.AgentID)
	if f.Unknown {
		got.Isolation = vendor.Unknown
	}
	return vendor.Outcome{Endpoint: got, Raw: json.RawMessage(`{"status":"` + string(got.Isolation) + `"}`)}, nil
}

func (f *fakeEDR) Confirm(ctx context.Context, ep vendor.Endpoint, act vendor.ActionKind, ref string) (vendor.Confirmation, error) {
	f.confirms.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	op, ok := f.ops[ref]
	if !ok {
		return vendor.Confirmation{}, &vendor.Error{Kind: vendor.ErrNotFound, Vendor: kindFakeEDR, Op: "get action", Detail: "no action " + ref}
	}
	op.polls++
	if op.polls < f.ConfirmAfter {
		return vendor.Confirmation{State: f.find(op.agent).Isolation, Detail: "Pending"}, nil
	}
	done := vendor.Isolated
	if op.act == vendor.ActionRelease {
		done = vendor.NotIsolated
	}
	f.set(op.agent, done)
	return vendor.Confirmation{Final: true, Succeeded: true, State: done, Detail: "Succeeded"}, nil
}

func (f *fakeEDR) Plan(act vendor.ActionKind, ep vendor.Endpoint, opts vendor.Options) []vendor.Call {
	return []vendor.Call{{Method: "PUT", URL: "https://edr.invalid/agents/" + ep.AgentID + "/" + string(act)}}
}

func (f *fakeEDR) Order() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.order...)
}

// fakeDir is a user directory.
type fakeDir struct {
	blocks, unblocks, reports atomic.Int64
	mu                        sync.Mutex
	enabled                   map[string]bool
}

func newFakeDir(t testing.TB) (*fakeDir, string) {
	d := &fakeDir{enabled: map[string]bool{}}
	name := fmt.Sprintf("%s-%p", t.Name(), d)
	fakesMu.Lock()
	fakes[name] = d
	fakesMu.Unlock()
	return d, name
}

func (d *fakeDir) ValidateUPN(upn string) error {
	if !strings.Contains(upn, "@") {
		return fmt.Errorf("no @ in %q", upn)
	}
	return nil
}

func (d *fakeDir) setEnabled(upn string, on bool) vendor.User {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.enabled[strings.ToLower(upn)] = on
	return vendor.User{UserPrincipalName: upn, AccountEnabled: on}
}

func (d *fakeDir) Block(ctx context.Context, upn string, opts vendor.Options) (vendor.UserOutcome, error) {
	d.blocks.Add(1)
	d.mu.Lock()
	on, known := d.enabled[strings.ToLower(upn)]
	d.mu.Unlock()
	if known && !on {
		return vendor.UserOutcome{User: d.setEnabled(upn, false), AlreadyInState: true, Steps: []vendor.Step{{Name: "revoke sessions", Succeeded: true}}}, nil
	}
	return vendor.UserOutcome{User: d.setEnabled(upn, false), Steps: []vendor.Step{{Name: "disable account", Succeeded: true}, {Name: "revoke sessions", Succeeded: true}}}, nil
}

func (d *fakeDir) Unblock(ctx context.Context, upn string, opts vendor.Options) (vendor.UserOutcome, error) {
	d.unblocks.Add(1)
	return vendor.UserOutcome{User: d.setEnabled(upn, true)}, nil
}

func (d *fakeDir) Status(ctx context.Context, upn string) (vendor.UserOutcome, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	on, ok := d.enabled[strings.ToLower(upn)]
	return vendor.UserOutcome{User: vendor.User{UserPrincipalName: upn, AccountEnabled: on || !ok}}, nil
}

func (d *fakeDir) Report(ctx context.Context, upn string, opts vendor.Options) (vendor.Report, error) {
	d.reports.Add(1)
	return vendor.Report{Summary: json.RawMessage(`{"sign_ins":3}`), Email: notify.Email{Subject: "Report for " + upn, Text: "3 sign-ins"}}, nil
}

func (d *fakeDir) Plan(act vendor.ActionKind, upn string, opts vendor.Options) []vendor.Call {
	return []vendor.Call{{Method: "PATCH", URL: "https://graph.invalid/users/" + upn}}
}

// fakeTenants maps company and service to a fake integration. Each set
// gives the integration a new version time, as SetIntegration does.
type fakeTenants struct {
	mu       sync.Mutex
	cfgs     map[string]vendor.Config
	versions map[string]time.Time
	sets     int          // calls of set, which number the versions
	full     atomic.Int64 // calls of Integration, the full read
	checks   atomic.Int64 // calls of IntegrationVersion, the cheap check
}

// revision returns the current revision of the company's svc integration,
// as the API reads it with the key check.
func (ft *fakeTenants) revision(company string, svc vendor.Service) tenant.Revision {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	key := company + "/" + string(svc)
	return tenant.Revision{Kind: ft.cfgs[key].Kind, UpdatedAt: ft.versions[key]}
}

func (ft *fakeTenants) set(company string, svc vendor.Service, kind vendor.Kind, instance string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.cfgs == nil {
		ft.cfgs, ft.versions = map[string]vendor.Config{}, map[string]time.Time{}
	}
	key := company + "/" + string(svc)
	ft.cfgs[key] = vendor.Config{CompanyID: company, Service: svc, Kind: kind, Settings: map[string]string{"instance": instance}}
	ft.sets++
	ft.versions[key] = time.Unix(int64(ft.sets), 0)
}

func (ft *fakeTenants) Integration(ctx context.Context, company string, svc vendor.Service) (vendor.Config, time.Time, error) {
	ft.full.Add(1)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	cfg, ok := ft.cfgs[company+"/"+string(svc)]
	if !ok {
		return vendor.Config{}, time.Time{}, tenant.ErrNotConfigured
	}
	return cfg, ft.versions[company+"/"+string(svc)], nil
}

func (ft *fakeTenants) IntegrationVersion(ctx context.Context, company string, svc vendor.Service) (vendor.Kind, time.Time, error) {
	ft.checks.Add(1)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	cfg, ok := ft.cfgs[company+"/"+string(svc)]
	if !ok {
		return "", time.Time{}, tenant.ErrNotConfigured
	}
	return cfg.Kind, ft.versions[company+"/"+string(svc)], nil
}

// auditView reads the real audit trail of the test company.
type auditView struct{ log *audit.Log }

func (a auditView) list(t testing.TB, f audit.Filter) []audit.Event {
	t.Helper()
	f.Limit = 10000
	evs, err := a.log.List(context.Background(), company, f)
	if err != nil {
		t.Fatalf("list audit events: %v", err)
	}
	return evs
}

func (a auditView) types(t testing.TB, actionID string) []string {
	var out []string
	for _, ev := range a.list(t, audit.Filter{ActionID: actionID}) {
		out = append(out, ev.Type)
	}
	return out
}

func (a auditView) count(t testing.TB, typ string) int {
	n := 0
	for _, ev := range a.list(t, audit.Filter{}) {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// verify checks the company's hash chain.
func (a auditView) verify(t testing.TB) {
	t.Helper()
	brk, err := a.log.Verify(context.Background(), company)
	if err != nil || brk != nil {
		t.Fatalf("audit chain: break %v, error %v", brk, err)
	}
}

// mailbox is a notify.Mailer that keeps messages or fails.
type mailbox struct {
	mu   sync.Mutex
	sent []notify.Email
	fail error
}

func (m *mailbox) Send(ctx context.Context, msg notify.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, msg)
	return nil
}

// harness is one engine over a real store with fakes around it.
type harness struct {
	db      *store.DB
	e       *Engine
	tenants *fakeTenants
	audit   auditView
	mail    *mailbox
}

func testConfig(db *store.DB) Config {
	return Config{
		DB:              db,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		DispatchTimeout: 3 * time.Second,
		ConfirmDeadline: 5 * time.Second,
		PollMin:         20 * time.Millisecond,
		PollMax:         80 * time.Millisecond,
		SweepInterval:   100 * time.Millisecond,
		SweepSlack:      300 * time.Millisecond,
		JobPollInterval: 20 * time.Millisecond,
	}
}

func newHarness(t testing.TB, db *store.DB, tenants *fakeTenants) *harness {
	t.Helper()
	return newHarnessAudit(t, db, tenants, nil)
}

// failingAudit is the real audit trail, except that appending an event of
// type failType inside a transaction fails, as a store that stops
// accepting writes would.
type failingAudit struct {
	*audit.Log
	failType string
}

func (f failingAudit) AppendTx(ctx context.Context, tx *sql.Tx, ev audit.Event) (audit.Event, error) {
	if ev.Type == f.failType {
		return audit.Event{}, fmt.Errorf("append audit event %s: the store rejected the write", ev.Type)
	}
	return f.Log.AppendTx(ctx, tx, ev)
}

func (f failingAudit) AppendManyWithTx(ctx context.Context, tx *sql.Tx, stmts []audit.Statement, evs []audit.Event) error {
	for _, ev := range evs {
		if ev.Type == f.failType {
			return fmt.Errorf("append audit event %s: the store rejected the write", ev.Type)
		}
	}
	return f.Log.AppendManyWithTx(ctx, tx, stmts, evs)
}

// newHarnessAudit is newHarness with the engine's audit trail replaced by
// wrap(log) when wrap is not nil; the harness still reads the real log.
func newHarnessAudit(t testing.TB, db *store.DB, tenants *fakeTenants, wrap func(*audit.Log) auditTrail) *harness {
	t.Helper()
	if tenants == nil {
		tenants = &fakeTenants{}
	}
	log := audit.New(db)
	h := &harness{db: db, tenants: tenants, audit: auditView{log}, mail: &mailbox{}}
	cfg := testConfig(db)
	cfg.MailerFor = func(ctx context.Context, companyID string) (notify.Mailer, error) { return h.mail, nil }
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e.integrations, e.audit, e.sealer = tenants, log, sealer
	if wrap != nil {
		e.audit = wrap(log)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	h.e = e
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return h
}

// waitState polls the action until it reaches want or the time runs out.
func waitState(t testing.TB, e *Engine, company, id string, want State) *Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := e.Get(context.Background(), company, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if rec.State == want {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("action %s: state %s, want %s; history %+v", id, rec.State, want, rec.History)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
