package action

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

const company = "co-1"

func isolateReq(target string) Request {
	return Request{CompanyID: company, Service: vendor.ServiceWazuh, Route: "/wazuh/agents", Action: vendor.ActionIsolate, Target: target, Requester: "soc@example.com"}
}

func releaseReq(target string) Request {
	r := isolateReq(target)
	r.Action = vendor.ActionRelease
	return r
}

func statusReq(target string) Request {
	r := isolateReq(target)
	r.Action = vendor.ActionStatus
	return r
}

// forEachDialect runs fn against SQLite and PostgreSQL.
func forEachDialect(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, storetest.Open(t, d))
		})
	}
}

func setup(t *testing.T, db *store.DB, hosts int) (*harness, *fakeEDR) {
	f, name := newFakeEDR(t, hosts)
	h := newHarness(t, db, nil)
	h.tenants.set(company, vendor.ServiceWazuh, kindFakeEDR, name)
	return h, f
}

func wantStatus(t *testing.T, err error, status int, contains string) *Error {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v: want *Error with status %d", err, status)
	}
	if ae.Status != status || !strings.Contains(ae.Message, contains) {
		t.Fatalf("error %d %q: want status %d and a message containing %q", ae.Status, ae.Message, status, contains)
	}
	return ae
}

func TestEngine_IsolateSynchronous(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 3)
		res, err := h.e.Execute(context.Background(), isolateReq("host-02"))
		if err != nil {
			t.Fatal(err)
		}
		if res.State != Confirmed || res.Endpoint.AgentID != "002" || res.Endpoint.Isolation != vendor.Isolated {
			t.Fatalf("result %+v: want confirmed isolate of 002", res)
		}
		if res.UnlockCode != "12345" {
			t.Errorf("unlock code %q: want the vendor's code returned once", res.UnlockCode)
		}

		var sealed string
		db.SQL.QueryRow(db.Rebind("SELECT unlock_code FROM actions WHERE id = ?"), res.ActionID).Scan(&sealed)
		if sealed == "" || strings.Contains(sealed, "12345") {
			t.Errorf("stored unlock code %q: want a sealed value", sealed)
		}

		rec, err := h.e.Get(context.Background(), company, res.ActionID)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rec.History); got != 2 || rec.History[0].State != Requested || rec.History[1].State != Confirmed {
			t.Errorf("history %+v: want requested then confirmed", rec.History)
		}
		if got := strings.Join(h.audit.types(t, res.ActionID), ","); got != "requested,confirmed" {
			t.Errorf("audit events %s: want requested,confirmed", got)
		}

		// A repeat finds the endpoint already isolated, which is a success
		// with AlreadyInState set.
		again, err := h.e.Execute(context.Background(), isolateReq("002"))
		if err != nil {
			t.Fatal(err)
		}
		if !again.AlreadyInState || again.State != Confirmed {
			t.Errorf("repeat %+v: want confirmed and AlreadyInState", again)
		}
		if n := f.isolates.Load(); n != 2 {
			t.Errorf("isolate calls %d: want 2", n)
		}

		// Another company gets 404 for the action.
		_, err = h.e.Get(context.Background(), "co-2", res.ActionID)
		wantStatus(t, err, http.StatusNotFound, "Not Found")
		h.audit.verify(t)
	})
}

func TestEngine_AsyncConfirmedByJob(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 3)
		f.Pending, f.ConfirmAfter = true, 3

		res, err := h.e.Execute(context.Background(), isolateReq("10.1.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		if res.State != Dispatched || res.Endpoint.Isolation != vendor.Isolating {
			t.Fatalf("result %+v: want dispatched and isolating", res)
		}
		rec := waitState(t, h.e, company, res.ActionID, Confirmed)
		if rec.VendorRef == "" || rec.Endpoint.Isolation != vendor.Isolated {
			t.Errorf("record %+v: want the vendor ref and isolated", rec)
		}
		if got := strings.Join(h.audit.types(t, res.ActionID), ","); got != "requested,dispatched,confirmed" {
			t.Errorf("audit events %s: want requested,dispatched,confirmed", got)
		}
		if n := f.confirms.Load(); n < 3 {
			t.Errorf("confirm polls %d: want at least 3", n)
		}
	})
}

