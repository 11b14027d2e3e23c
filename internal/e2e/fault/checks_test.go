package fault

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/vendors"
)

// storedAction is one row of the actions table, as the checks need it.
type storedAction struct {
	id, companyID, service, action, target, agentID, requestID, state, detail string
}

func (h *harness) loadActions(ctx context.Context) map[string]storedAction {
	h.t.Helper()
	rows, err := h.db.SQL.QueryContext(ctx, `SELECT id, company_id, service, action, target, agent_id, request_id, state, detail FROM actions`)
	if err != nil {
		h.t.Fatalf("read actions: %v", err)
	}
	defer rows.Close()
	out := map[string]storedAction{}
	for rows.Next() {
		var a storedAction
		if err := rows.Scan(&a.id, &a.companyID, &a.service, &a.action, &a.target, &a.agentID, &a.requestID, &a.state, &a.detail); err != nil {
			h.t.Fatalf("read actions: %v", err)
		}
		out[a.id] = a
	}
	if err := rows.Err(); err != nil {
		h.t.Fatalf("read actions: %v", err)
	}
	return out
}

// history returns every action's history states, oldest first.
func (h *harness) history(ctx context.Context) map[string][]string {
	h.t.Helper()
	rows, err := h.db.SQL.QueryContext(ctx, `SELECT action_id, state FROM action_events ORDER BY action_id, seq`)
	if err != nil {
		h.t.Fatalf("read action history: %v", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			h.t.Fatalf("read action history: %v", err)
		}
		out[id] = append(out[id], st)
	}
	return out
}

