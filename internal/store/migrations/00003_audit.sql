-- The audit trail. Events are hash-chained per company: hash covers every
-- column of the event including seq and prev_hash. audit_heads holds the
-- last seq and hash of each chain, so that a removed last event is detected
-- and so that appenders serialise on one row per company. Times are Unix
-- nanoseconds (UTC).

-- +goose Up
CREATE TABLE audit_events (
    company_id  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    time        BIGINT NOT NULL,
    type        TEXT NOT NULL,
    action_id   TEXT NOT NULL DEFAULT '',
    requester   TEXT NOT NULL DEFAULT '',
    client_addr TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    route       TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL DEFAULT '',
    vendor_ref  TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT '',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (company_id, seq)
);
CREATE INDEX audit_events_action ON audit_events (company_id, action_id);
CREATE INDEX audit_events_time ON audit_events (company_id, time);

CREATE TABLE audit_heads (
    company_id TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL
);

-- Failed authentications. The presented key is never stored.
CREATE TABLE auth_failures (
    time        BIGINT NOT NULL,
    client_addr TEXT NOT NULL,
    route       TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX auth_failures_time ON auth_failures (time);
CREATE INDEX auth_failures_client ON auth_failures (client_addr, time);

-- +goose Down
DROP TABLE auth_failures;
DROP TABLE audit_heads;
DROP TABLE audit_events;