func TestEngine_ExpiresAfterDeadline(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, f := setup(t, db, 1)
	f.Pending, f.ConfirmAfter = true, 1<<30
	h.e.cfg.ConfirmDeadline = 300 * time.Millisecond

	res, err := h.e.Execute(context.Background(), isolateReq("001"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, h.e, company, res.ActionID, Expired)
}

// TestEngine_AwaitEventIsNotPolled: a vendor whose pending outcome marks
// that only an event confirms it (Wazuh) gets no confirmation poll and no
// job. The action's next check is its deadline, after which the sweep
// expires it.
func TestEngine_AwaitEventIsNotPolled(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, f := setup(t, db, 1)
	f.Pending, f.AwaitEvent, f.ConfirmAfter = true, true, 1
	h.e.cfg.PollMin = 10 * time.Millisecond
	h.e.cfg.ConfirmDeadline = 500 * time.Millisecond

	res, err := h.e.Execute(context.Background(), isolateReq("001"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.e.loadRow(context.Background(), db.Read, res.ActionID, false)
	if err != nil || r == nil {
		t.Fatalf("load action %s: %v", res.ActionID, err)
	}
	if r.NextCheckAt.Before(r.Deadline) {
		t.Errorf("next check at %s, before the deadline %s: want no look before the deadline", r.NextCheckAt, r.Deadline)
	}
	var jobs int
	if err := db.Read.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM river_job").Scan(&jobs); err != nil {
		t.Fatalf("count River jobs: %v", err)
	}
	if jobs != 0 {
		t.Errorf("%d River jobs after the dispatch: want none before the deadline", jobs)
	}

	waitState(t, h.e, company, res.ActionID, Expired)
	if n := f.confirms.Load(); n != 0 {
		t.Errorf("confirm polls %d: want none, since only an event can confirm the action", n)
	}
}

// TestEngine_ClientKeptUntilIntegrationChanges: the vendor client built
// from an integration serves later requests without a full read of the
// integration (secrets included), until the integration is set again.
// The next request then goes to the new configuration.
func TestEngine_ClientKeptUntilIntegrationChanges(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, first := setup(t, db, 2)
	second, secondName := newFakeEDR(t, 2)
	ctx := context.Background()

	for range 3 {
		if _, err := h.e.Execute(ctx, statusReq("001")); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.tenants.full.Load(); n != 1 {
		t.Errorf("full integration reads for 3 requests: %d, want 1", n)
	}

	h.tenants.set(company, vendor.ServiceWazuh, kindFakeEDR, secondName)
	if _, err := h.e.Execute(ctx, statusReq("001")); err != nil {
		t.Fatal(err)
	}
	if a, b := first.statuses.Load(), second.statuses.Load(); a != 3 || b != 1 {
		t.Errorf("status calls: first product %d, second %d; want 3 and 1", a, b)
	}
	if n := h.tenants.full.Load(); n != 2 {
		t.Errorf("full integration reads after the change: %d, want 2", n)
	}
}

// TestEngine_ClientUsesKnownRevision: a request that carries the
// integration's revision, as the API reads it with the key check, reuses
// the cached client without reading the revision again. A revision that no
// longer matches the cached client makes the engine read the integration
// and build a new client.
func TestEngine_ClientUsesKnownRevision(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, first := setup(t, db, 2)
	second, secondName := newFakeEDR(t, 2)
	ctx := context.Background()

	req := statusReq("001")
	req.Integration = h.tenants.revision(company, vendor.ServiceWazuh)
	for range 3 {
		if _, err := h.e.Execute(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.tenants.checks.Load(); n != 0 {
		t.Errorf("revision checks with a known revision: %d, want 0", n)
	}
	if n := h.tenants.full.Load(); n != 1 {
		t.Errorf("full integration reads for 3 requests: %d, want 1", n)
	}

	h.tenants.set(company, vendor.ServiceWazuh, kindFakeEDR, secondName)
	req.Integration = h.tenants.revision(company, vendor.ServiceWazuh)
	if _, err := h.e.Execute(ctx, req); err != nil {
		t.Fatal(err)
	}
	if a, b := first.statuses.Load(), second.statuses.Load(); a != 3 || b != 1 {
		t.Errorf("status calls: first product %d, second %d; want 3 and 1", a, b)
	}
	if n := h.tenants.full.Load(); n != 2 {
		t.Errorf("full integration reads after the change: %d, want 2", n)
	}
}

// TestNewIDSortsByCreation: action ids are 32 lowercase hex digits, and an
// id made later sorts after every id made before it.
func TestNewIDSortsByCreation(t *testing.T) {
	prev := ""
	for i := range 5000 {
		id := newID()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %d is %q: want 32 lowercase hex digits", i, id)
		}
		if id <= prev {
			t.Fatalf("id %d, %s, does not sort after the id before it, %s", i, id, prev)
		}
		prev = id
	}
}

func TestEngine_ConcurrentIdenticalIsolatesMakeOneCall(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		for _, pending := range []bool{false, true} {
			h, f := setup(t, db, 2)
			f.Pending, f.Delay = pending, 50*time.Millisecond
			target := "host-01"
			if pending {
				target = "host-02"
			}

			const n = 100
			var wg sync.WaitGroup
			results := make([]*Result, n)
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = h.e.Execute(context.Background(), isolateReq(target))
				}()
			}
			wg.Wait()

			ids := map[string]bool{}
			dedups := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("request %d: %v", i, errs[i])
				}
				ids[results[i].ActionID] = true
				if results[i].Deduplicated {
					dedups++
				}
			}
			if got := f.isolates.Load(); got != 1 {
				t.Errorf("pending=%v: isolate calls %d, want 1", pending, got)
			}
			if len(ids) != 1 || dedups != n-1 {
				t.Errorf("pending=%v: %d action ids and %d deduplicated answers, want 1 and %d", pending, len(ids), dedups, n-1)
			}
		}
	})
}

