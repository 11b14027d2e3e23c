-- Indexes for the lookups an action makes before it reaches the vendor.
-- Through actions_target and actions_raw_target, each lookup walked back
-- over the endpoint's whole history (every status read, every finished
-- action) until a row matched, so an action got slower with every action
-- before it on the same endpoint: after a few thousand, those walks took
-- most of the gateway's CPU time. These partial indexes hold only the rows
-- each lookup can match; their WHERE clauses repeat the lookups' terms
-- word for word, so that SQLite's planner can use them.

-- +goose Up

-- The newest unfinished write of a kind on an endpoint, by resolved agent id
-- or by the target as given (deduplication and queueing). Status reads are
-- left out, so that they do not enter and leave these indexes.
CREATE INDEX actions_unfinished_agent ON actions (company_id, service, agent_id, action, created_at)
    WHERE state IN ('requested', 'dispatched') AND NOT dry_run
      AND action IN ('isolate', 'releaseisolate', 'AzureADBlock', 'AzureADUnblock');
CREATE INDEX actions_unfinished_target ON actions (company_id, service, target, action, created_at)
    WHERE state IN ('requested', 'dispatched') AND NOT dry_run
      AND action IN ('isolate', 'releaseisolate', 'AzureADBlock', 'AzureADUnblock');

-- The latest isolate or release of an endpoint, which a status read uses to
-- fill in an isolation state the vendor does not report (Wazuh).
CREATE INDEX actions_containment ON actions (company_id, service, agent_id, created_at)
    WHERE action IN ('isolate', 'releaseisolate') AND NOT dry_run;

-- +goose Down
DROP INDEX actions_containment;
DROP INDEX actions_unfinished_target;
DROP INDEX actions_unfinished_agent;
