package action

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// Confirmation runs on River. A job carries only an action id, because the
// action row is the truth. Every change to the row is a conditional update
// from the state the worker read. A duplicate job (after a restart, or on
// two replicas) therefore costs one extra vendor read and nothing more. Confirm and Status are reads:
// no job ever repeats an isolate or release that may have reached the
// vendor.
//
// A job that was running when its process died stays "running" in River's
// table until River's rescuer frees it, which can take an hour. The sweeper
// does not wait for that: every SweepInterval it schedules a new job for
// each unfinished action whose next check is more than SweepSlack late and
// that has no job waiting in River's queue. An action that only an event
// can confirm (vendor.Outcome.AwaitEvent) gets no job when it is
// dispatched: its next check is its deadline, and the sweep schedules the
// job that expires it, unless the event came first. A live job keeps its action
// from looking late: before each vendor read it moves next_check_at past
// the read's bound (claimCheck), and it sets the next check when it waits.

// confirmArgs is the job that moves one action towards a final state.
type confirmArgs struct {
	ActionID string `json:"action_id"`
}

func (confirmArgs) Kind() string { return "smartpt_action_confirm" }

type confirmWorker struct {
	river.WorkerDefaults[confirmArgs]
	e *Engine
}

// Short waits between polls are slept inside the job; longer ones, and any
// wait once the job has run for jobBudget, snooze it. River makes a snoozed
// job due again only on its scheduler's round (every few seconds), which
// would slow a confirmation that takes a second or two.
const (
	maxInJobWait = 10 * time.Second
	jobBudget    = 45 * time.Second
)

func (w *confirmWorker) Work(ctx context.Context, job *river.Job[confirmArgs]) error {
	start := time.Now()
	for {
		wait, err := w.e.advance(ctx, job.Args.ActionID)
		if err != nil {
			return err
		}
		if wait <= 0 {
			return nil
		}
		if wait > maxInJobWait || time.Since(start)+wait > jobBudget {
			return river.JobSnooze(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return river.JobSnooze(wait)
		case <-w.e.stopping:
			t.Stop()
			return river.JobSnooze(wait)
		case <-t.C:
		}
	}
}

// startRiver migrates River's tables for the store's dialect and starts a
// poll-only client on the store's connection pool.
func (e *Engine) startRiver(ctx context.Context) error {
	workers := river.NewWorkers()
	river.AddWorker(workers, &confirmWorker{e: e})
	cfg := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 50}},
		Workers:           workers,
		PollOnly:          true,
		FetchPollInterval: e.cfg.JobPollInterval,
		FetchCooldown:     min(e.cfg.JobPollInterval, 100*time.Millisecond),
		JobTimeout:        e.cfg.DispatchTimeout + jobBudget + time.Minute,
		Logger:            e.log.With("component", "river"),
		MaxAttempts:       25,
	}

	var client *river.Client[*sql.Tx]
	var err error
	switch e.db.Dialect {
	case store.SQLite:
		driver := riversqlite.New(e.db.SQL)
		if err := e.migrateRiver(ctx, driver); err != nil {
			return err
		}
		client, err = river.NewClient(driver, cfg)
	default:
		driver := riverdatabasesql.New(e.db.SQL)
		if err := e.migrateRiver(ctx, driver); err != nil {
			return err
		}
		client, err = river.NewClient(driver, cfg)
	}
	if err != nil {
		return fmt.Errorf("create the confirmation job client: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	if err := client.Start(runCtx); err != nil {
		cancel()
		return fmt.Errorf("start the confirmation workers: %w", err)
	}
	e.river, e.riverCancel = client, cancel
	return nil
}

// riverMigrationLock is the PostgreSQL advisory lock key that serialises
// River migrations of replicas starting at the same time.
const riverMigrationLock = 0x736d61727470 // "smartp" in hex