func TestEngine_ReleaseWhileIsolatePendingEndsReleased(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 1)
		f.Pending, f.ConfirmAfter = true, 3

		iso, err := h.e.Execute(context.Background(), isolateReq("001"))
		if err != nil {
			t.Fatal(err)
		}
		rel, err := h.e.Execute(context.Background(), releaseReq("001"))
		if err != nil {
			t.Fatal(err)
		}
		if rel.State != Requested || len(rel.Warnings) == 0 {
			t.Fatalf("release %+v: want it queued with a warning", rel)
		}
		waitState(t, h.e, company, iso.ActionID, Confirmed)
		waitState(t, h.e, company, rel.ActionID, Confirmed)

		if got := strings.Join(f.Order(), ","); got != "isolate 001,releaseisolate 001" {
			t.Errorf("vendor calls %s: want the isolate, then the release", got)
		}
		if got := f.get("001").Isolation; got != vendor.NotIsolated {
			t.Errorf("endpoint %s: want not_isolated", got)
		}
	})
}

func TestEngine_LaterIsolateSupersedesQueuedRelease(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, f := setup(t, db, 1)
	f.Pending, f.ConfirmAfter = true, 4

	iso, _ := h.e.Execute(context.Background(), isolateReq("001"))
	rel, err := h.e.Execute(context.Background(), releaseReq("001"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.e.Execute(context.Background(), isolateReq("001"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Deduplicated || again.ActionID != iso.ActionID {
		t.Errorf("second isolate %+v: want the pending isolate's id", again)
	}
	waitState(t, h.e, company, rel.ActionID, Failed)
	waitState(t, h.e, company, iso.ActionID, Confirmed)
	if n := f.releases.Load(); n != 0 {
		t.Errorf("release calls %d: want 0", n)
	}
}

func TestEngine_Errors(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, f := setup(t, db, 3)
	f.hosts = append(f.hosts, vendor.Endpoint{AgentID: "004", Hostname: "host-01", IP: "10.1.0.4"})

	tests := []struct {
		name   string
		req    Request
		vendor error
		status int
		msg    string
	}{
		{name: "unknown host", req: isolateReq("nohost"), status: 404, msg: "Not Found: endpoint 'nohost' is not known to fake-edr"},
		{name: "ambiguous host", req: isolateReq("host-01"), status: 409, msg: "matches 2 endpoints"},
		{name: "list", req: isolateReq("001,002"), status: 400, msg: "list"},
		{name: "wazuh 000", req: isolateReq("000"), status: 400, msg: "'000'"},
		{name: "not configured", req: Request{CompanyID: company, Service: vendor.ServiceDefender, Action: vendor.ActionIsolate, Target: "x", Requester: "a@b.c"}, status: 424, msg: "smartpt integration set"},
		{name: "missing requester", req: Request{CompanyID: company, Service: vendor.ServiceWazuh, Action: vendor.ActionIsolate, Target: "001"}, status: 400, msg: "Missing 'Email' parameter"},
		{name: "bad isolation type", req: func() Request { r := isolateReq("001"); r.IsolationType = "Half"; return r }(), status: 400, msg: "Full or Selective"},
		{name: "throttled", req: isolateReq("002"), vendor: &vendor.Error{Kind: vendor.ErrThrottled, RetryAfter: 7 * time.Second, Detail: "slow down"}, status: 429, msg: "Too Many Requests"},
		{name: "vendor down", req: isolateReq("002"), vendor: &vendor.Error{Kind: vendor.ErrUnavailable, Status: 503, Detail: "maintenance"}, status: 502, msg: "Bad Gateway: Failed to isolate endpoint"},
		{name: "forbidden", req: isolateReq("002"), vendor: &vendor.Error{Kind: vendor.ErrForbidden, Status: 403, Detail: "no rights"}, status: 403, msg: "Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.FailWith = tc.vendor
			defer func() { f.FailWith = nil }()
			_, err := h.e.Execute(context.Background(), tc.req)
			ae := wantStatus(t, err, tc.status, tc.msg)
			if tc.status == 409 && len(ae.Candidates) != 2 {
				t.Errorf("candidates %d: want 2", len(ae.Candidates))
			}
			if tc.status == 429 && ae.RetryAfter != 7*time.Second {
				t.Errorf("retry after %s: want 7s", ae.RetryAfter)
			}
			// A vendor failure ends a stored action, which the error names;
			// a request rejected before storing one names none.
			if stored := tc.vendor != nil; stored != (ae.ActionID != "") {
				t.Errorf("error names action %q; want one only for a vendor failure (%t)", ae.ActionID, stored)
			}
		})
	}
	if h.audit.count(t, "rejected") == 0 {
		t.Error("no rejected audit events: want refusals on record")
	}
}

func TestEngine_IdempotencyKey(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 2)
		req := isolateReq("001")
		req.IdempotencyKey = "k-1"

		first, err := h.e.Execute(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		// The endpoint is released out of band: a new isolate would call
		// the vendor, the repeat must not.
		f.mu.Lock()
		f.set("001", vendor.NotIsolated)
		f.mu.Unlock()
		second, err := h.e.Execute(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if second.ActionID != first.ActionID || !second.Deduplicated || second.UnlockCode != "" {
			t.Errorf("repeat %+v: want the first action id, deduplicated, no unlock code", second)
		}
		if n := f.isolates.Load(); n != 1 {
			t.Errorf("isolate calls %d: want 1", n)
		}

		other := isolateReq("002")
		other.IdempotencyKey = "k-1"
		_, err = h.e.Execute(context.Background(), other)
		wantStatus(t, err, 422, "different request")
	})
}

func TestEngine_Guardrails(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 5)
		co := func(ctx context.Context, name string) (tenant.Company, error) {
			return tenant.Company{ID: company, Name: name}, nil
		}
		run := func(args ...string) string {
			var out bytes.Buffer
			if err := runGuard(context.Background(), db, co, args, &out); err != nil {
				t.Fatalf("guard %v: %v", args, err)
			}
			return out.String()
		}
		run("protect", "add", "--company", "acme", "HOST-01.corp.example")
		run("protect", "add", "--company", "acme", "10.1.0.2/31")
		run("protect", "add", "--company", "acme", "005")
		if got := run("protect", "list", "--company", "acme"); !strings.Contains(got, "10.1.0.2/31") || !strings.Contains(got, "host-01.corp.example") {
			t.Errorf("protect list %q: want both entries", got)
		}

		tests := []struct{ target, entry string }{
			{"host-01", "host-01.corp.example"}, // short name of a protected FQDN
			{"002", "10.1.0.2/31"},              // resolved IP inside a protected range
			{"host-05", "005"},                  // resolved agent id
		}
		for _, tc := range tests {
			_, err := h.e.Execute(context.Background(), isolateReq(tc.target))
			wantStatus(t, err, 403, "entry '"+tc.entry+"'")
		}
		if n := f.isolates.Load(); n != 0 {
			t.Fatalf("isolate calls %d: want 0 for protected targets", n)
		}
		// Release and status are never refused.
		if _, err := h.e.Execute(context.Background(), releaseReq("host-01")); err != nil {
			t.Errorf("release of a protected host: %v", err)
		}

		// Cap: one isolation per hour.
		run("cap", "set", "--company", "acme", "--per-hour", "1")
		if got := run("cap", "show", "--company", "acme"); !strings.Contains(got, "1 per hour") {
			t.Errorf("cap show %q", got)
		}
		if _, err := h.e.Execute(context.Background(), isolateReq("host-04")); err != nil {
			t.Fatal(err)
		}
		dry := releaseReq("host-04")
		dry.Action, dry.Target, dry.DryRun = vendor.ActionIsolate, "10.1.0.4", true
		_, err := h.e.Execute(context.Background(), dry)
		wantStatus(t, err, 429, "cap of 1")
		run("cap", "set", "--company", "acme", "--per-hour", "0")

		// Dry run: a plan, no vendor write.
		before := f.isolates.Load()
		res, err := h.e.Execute(context.Background(), dry)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Plan) != 1 || res.Endpoint.AgentID != "004" || f.isolates.Load() != before {
			t.Errorf("dry run %+v: want a one-call plan for 004 and no vendor write", res)
		}
		run("protect", "remove", "--company", "acme", "005")
	})
}