// auditEvents returns every audit event of the company, oldest first.
func (h *harness) auditEvents(ctx context.Context, companyID string) []audit.Event {
	h.t.Helper()
	var all []audit.Event
	var after int64
	for {
		page, err := h.audit.List(ctx, companyID, audit.Filter{AfterSeq: after, Limit: 1000})
		if err != nil {
			h.t.Fatalf("list audit events: %v", err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
		after = page[len(page)-1].Seq
	}
}

// waitFinal waits until no action is requested or dispatched, or timeout
// passes, and returns the unfinished ones.
func (h *harness) waitFinal(ctx context.Context, timeout time.Duration) []storedAction {
	deadline := time.Now().Add(timeout)
	for {
		var open []storedAction
		for _, a := range h.loadActions(ctx) {
			if a.state == "requested" || a.state == "dispatched" {
				open = append(open, a)
			}
		}
		if len(open) == 0 || time.Now().After(deadline) {
			return open
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkResponses checks that every request got a well-formed response.
func checkResponses(t *testing.T, reqs []request, resps []response) {
	t.Helper()
	for i, r := range resps {
		if r.err != nil {
			t.Errorf("request %s (%s %s on %s): no usable response: %v", reqs[i].id, reqs[i].profile.Route, reqs[i].action, reqs[i].host, r.err)
			continue
		}
		if r.body.StatusCode != r.status {
			t.Errorf("request %s: body statusCode %d, HTTP status %d; want them equal", reqs[i].id, r.body.StatusCode, r.status)
		}
		if r.status == http.StatusOK && r.body.Body.ActionID == "" {
			t.Errorf("request %s: 200 without action_id", reqs[i].id)
		}
	}
}

// checkNoneLost checks that every request left a record: the action its
// response names, or an action or a rejected audit event with its request id.
func (h *harness) checkNoneLost(ctx context.Context, reqs []request, resps []response, actions map[string]storedAction) {
	t := h.t
	t.Helper()
	byRequest := map[string]bool{}
	for _, a := range actions {
		byRequest[a.requestID] = true
	}
	for _, c := range h.companies {
		for _, ev := range h.auditEvents(ctx, c.id) {
			if ev.Type == "rejected" {
				byRequest[ev.RequestID] = true
			}
		}
	}
	for i, r := range resps {
		if r.err != nil {
			continue
		}
		if r.status == http.StatusOK {
			a, ok := actions[r.body.Body.ActionID]
			if !ok {
				t.Errorf("request %s: action %s of the response is not in the store", reqs[i].id, r.body.Body.ActionID)
			} else if a.companyID != reqs[i].company.id {
				t.Errorf("request %s: action %s belongs to company %s, want %s", reqs[i].id, a.id, a.companyID, reqs[i].company.id)
			}
			continue
		}
		if !byRequest[reqs[i].id] {
			t.Errorf("request %s (%s %s on %s) answered %d %q with no action and no rejected event in the store; identical requests: %s",
				reqs[i].id, reqs[i].profile.Route, reqs[i].action, reqs[i].host, r.status, r.body.Message, identical(reqs, resps, i))
		}
	}
}

// checkAuditTrail checks that each action's history is in the audit trail,
// state by state, ending in the action's final state, and that every
// company's chain verifies.
func (h *harness) checkAuditTrail(ctx context.Context, actions map[string]storedAction) {
	t := h.t
	t.Helper()
	hist := h.history(ctx)
	audited := map[string][]string{}
	for _, c := range h.companies {
		for _, ev := range h.auditEvents(ctx, c.id) {
			if ev.ActionID != "" && ev.Type != "rejected" {
				audited[ev.ActionID] = append(audited[ev.ActionID], ev.Type)
			}
		}
		brk, err := h.audit.Verify(ctx, c.id)
		if err != nil {
			t.Errorf("verify audit chain of %s: %v", c.name, err)
		} else if brk != nil {
			t.Errorf("audit chain of %s is broken: %s", c.name, brk.Reason)
		}
	}

	for id, a := range actions {
		states := hist[id]
		if len(states) == 0 && action.State(a.state).Final() {
			// A read that ended in its first transaction keeps both of
			// its transitions in its action row, not in action_events.
			states = []string{"requested", a.state}
		}
		got := audited[id]
		if len(states) == 0 || states[0] != "requested" {
			t.Errorf("action %s: history %v, want it to start with requested", id, states)
		}
		if len(states) == 0 || states[len(states)-1] != a.state {
			t.Errorf("action %s: history %v does not end in its state %s", id, states, a.state)
		}
		if strings.Join(got, ",") != strings.Join(states, ",") {
			t.Errorf("action %s: audit events %v, history %v; want every transition audited once", id, got, states)
		}
	}
}

// checkSideEffects checks the proxies' records for three things. No
// action's write reached a simulator and succeeded twice. Every accepted
// write belongs to an action of that kind on that endpoint. An action whose
// write the vendor accepted is not recorded as failed.
func (h *harness) checkSideEffects(actions map[string]storedAction) (accepted int) {
	t := h.t
	t.Helper()
	for _, in := range h.integrations {
		perAction := map[string]int{}
		last := map[string]vendor.ActionKind{} // endpoint -> kind of its last accepted write
		for _, ex := range in.proxy.Exchanges() {
			w, ok := in.profile.Write(ex)
			if !ok || !ex.Forwarded || ex.Status < 200 || ex.Status > 299 {
				continue
			}
			accepted++

			if w.ActionID == "" {
				// The vendor's request carries no action id: a second
				// accepted write of one kind on an endpoint, with no
				// opposite write between, is a doubled side effect.
				if last[w.Target] == w.Action {
					t.Errorf("%s/%s: endpoint %s got a second accepted %s with no release between (exchange %d, fault %q)",
						in.company.name, in.profile.Kind, w.Target, w.Action, ex.Seq, ex.Fault)
				}
				last[w.Target] = w.Action
				continue
			}

			perAction[w.ActionID]++
			if perAction[w.ActionID] == 2 {
				t.Errorf("%s/%s: action %s sent its %s to the vendor twice (second at exchange %d, fault %q)",
					in.company.name, in.profile.Kind, w.ActionID, w.Action, ex.Seq, ex.Fault)
			}
			a, ok := actions[w.ActionID]
			switch {
			case !ok:
				t.Errorf("%s/%s: accepted %s on %s names action %s, which is not in the store", in.company.name, in.profile.Kind, w.Action, w.Target, w.ActionID)
			case a.action != string(w.Action) || a.agentID != w.Target || a.companyID != in.company.id:
				t.Errorf("%s/%s: accepted %s on %s names action %s, which is %s on %s of company %s",
					in.company.name, in.profile.Kind, w.Action, w.Target, w.ActionID, a.action, a.agentID, a.companyID)
			case a.state == "failed":
				t.Errorf("%s/%s: action %s (%s on %s) is recorded failed (%q), but the vendor accepted its write (exchange %d, fault %q)",
					in.company.name, in.profile.Kind, a.id, a.action, a.agentID, a.detail, ex.Seq, ex.Fault)
			}
		}
	}
	return accepted
}

// summary returns counts for the log: responses by status and faults by kind.
func (h *harness) summary(resps []response) string {
	statuses := map[int]int{}
	for _, r := range resps {
		statuses[r.status]++
	}
	faults := map[string]int{}
	forwardedWrites := 0
	for _, in := range h.integrations {
		for _, ex := range in.proxy.Exchanges() {
			if ex.Fault != "" {
				faults[string(ex.Fault)]++
			}
			if _, ok := in.profile.Write(ex); ok && ex.Forwarded {
				forwardedWrites++
			}
		}
	}
	return fmt.Sprintf("responses by status %s; latency %s; faults %s; forwarded writes %d; wazuh events by status %v",
		sortedCounts(statuses), latencies(resps), sortedCounts(faults), forwardedWrites, h.reporter.counts())
}

// latencies returns the median, 99th percentile and maximum response time.
func latencies(resps []response) string {
	if len(resps) == 0 {
		return "none"
	}
	d := make([]time.Duration, len(resps))
	for i, r := range resps {
		d[i] = r.elapsed
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %s p99 %s max %s", at(0.5), at(0.99), d[len(d)-1].Round(time.Millisecond))
}

func sortedCounts[K int | string](m map[K]int) string {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%v:%d", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// identical lists the other requests with the same company, route, action
// and host, with their responses, to tell a deduplicated request apart.
func identical(reqs []request, resps []response, i int) string {
	var out []string
	for j, r := range reqs {
		if j != i && r.company == reqs[i].company && r.profile.Route == reqs[i].profile.Route && r.action == reqs[i].action && r.host == reqs[i].host {
			out = append(out, fmt.Sprintf("%s answered %d %q", r.id, resps[j].status, resps[j].body.Message))
		}
	}
	return strings.Join(out, "; ")
}
