// Package action is the engine: every request becomes an Action record,
// passes the guardrails, is de-duplicated per target, sent to the vendor
// once, and confirmed with the vendor until it reaches a final state.
//
// Lifecycle. An action is stored in state requested before any vendor
// write, then moves to dispatched (the vendor accepted a pending action),
// and ends confirmed, failed or expired. Each move is one transaction that
// updates the action row, appends to its history and appends the audit
// event. Reads (status, report) are recorded the same way.
//
// Rules the engine applies, in the order a request meets them:
//
//   - An integration the company has not configured is 424 Failed
//     Dependency, with a message naming the service and the
//     'smartpt integration set' command.
//   - agent_id is parsed by ParseTarget (400 for lists, wildcards, paths,
//     query characters and ids the vendor cannot have) and resolved: no
//     match is 404, several matches are 409 with the candidates.
//   - Isolate and block are rejected with 403 when the target, or the
//     resolved endpoint's id, host name or IP address, is on the company's
//     protect-list. They are rejected with 429 and Retry-After once the
//     company's hourly cap of isolations and blocks is reached. A dry run applies both and
//     returns the vendor calls it would make, without making them.
//   - Concurrent identical writes in one process share one vendor call. An
//     identical write while one is unfinished returns that action's id with
//     Deduplicated set; across replicas a unique index on unfinished writes
//     per (company, service, target, action) enforces the same.
//   - A write of the opposite kind while one is unfinished (a release while
//     an isolate is pending) is queued and sent once the first is final, so
//     the target ends in the state asked for last. If an identical write to
//     the pending one arrives meanwhile, the queued opposite write is failed
//     as superseded, because it was never sent.
//   - An Idempotency-Key with the same request within 24 hours returns the
//     first successful result; with a different request it is 422.
//
// Restarts. A write that reached the vendor without its outcome being
// recorded is settled by reading the target's state, never by sending it
// again (see recover in confirm.go). Pending confirmations run as River
// jobs, and a sweeper schedules a new job for any unfinished action whose
// job was lost with its process.
package action