func TestEngine_StatusOverlaysTrackedState(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, f := setup(t, db, 2)
	f.Unknown = true

	status := isolateReq("001")
	status.Action = vendor.ActionStatus
	res, err := h.e.Execute(context.Background(), status)
	if err != nil {
		t.Fatal(err)
	}
	if res.Endpoint.Isolation != vendor.Unknown {
		t.Errorf("before any action: %s, want unknown", res.Endpoint.Isolation)
	}

	if _, err := h.e.Execute(context.Background(), isolateReq("001")); err != nil {
		t.Fatal(err)
	}
	res, err = h.e.Execute(context.Background(), status)
	if err != nil {
		t.Fatal(err)
	}
	if res.Endpoint.Isolation != vendor.Isolated {
		t.Errorf("after a confirmed isolate: %s, want isolated", res.Endpoint.Isolation)
	}
}

func TestEngine_ConfirmExternal(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	h, f := setup(t, db, 1)
	f.Pending, f.ConfirmAfter = true, 1<<30

	res, err := h.e.Execute(context.Background(), isolateReq("001"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rec, err := h.e.ConfirmExternal(context.Background(), company, vendor.ServiceWazuh, "001", vendor.ActionIsolate, true, "isolation applied")
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != res.ActionID || rec.State != Confirmed {
			t.Errorf("record %+v: want %s confirmed", rec, res.ActionID)
		}
	}
	if got := strings.Join(h.audit.types(t, res.ActionID), ","); got != "requested,dispatched,confirmed" {
		t.Errorf("audit events %s: want one confirmation", got)
	}
	_, err = h.e.ConfirmExternal(context.Background(), "co-2", vendor.ServiceWazuh, "001", vendor.ActionIsolate, true, "")
	wantStatus(t, err, 404, "Not Found")
}

func TestEngine_Users(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	d, name := newFakeDir(t)
	h := newHarness(t, db, nil)
	h.tenants.set(company, vendor.ServiceAzureAD, kindFakeDir, name)
	req := func(act vendor.ActionKind, upn string) Request {
		return Request{CompanyID: company, Service: vendor.ServiceAzureAD, Route: "/azuread/users", Action: act, Target: upn, Requester: "soc@example.com"}
	}

	res, err := h.e.Execute(context.Background(), req(vendor.ActionBlock, "User01@demo.example"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != Confirmed || res.User.AccountEnabled || len(res.Steps) != 2 {
		t.Errorf("block %+v: want confirmed, disabled, two steps", res)
	}

	_, err = h.e.Execute(context.Background(), req(vendor.ActionBlock, "not-a-upn"))
	wantStatus(t, err, 400, "upn 'not-a-upn'")

	if _, err := h.e.Execute(context.Background(), req(vendor.ActionReport, "user01@demo.example")); err != nil {
		t.Fatal(err)
	}
	if len(h.mail.sent) != 1 || h.mail.sent[0].To[0] != "soc@example.com" {
		t.Errorf("mail %+v: want the report sent to the requester", h.mail.sent)
	}
	h.mail.fail = errors.New("connection refused")
	_, err = h.e.Execute(context.Background(), req(vendor.ActionReport, "user01@demo.example"))
	ae := wantStatus(t, err, 502, "Failed to send user report")
	if !strings.Contains(ae.Detail, "connection refused") {
		t.Errorf("detail %q: want the mail error", ae.Detail)
	}
	if d.blocks.Load() != 1 {
		t.Errorf("block calls %d: want 1", d.blocks.Load())
	}
}

// startEngine starts an engine without registering its stop, for tests
// that kill it.
func startEngine(t *testing.T, db *store.DB, tenants *fakeTenants) *Engine {
	t.Helper()
	e, err := New(testConfig(db))
	if err != nil {
		t.Fatal(err)
	}
	e.integrations, e.audit = tenants, audit.New(db)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// kill stops an engine the way a killed process does: its workers are
// cancelled and its database connections closed at once, with no chance to
// record anything.
func kill(e *Engine) {
	e.stopSweep()
	e.riverCancel()
	e.db.Close()
}

func TestEngine_RestartResumesConfirmations(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			opts := store.Options{DataDir: t.TempDir()}
			if d == store.Postgres {
				opts = store.Options{}
				opts.DatabaseURL, _ = storetest.SchemaURL(t)
			}
			open := func() *store.DB {
				db, err := store.Open(context.Background(), opts)
				if err != nil {
					t.Fatal(err)
				}
				return db
			}

			f, name := newFakeEDR(t, 5)
			f.Pending, f.ConfirmAfter = true, 6
			tenants := &fakeTenants{}
			tenants.set(company, vendor.ServiceWazuh, kindFakeEDR, name)

			e1 := startEngine(t, open(), tenants)
			var ids []string
			for _, agent := range []string{"001", "002", "003", "004", "005"} {
				res, err := e1.Execute(context.Background(), isolateReq(agent))
				if err != nil {
					t.Fatal(err)
				}
				if res.State != Dispatched {
					t.Fatalf("%s: state %s, want dispatched", agent, res.State)
				}
				ids = append(ids, res.ActionID)
			}
			time.Sleep(30 * time.Millisecond) // let some polls run
			kill(e1)

			h2 := newHarness(t, open(), tenants)
			for _, id := range ids {
				waitState(t, h2.e, company, id, Confirmed)
			}
			if n := f.isolates.Load(); n != 5 {
				t.Errorf("isolate calls %d: want 5, one per endpoint", n)
			}
			for _, id := range ids {
				if got := strings.Join(h2.audit.types(t, id), ","); got != "requested,dispatched,confirmed" {
					t.Errorf("action %s audit %s: want requested,dispatched,confirmed", id, got)
				}
			}
			h2.audit.verify(t)
		})
	}
}

// A process that died between the vendor call and its record leaves an
// action in state requested with its lease ended. The engine settles it by
// reading the endpoint and never sends the call again.
func TestEngine_RecoversLostDispatchByReadingState(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 3)
		f.mu.Lock()
		f.set("001", vendor.Isolated)  // the lost isolate reached the vendor
		f.set("002", vendor.Isolating) // it is under way
		f.mu.Unlock()

		past := time.Now().Add(-time.Minute)
		ids := map[string]string{}
		for _, agent := range []string{"001", "002", "003"} {
			ep := f.get(agent)
			r := &row{ID: newID(), CompanyID: company, Service: vendor.ServiceWazuh, Kind: kindFakeEDR, Action: vendor.ActionIsolate,
				Target: agent, AgentID: agent, Requester: "soc@example.com", State: Requested, Endpoint: &ep, LeaseUntil: past, NextCheckAt: past}
			if err := db.InTx(context.Background(), func(_ context.Context, tx *sql.Tx) error { return h.e.insertRow(context.Background(), tx, r, "") }); err != nil {
				t.Fatal(err)
			}
			ids[agent] = r.ID
		}
		go func() { // the vendor finishes the isolation under way
			time.Sleep(400 * time.Millisecond)
			f.mu.Lock()
			f.set("002", vendor.Isolated)
			f.mu.Unlock()
		}()

		waitState(t, h.e, company, ids["001"], Confirmed)
		waitState(t, h.e, company, ids["002"], Confirmed)
		rec := waitState(t, h.e, company, ids["003"], Failed)
		if !strings.Contains(rec.History[len(rec.History)-1].Detail, "send the request again") {
			t.Errorf("detail %q: want advice to send again", rec.History[len(rec.History)-1].Detail)
		}
		if n := f.isolates.Load(); n != 0 {
			t.Errorf("isolate calls %d: want 0, the engine must not resend", n)
		}
	})
}

