-- Actions, their history, idempotency keys and guardrails. Times are Unix
-- nanoseconds (UTC) in BIGINT columns, as everywhere in the store.

-- +goose Up

-- One row per request that reached the engine. target is the agent_id or upn
-- as given; agent_id is the vendor's id of the resolved endpoint, or the
-- lowercased UPN. lease_until is set when a vendor call starts and bounds
-- how long that call may take; next_check_at is when the confirmation job
-- or the sweeper looks at the action next. unlock_code holds a sealed value.
CREATE TABLE actions (
    id            TEXT PRIMARY KEY,
    company_id    TEXT NOT NULL,
    service       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT NOT NULL,
    agent_id      TEXT NOT NULL DEFAULT '',
    requester     TEXT NOT NULL DEFAULT '',
    client_addr   TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    route         TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL,
    vendor_ref    TEXT NOT NULL DEFAULT '',
    endpoint      TEXT NOT NULL DEFAULT '',
    options       TEXT NOT NULL DEFAULT '',
    unlock_code   TEXT NOT NULL DEFAULT '',
    queued_behind TEXT NOT NULL DEFAULT '',
    lease_until   BIGINT NOT NULL DEFAULT 0,
    next_check_at BIGINT NOT NULL DEFAULT 0,
    deadline      BIGINT NOT NULL DEFAULT 0,
    polls         BIGINT NOT NULL DEFAULT 0,
    result        TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    dry_run       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- At most one unfinished write of each kind per target, across replicas.
CREATE UNIQUE INDEX actions_in_flight ON actions (company_id, service, agent_id, action)
    WHERE state IN ('requested', 'dispatched') AND agent_id <> '' AND NOT dry_run
      AND action IN ('isolate', 'releaseisolate', 'AzureADBlock', 'AzureADUnblock');
CREATE INDEX actions_target ON actions (company_id, service, agent_id, created_at);
CREATE INDEX actions_raw_target ON actions (company_id, service, target, created_at);
CREATE INDEX actions_unfinished ON actions (state, next_check_at);
CREATE INDEX actions_company_time ON actions (company_id, created_at);

CREATE TABLE action_events (
    action_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    time      BIGINT NOT NULL,
    state     TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (action_id, seq)
);

-- request_hash is the SHA-256 of the request's fields; response is the
-- stored result JSON, empty while the first request runs.
CREATE TABLE idempotency_keys (
    company_id   TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    action_id    TEXT NOT NULL DEFAULT '',
    response     TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (company_id, idem_key)
);

-- Entries that isolate and block refuse: host names, IP addresses, CIDR
-- ranges, agent ids and UPNs, stored lowercased.
CREATE TABLE guard_protect (
    company_id TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (company_id, value)
);

-- per_hour caps isolations and blocks per rolling hour; 0 means no cap.
CREATE TABLE guard_caps (
    company_id TEXT PRIMARY KEY,
    per_hour   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE guard_caps;
DROP TABLE guard_protect;
DROP TABLE idempotency_keys;
DROP TABLE action_events;
DROP TABLE actions;