// migrateRiver applies River's migrations. On PostgreSQL a session
// advisory lock, held on a connection of its own, serialises replicas that
// start at once, because rivermigrate takes no lock itself and its
// migrations cannot all run in one transaction.
func (e *Engine) migrateRiver(ctx context.Context, driver riverdriver.Driver[*sql.Tx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("prepare River migrations: %w", err)
	}

	if e.db.Dialect == store.Postgres {
		conn, err := e.db.SQL.Conn(ctx)
		if err != nil {
			return fmt.Errorf("lock River migrations: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(riverMigrationLock)); err != nil {
			return fmt.Errorf("lock River migrations: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(riverMigrationLock))
	}

	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("apply River migrations: %w", err)
	}
	return nil
}

// enqueueTx schedules a confirmation job for the action inside tx.
func (e *Engine) enqueueTx(ctx context.Context, tx *sql.Tx, actionID string, at time.Time) error {
	if e.river == nil {
		return errors.New("confirmation workers are not started: call Start first")
	}
	// A job due soon is made available now, and its worker looks at the
	// action at once; see maxInJobWait.
	opts := &river.InsertOpts{}
	if time.Until(at) > maxInJobWait {
		opts.ScheduledAt = at
	}
	_, err := e.river.InsertTx(ctx, tx, confirmArgs{ActionID: actionID}, opts)
	if err != nil {
		return fmt.Errorf("schedule confirmation of action %s: %w", actionID, err)
	}
	return nil
}

// pollWait returns the wait before poll number n+1: PollMin doubled n
// times, capped at PollMax.
func (e *Engine) pollWait(n int64) time.Duration {
	d := e.cfg.PollMin
	for i := int64(0); i < n && d < e.cfg.PollMax; i++ {
		d *= 2
	}
	return min(d, e.cfg.PollMax)
}

// advance looks at one action and moves it on. It returns how long to wait
// before the next look, or 0 when the action is final.
func (e *Engine) advance(ctx context.Context, id string) (time.Duration, error) {
	r, err := e.loadRow(ctx, e.db.Read, id, false)
	if err != nil {
		return 0, err
	}
	if r == nil || r.State.Final() {
		return 0, nil
	}
	now := time.Now()

	switch {
	case r.State == Requested && !isWrite(r.Action) && now.After(r.LeaseUntil):
		// A read (status, report) cut short by a stopped process: nothing
		// to settle at the vendor.
		_, err := e.transition(ctx, r, Requested, change{State: Failed, Detail: "the gateway stopped before the vendor responded; send the request again"})
		return 0, err
	case r.State == Requested && r.QueuedBehind != "" && r.LeaseUntil.IsZero():
		return e.advanceQueued(ctx, r)
	case r.State == Requested && now.Before(r.LeaseUntil):
		// A vendor call is running under its lease in some process.
		return e.schedule(ctx, r, r.LeaseUntil.Sub(now)+time.Second)
	case r.State == Requested:
		return e.recover(ctx, r)
	}

	// Dispatched: poll the vendor until a final state or the deadline.
	if !r.Deadline.IsZero() && now.After(r.Deadline) {
		_, err := e.transition(ctx, r, Dispatched, change{State: Expired, Detail: fmt.Sprintf("the vendor reported no final state within %s", e.cfg.ConfirmDeadline)})
		return 0, err
	}
	cc, err := e.client(ctx, r.CompanyID, r.Service, tenant.Revision{})
	if err != nil || cc.containment == nil {
		e.log.Warn("cannot build the vendor client to confirm an action", "company", r.CompanyID, "action_id", r.ID, "error", err)
		return e.schedule(ctx, r, e.pollWait(r.Polls))
	}

	if claimed, err := e.claimCheck(ctx, r); err != nil || !claimed {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.DispatchTimeout)
	conf, err := e.poll(rctx, cc.containment, r)
	cancel()
	if err != nil {
		e.log.Warn("confirmation poll failed", "company", r.CompanyID, "action_id", r.ID, "vendor", r.Kind, "error", err)
		return e.schedule(ctx, r, e.pollWait(r.Polls))
	}
	if !conf.Final && conf.WaitForEvent && !r.Deadline.IsZero() {
		// Polling cannot tell more; the event confirms the action, or the
		// deadline expires it.
		return e.schedule(ctx, r, time.Until(r.Deadline)+time.Second)
	}
	if !conf.Final {
		return e.schedule(ctx, r, e.pollWait(r.Polls))
	}

	ep := r.Endpoint
	if ep != nil && conf.State != "" {
		cp := *ep
		cp.Isolation = conf.State
		ep = &cp
	}
	st, detail := Confirmed, "confirmed by the vendor"
	if !conf.Succeeded {
		st, detail = Failed, "the vendor reported failure"
	}
	if conf.Detail != "" {
		detail += ": " + conf.Detail
	}
	_, err = e.transition(ctx, r, Dispatched, change{State: st, Detail: detail, Endpoint: ep, AddPoll: true})
	if err == nil {
		e.log.Info("action final", "company", r.CompanyID, "action_id", r.ID, "vendor", r.Kind, "state", st)
	}
	return 0, err
}

// poll polls the vendor once. Without a vendor reference (an action settled
// after a restart) it reads the endpoint's state instead.
func (e *Engine) poll(ctx context.Context, c vendor.Containment, r *row) (vendor.Confirmation, error) {
	if r.VendorRef != "" || r.Endpoint == nil {
		ep := vendor.Endpoint{}
		if r.Endpoint != nil {
			ep = *r.Endpoint
		}
		return c.Confirm(ctx, ep, r.Action, r.VendorRef)
	}
	out, err := c.Status(ctx, *r.Endpoint)
	if err != nil {
		return vendor.Confirmation{}, err
	}
	want := vendor.Isolated
	if r.Action == vendor.ActionRelease {
		want = vendor.NotIsolated
	}
	iso := out.Endpoint.Isolation
	return vendor.Confirmation{Final: iso == want, Succeeded: iso == want, State: iso, Detail: "endpoint state " + string(iso), Raw: out.Raw}, nil
}

// schedule records when the action is looked at next and returns the wait.
func (e *Engine) schedule(ctx context.Context, r *row, wait time.Duration) (time.Duration, error) {
	next := time.Now().Add(wait)
	_, err := e.db.ExecOne(ctx, e.db.Rebind("UPDATE actions SET next_check_at = ?, polls = polls + 1 WHERE id = ? AND state = ?"),
		store.UnixNanos(next), r.ID, string(r.State))
	if err != nil {
		return 0, fmt.Errorf("schedule action %s: %w", r.ID, err)
	}
	return wait, nil
}

// claimCheck marks the action as being checked by this job before a vendor
// read: it moves next_check_at to the end of the read's bound
// (DispatchTimeout). The sweep resumes only actions more than SweepSlack
// past next_check_at, so it leaves an action alone while its job is alive
// and reading, and resumes it within DispatchTimeout + SweepSlack when the
// job's process died during the read. The update is conditional on the
// next_check_at this job loaded. It returns false when the sweep or another
// job changed the row first. That job then owns the check and this one ends,
// so two jobs that loaded the same row never both read the vendor.
// NOTE: two live jobs of one action that load the row one after the other
// can still both claim it in turn. Neither the sweep nor a restart creates
// such a pair while the first job is alive.
func (e *Engine) claimCheck(ctx context.Context, r *row) (bool, error) {
	until := time.Now().Add(e.cfg.DispatchTimeout)
	n, err := e.db.ExecOne(ctx, e.db.Rebind("UPDATE actions SET next_check_at = ? WHERE id = ? AND state = ? AND next_check_at = ?"),
		store.UnixNanos(until), r.ID, string(r.State), store.UnixNanos(r.NextCheckAt))
	if err != nil {
		return false, fmt.Errorf("claim the check of action %s: %w", r.ID, err)
	}
	if n == 0 {
		e.log.Info("another job is checking the action; this job ends", "action_id", r.ID)
		return false, nil
	}
	r.NextCheckAt = until
	return true, nil
}

// advanceQueued sends a queued write once the action it waits for is final.
func (e *Engine) advanceQueued(ctx context.Context, r *row) (time.Duration, error) {
	before, err := e.loadRow(ctx, e.db.Read, r.QueuedBehind, false)
	if err != nil {
		return 0, err
	}
	if before != nil && !before.State.Final() {
		return e.schedule(ctx, r, e.cfg.PollMin)
	}

	cc, err := e.client(ctx, r.CompanyID, r.Service, tenant.Revision{})
	if err != nil || cc.containment == nil {
		_, terr := e.transition(ctx, r, Requested, change{State: Failed, Detail: fmt.Sprintf("cannot build the vendor client: %v", err)})
		return 0, terr
	}

	unlock := e.locks.Lock(r.CompanyID + "/" + string(r.Service) + "/" + r.AgentID)
	defer unlock()

	// Claim the dispatch: only one worker moves the lease from zero.
	lease := time.Now().Add(e.cfg.DispatchTimeout + e.cfg.LeaseSlack)
	res, err := e.db.SQL.ExecContext(ctx, e.db.Rebind("UPDATE actions SET lease_until = ?, next_check_at = ? WHERE id = ? AND state = 'requested' AND lease_until = 0"),
		store.UnixNanos(lease), store.UnixNanos(lease), r.ID)
	if err != nil {
		return 0, fmt.Errorf("claim action %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil
	}
	r.LeaseUntil = lease

	unlockCode := ""
	if r.UnlockCode != "" {
		if unlockCode, err = e.open(r.UnlockCode); err != nil {
			_, terr := e.transition(ctx, r, Requested, change{State: Failed, Detail: "cannot open the stored unlock code"})
			return 0, terr
		}
	}
	_, derr := e.dispatch(ctx, cc.containment, r, unlockCode)
	if derr != nil {
		e.log.Warn("queued action failed", "company", r.CompanyID, "action_id", r.ID, "error", derr)
	}
	return 0, nil
}

// recover settles a write whose vendor call started but whose outcome was
// never recorded (the process died, or no response arrived). It reads the
// endpoint's state and never sends the write again: the requested state
// reached means confirmed, a transition under way means dispatched and
// polled, anything else means failed with a message asking for a new
// request.
func (e *Engine) recover(ctx context.Context, r *row) (time.Duration, error) {
	cc, err := e.client(ctx, r.CompanyID, r.Service, tenant.Revision{})
	if err != nil || r.Endpoint == nil || (cc.containment == nil && cc.directory == nil) {
		_, terr := e.transition(ctx, r, Requested, change{State: Failed, Detail: fmt.Sprintf("the outcome of the vendor call was lost and the target cannot be read: %v", err)})
		return 0, terr
	}
	if cc.containment == nil {
		// Directory writes finish within the request; their outcome cannot
		// be read back without the account's state.
		if claimed, err := e.claimCheck(ctx, r); err != nil || !claimed {
			return 0, err
		}
		rctx, cancel := context.WithTimeout(ctx, e.cfg.DispatchTimeout)
		out, err := cc.directory.Status(rctx, r.Target)
		cancel()
		if err != nil {
			return e.schedule(ctx, r, e.pollWait(r.Polls))
		}
		want := r.Action == vendor.ActionUnblock
		st, detail := Failed, "the outcome of the vendor call was lost and the account is not in the requested state; send the request again"
		if out.User.AccountEnabled == want {
			st, detail = Confirmed, "the account was found in the requested state after the outcome of the vendor call was lost"
		}
		_, err = e.transition(ctx, r, Requested, change{State: st, Detail: detail})
		return 0, err
	}

	if claimed, err := e.claimCheck(ctx, r); err != nil || !claimed {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, e.cfg.DispatchTimeout)
	out, err := cc.containment.Status(rctx, *r.Endpoint)
	cancel()
	if err != nil {
		if time.Since(r.LeaseUntil) > e.cfg.ConfirmDeadline {
			_, terr := e.transition(ctx, r, Requested, change{State: Expired, Detail: "the outcome of the vendor call was lost and the endpoint could not be read in time"})
			return 0, terr
		}
		return e.schedule(ctx, r, e.pollWait(r.Polls))
	}
	want, moving := vendor.Isolated, vendor.Isolating
	if r.Action == vendor.ActionRelease {
		want, moving = vendor.NotIsolated, vendor.Releasing
	}
	ep := out.Endpoint
	if ep.AgentID == "" {
		ep = *r.Endpoint
	}
	switch ep.Isolation {
	case want:
		_, err = e.transition(ctx, r, Requested, change{State: Confirmed, Detail: "the endpoint was found in the requested state after the outcome of the vendor call was lost", Endpoint: &ep})
		return 0, err
	case moving:
		deadline, next := time.Now().Add(e.cfg.ConfirmDeadline), time.Now().Add(e.cfg.PollMin)
		empty := ""
		_, err = e.transition(ctx, r, Requested, change{State: Dispatched, Detail: "the vendor is carrying out the action; confirming by reading the endpoint's state", Endpoint: &ep, VendorRef: &empty, Deadline: &deadline, NextCheckAt: &next})
		return e.cfg.PollMin, err
	case vendor.Unknown, "":
		// The vendor cannot report isolation (Wazuh): the write may have
		// reached it, so the action waits for the agent's result event, or
		// expires at the deadline, rather than being failed and sent again.
		deadline, next := time.Now().Add(e.cfg.ConfirmDeadline), time.Now().Add(e.cfg.PollMin)
		ref := r.VendorRef
		if ref == "" {
			ref = r.ID
		}
		_, err = e.transition(ctx, r, Requested, change{State: Dispatched, Detail: "the outcome of the vendor call was lost and the vendor cannot report the endpoint's state; waiting for the agent's result", Endpoint: &ep, VendorRef: &ref, Deadline: &deadline, NextCheckAt: &next})
		return e.cfg.PollMin, err
	default:
		_, err = e.transition(ctx, r, Requested, change{State: Failed, Detail: fmt.Sprintf("the outcome of the vendor call was lost and the endpoint's state is %s; send the request again", ep.Isolation), Endpoint: &ep})
		return 0, err
	}
}

// sweepLoop schedules new jobs for unfinished actions whose job was lost.
func (e *Engine) sweepLoop(ctx context.Context) {
	defer close(e.sweepDone)
	t := time.NewTicker(e.cfg.SweepInterval)
	defer t.Stop()
	for {
		if err := e.sweep(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("sweep of unfinished actions failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lateActionsQuery lists unfinished actions whose next check is before a
// time, through the partial index actions_unfinished.
const lateActionsQuery = `SELECT id, next_check_at FROM actions
	WHERE state IN ('requested', 'dispatched') AND next_check_at > 0 AND next_check_at < ? LIMIT 200`

// sweep finds unfinished actions more than SweepSlack late and schedules a
// job for each. The conditional update makes one replica win each action.
func (e *Engine) sweep(ctx context.Context) error {
	late := time.Now().Add(-e.cfg.SweepSlack)
	rows, err := e.db.SQL.QueryContext(ctx, e.db.Rebind(lateActionsQuery), store.UnixNanos(late))
	if err != nil {
		return err
	}
	type due struct {
		id   string
		next int64
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.next); err != nil {
			rows.Close()
			return err
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	for _, d := range list {
		now := time.Now()
		resumed := false
		err := e.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, e.db.Rebind("UPDATE actions SET next_check_at = ? WHERE id = ? AND next_check_at = ?"),
				store.UnixNanos(now.Add(e.cfg.SweepSlack)), d.id, d.next)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			if queued, err := e.jobQueued(ctx, tx, d.id); err != nil || queued {
				return err
			}
			resumed = true
			return e.enqueueTx(ctx, tx, d.id, now)
		})
		if err != nil {
			return err
		}
		if resumed {
			e.log.Info("resumed an unfinished action", "action_id", d.id)
		}
	}
	return nil
}

// jobQueued reports whether a confirmation job of the action waits in
// River's table for a worker: available (no worker free yet), scheduled (a
// snoozed job) or pending. Such a job is not lost, so the sweep adds none.
// A job in state running is not counted, because after a SIGKILL River
// keeps it running until its rescuer frees it. A live running job instead
// moves next_check_at forward before each vendor read (claimCheck).
func (e *Engine) jobQueued(ctx context.Context, tx *sql.Tx, actionID string) (bool, error) {
	query := `SELECT COUNT(*) FROM river_job WHERE kind = ? AND state IN ('available', 'scheduled', 'pending')
		AND json_extract(args, '$.action_id') = ?`
	if e.db.Dialect == store.Postgres {
		query = `SELECT COUNT(*) FROM river_job WHERE kind = ? AND state IN ('available', 'scheduled', 'pending')
		AND args->>'action_id' = ?`
	}
	var n int
	if err := tx.QueryRowContext(ctx, e.db.Rebind(query), confirmArgs{}.Kind(), actionID).Scan(&n); err != nil {
		return false, fmt.Errorf("look for a queued confirmation job of action %s: %w", actionID, err)
	}
	return n > 0, nil
}

func (e *Engine) open(sealed string) (string, error) {
	if e.sealer == nil {
		return "", errors.New("no sealer configured")
	}
	return e.sealer.Open(sealed)
}