// Two engines on one database stand for two replicas: identical isolates
// spread over both still make one vendor call.
func TestEngine_ReplicasShareInFlightGuard(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			opts := store.Options{DataDir: t.TempDir()}
			if d == store.Postgres {
				opts = store.Options{}
				opts.DatabaseURL, _ = storetest.SchemaURL(t)
			}
			f, name := newFakeEDR(t, 1)
			f.Pending, f.Delay, f.ConfirmAfter = true, 100*time.Millisecond, 1<<30
			tenants := &fakeTenants{}
			tenants.set(company, vendor.ServiceWazuh, kindFakeEDR, name)

			var replicas []*harness
			for range 2 {
				db, err := store.Open(context.Background(), opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				replicas = append(replicas, newHarness(t, db, tenants))
			}

			const perReplica = 20
			var wg sync.WaitGroup
			var mu sync.Mutex
			ids := map[string]bool{}
			for i := range 2 * perReplica {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := replicas[i%2].e.Execute(context.Background(), isolateReq("001"))
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						return
					}
					mu.Lock()
					ids[res.ActionID] = true
					mu.Unlock()
				}()
			}
			wg.Wait()
			if n := f.isolates.Load(); n != 1 {
				t.Errorf("isolate calls %d: want 1 across both replicas", n)
			}
			if len(ids) != 1 {
				t.Errorf("%d action ids: want 1", len(ids))
			}
		})
	}
}

// A vendor write whose response is lost may still have acted: the engine
// returns 504, keeps the action open and settles it by reading the
// endpoint, without sending the write again.
// TestEngine_UnsentWriteFailsAtOnce: a write that the rate budget or the
// circuit breaker rejected before sending had no effect at the vendor. It
// fails at once with its own status, and is not left to be settled by a
// read as a write without a response is.
func TestEngine_UnsentWriteFailsAtOnce(t *testing.T) {
	tests := []struct {
		name       string
		err        *vendor.Error
		status     int
		msg        string
		retryAfter time.Duration
	}{
		{
			name:       "rate budget",
			err:        &vendor.Error{Kind: vendor.ErrThrottled, NotSent: true, RetryAfter: 42 * time.Second, Detail: "the next call is allowed in 42s"},
			status:     http.StatusTooManyRequests,
			msg:        "nothing was sent",
			retryAfter: 42 * time.Second,
		},
		{
			name:   "circuit open",
			err:    &vendor.Error{Kind: vendor.ErrUnavailable, NotSent: true, Detail: "circuit breaker open"},
			status: http.StatusBadGateway,
			msg:    "Bad Gateway: Failed to isolate endpoint",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.Open(t, store.SQLite)
			h, f := setup(t, db, 1)
			f.FailWith = tc.err

			_, err := h.e.Execute(context.Background(), isolateReq("001"))
			ae := wantStatus(t, err, tc.status, tc.msg)
			if ae.RetryAfter != tc.retryAfter {
				t.Errorf("Retry-After %s, want %s", ae.RetryAfter, tc.retryAfter)
			}

			var id, state string
			err = db.SQL.QueryRow(db.Rebind("SELECT id, state FROM actions WHERE agent_id = ? AND action = ?"), "001", "isolate").Scan(&id, &state)
			if err != nil {
				t.Fatal(err)
			}
			if state != string(Failed) {
				t.Errorf("action state %s right after the call, want failed", state)
			}
			if ae.ActionID != id {
				t.Errorf("error names action %q, want the stored action %s", ae.ActionID, id)
			}
			if got := strings.Join(h.audit.types(t, id), ","); got != "requested,failed" {
				t.Errorf("audit events %s, want requested,failed", got)
			}
			if n := f.statuses.Load(); n != 0 {
				t.Errorf("status reads %d, want none: nothing is left to settle", n)
			}
		})
	}
}

func TestEngine_LostResponseSettledByRead(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 1)
		f.LoseResponse = true

		_, err := h.e.Execute(context.Background(), isolateReq("001"))
		ae := wantStatus(t, err, http.StatusGatewayTimeout, "Gateway Timeout: Failed to isolate endpoint")
		if !strings.Contains(ae.Detail, "settled by reading the endpoint's state") {
			t.Errorf("detail %q: want the action id and how it is settled", ae.Detail)
		}

		var id string
		if err := db.SQL.QueryRow(db.Rebind("SELECT id FROM actions WHERE agent_id = ? AND action = ?"), "001", "isolate").Scan(&id); err != nil {
			t.Fatal(err)
		}
		waitState(t, h.e, company, id, Confirmed)
		if n := f.isolates.Load(); n != 1 {
			t.Errorf("isolate calls %d: want 1", n)
		}
		h.audit.verify(t)
	})
}

// TestEngine_EventWhileDispatchIsRecorded: a Wazuh result event that reads
// the action while its dispatch is not yet recorded, and updates it after
// the dispatch moved it to dispatched, still confirms it. The agent can run
// the command and report before the gateway has recorded the manager's
// response, and no poll confirms such an action later.
func TestEngine_EventWhileDispatchIsRecorded(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 1)
		f.Pending, f.AwaitEvent = true, true
		f.Entered, f.Gate = make(chan struct{}, 1), make(chan struct{})
		ctx := context.Background()

		type outcome struct {
			res *Result
			err error
		}
		executed := make(chan outcome, 1)
		go func() {
			res, err := h.e.Execute(ctx, isolateReq("001"))
			executed <- outcome{res, err}
		}()
		<-f.Entered

		// The event has read the action in state requested; the manager's
		// response then arrives and the dispatch is recorded before the
		// event's update.
		var dispatched outcome
		var once sync.Once
		h.e.afterEventLookup = func() {
			once.Do(func() {
				close(f.Gate)
				dispatched = <-executed
			})
		}
		rec, err := h.e.ConfirmExternal(ctx, company, vendor.ServiceWazuh, "001", vendor.ActionIsolate, true, "isolation applied")
		if err != nil {
			t.Fatalf("ConfirmExternal: %v", err)
		}
		if dispatched.err != nil {
			t.Fatalf("Execute: %v", dispatched.err)
		}
		if rec.ID != dispatched.res.ActionID {
			t.Errorf("event recorded on action %s, want %s", rec.ID, dispatched.res.ActionID)
		}
		if rec.State != Confirmed {
			t.Errorf("event answered with state %s, want confirmed", rec.State)
		}
		stored, err := h.e.Get(ctx, company, dispatched.res.ActionID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.State != Confirmed {
			t.Errorf("action state %s after the event, want confirmed; history %+v", stored.State, stored.History)
		}
		if got := strings.Join(h.audit.types(t, dispatched.res.ActionID), ","); got != "requested,dispatched,confirmed" {
			t.Errorf("audit events %s, want requested,dispatched,confirmed", got)
		}
		h.audit.verify(t)
	})
}

// TestEngine_UnrecordedOutcomeNamesAction: when the vendor acted but its
// outcome could not be recorded, the stored action stays requested, to be
// settled by reading the target once its lease ends, and the 500 names it,
// so that the caller can follow it instead of taking the write for failed.
func TestEngine_UnrecordedOutcomeNamesAction(t *testing.T) {
	tests := []struct {
		name     string
		pending  bool
		user     bool
		failType string // the audit event whose append fails
	}{
		{name: "isolate done at once", failType: "confirmed"},
		{name: "isolate pending at the vendor", pending: true, failType: "dispatched"},
		{name: "user block", user: true, failType: "confirmed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.Open(t, store.SQLite)
			h := newHarnessAudit(t, db, nil, func(log *audit.Log) auditTrail { return failingAudit{Log: log, failType: tc.failType} })
			req := isolateReq("001")
			if tc.user {
				_, name := newFakeDir(t)
				h.tenants.set(company, vendor.ServiceAzureAD, kindFakeDir, name)
				req = Request{CompanyID: company, Service: vendor.ServiceAzureAD, Route: "/azuread/users", Action: vendor.ActionBlock, Target: "user01@demo.example", Requester: "soc@example.com"}
			} else {
				f, name := newFakeEDR(t, 1)
				f.Pending = tc.pending
				h.tenants.set(company, vendor.ServiceWazuh, kindFakeEDR, name)
			}

			_, err := h.e.Execute(context.Background(), req)
			ae := wantStatus(t, err, http.StatusInternalServerError, "Internal Server Error")

			var id, state string
			err = db.SQL.QueryRow(db.Rebind("SELECT id, state FROM actions WHERE action = ?"), string(req.Action)).Scan(&id, &state)
			if err != nil {
				t.Fatalf("read the stored action: %v", err)
			}
			if state != string(Requested) {
				t.Errorf("action state %s, want requested until it is settled", state)
			}
			if ae.ActionID != id {
				t.Errorf("error names action %q, want the stored action %s", ae.ActionID, id)
			}
		})
	}
}

// TestEngine_ReadHistoryFromRow checks the history of reads that end in
// their first transaction: it comes from the action row, which holds both
// transitions, and action_events holds no rows for them.
func TestEngine_ReadHistoryFromRow(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 1)
		ctx := context.Background()

		res, err := h.e.Execute(ctx, statusReq("001"))
		if err != nil {
			t.Fatal(err)
		}
		f.StatusErr = &vendor.Error{Kind: vendor.ErrNotFound, Vendor: kindFakeEDR, Op: "get status", Detail: "agent 001 was removed"}
		_, err = h.e.Execute(ctx, statusReq("001"))
		var notFound *Error
		if !errors.As(err, &notFound) || notFound.ActionID == "" {
			t.Fatalf("failed status read: error %v, want an *Error naming its action", err)
		}

		cases := []struct {
			name       string
			actionID   string
			wantFinal  State
			wantDetail string
		}{
			{"confirmed", res.ActionID, Confirmed, "isolation"},
			{"failed", notFound.ActionID, Failed, "agent 001 was removed"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec, err := h.e.Get(ctx, company, tc.actionID)
				if err != nil {
					t.Fatal(err)
				}
				if len(rec.History) != 2 {
					t.Fatalf("history %+v: want requested and %s", rec.History, tc.wantFinal)
				}
				first, last := rec.History[0], rec.History[1]
				if first.State != Requested || !first.Time.Equal(rec.CreatedAt) || first.Detail != "" {
					t.Errorf("first event %+v: want requested at %v without detail", first, rec.CreatedAt)
				}
				if last.State != tc.wantFinal || !last.Time.Equal(rec.UpdatedAt) {
					t.Errorf("last event %+v: want %s at %v", last, tc.wantFinal, rec.UpdatedAt)
				}
				if !strings.Contains(last.Detail, tc.wantDetail) {
					t.Errorf("last event detail %q: want it to contain %q", last.Detail, tc.wantDetail)
				}
				if got := strings.Join(h.audit.types(t, tc.actionID), ","); got != "requested,"+string(tc.wantFinal) {
					t.Errorf("audit events %s: want requested,%s", got, tc.wantFinal)
				}

				var rows int
				err = db.SQL.QueryRowContext(ctx, db.Rebind("SELECT COUNT(*) FROM action_events WHERE action_id = ?"), tc.actionID).Scan(&rows)
				if err != nil {
					t.Fatal(err)
				}
				if rows != 0 {
					t.Errorf("action_events holds %d rows for the read, want 0", rows)
				}
			})
		}
	})
}

// executeCounted executes req and returns its result and the statements
// that the group committer sent for it. A status read of agent 001 runs
// first, because the first write of a company reads its audit chain head
// and the later ones remember it.
func executeCounted(t *testing.T, h *harness, db *store.DB, req Request) (*Result, uint64) {
	t.Helper()
	ctx := context.Background()
	if _, err := h.e.Execute(ctx, statusReq("001")); err != nil {
		t.Fatal(err)
	}

	before := db.CommitterStatements()
	res, err := h.e.Execute(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return res, db.CommitterStatements() - before
}

// TestEngine_StatusReadRoundTrips checks what a status read stores, and
// that on PostgreSQL its transaction sends three statements: BEGIN, one
// for the action with its audit events, and COMMIT. Each
// statement is a round trip on the group committer's one connection.
func TestEngine_StatusReadRoundTrips(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, _ := setup(t, db, 2)
		ctx := context.Background()
		res, sent := executeCounted(t, h, db, statusReq("002"))

		var state string
		if err := db.SQL.QueryRowContext(ctx, db.Rebind("SELECT state FROM actions WHERE id = ?"), res.ActionID).Scan(&state); err != nil {
			t.Fatalf("read the stored action: %v", err)
		}
		if state != string(Confirmed) {
			t.Errorf("stored state %s, want %s", state, Confirmed)
		}
		rec, err := h.e.Get(ctx, company, res.ActionID)
		if err != nil {
			t.Fatal(err)
		}
		history := rec.History
		if len(history) != 2 || history[0].State != Requested || history[1].State != Confirmed {
			t.Errorf("history %+v, want requested then confirmed", history)
		}

		if db.Dialect == store.Postgres && sent != 3 {
			t.Errorf("a status read sent %d statements, want 3", sent)
		}
		if brk, err := h.audit.log.Verify(ctx, company); err != nil || brk != nil {
			t.Errorf("audit chain: break %v, error %v; want it intact", brk, err)
		}
	})
}

// TestUnfinishedIDsPairsKinds checks the one-query lookup of admission: the
// newest unfinished write of the request's kind and of the opposite kind.
func TestUnfinishedIDsPairsKinds(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, f := setup(t, db, 2)
		f.Pending, f.ConfirmAfter = true, 1<<30
		ctx := context.Background()

		isolated, err := h.e.Execute(ctx, isolateReq("001"))
		if err != nil {
			t.Fatal(err)
		}
		released, err := h.e.Execute(ctx, releaseReq("001"))
		if err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name      string
			agent     string
			act       vendor.ActionKind
			wantSame  string
			wantOther string
		}{
			{"isolate with queued release", "001", vendor.ActionIsolate, isolated.ActionID, released.ActionID},
			{"release behind isolate", "001", vendor.ActionRelease, released.ActionID, isolated.ActionID},
			{"agent without writes", "002", vendor.ActionIsolate, "", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				same, other, err := h.e.unfinishedIDs(ctx, db.Read, company, vendor.ServiceWazuh, tc.agent, tc.act)
				if err != nil {
					t.Fatal(err)
				}
				if same != tc.wantSame {
					t.Errorf("same kind: %q, want %q", same, tc.wantSame)
				}
				if other != tc.wantOther {
					t.Errorf("opposite kind: %q, want %q", other, tc.wantOther)
				}
			})
		}
	})
}

// TestEngine_IsolateRoundTrips counts the statements that an isolate
// confirmed at once sends on PostgreSQL's group committer connection, and
// checks what it stores. Its first transaction stores the action: BEGIN,
// the unfinished writes of both kinds on the agent, the hourly cap, the
// action with its history and audit event, COMMIT. The second records the
// outcome: BEGIN, the actions update, the history and audit event, COMMIT.
func TestEngine_IsolateRoundTrips(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *store.DB) {
		h, _ := setup(t, db, 3)
		ctx := context.Background()
		res, sent := executeCounted(t, h, db, isolateReq("002"))

		if res.State != Confirmed {
			t.Errorf("state %s, want %s", res.State, Confirmed)
		}
		rec, err := h.e.Get(ctx, company, res.ActionID)
		if err != nil {
			t.Fatal(err)
		}
		history := rec.History
		if len(history) != 2 || history[0].State != Requested || history[1].State != Confirmed {
			t.Errorf("history %+v, want requested then confirmed", history)
		}
		if got := strings.Join(h.audit.types(t, res.ActionID), ","); got != "requested,confirmed" {
			t.Errorf("audit events %s, want requested,confirmed", got)
		}
		h.audit.verify(t)

		if db.Dialect == store.Postgres && sent != 9 {
			t.Errorf("an isolate sent %d statements, want 9", sent)
		}
	})
}
