-- Companies, company keys and integrations. Times are Unix nanoseconds (UTC)
-- in BIGINT columns, the same in both dialects, so they order and compare as
-- numbers.

-- +goose Up
CREATE TABLE companies (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- digest is the lowercase hex SHA-256 of the company key; the key itself is
-- never stored.
CREATE TABLE company_keys (
    id         TEXT PRIMARY KEY,
    company_id TEXT NOT NULL REFERENCES companies (id),
    digest     TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX company_keys_company ON company_keys (company_id, created_at);

-- settings is a JSON object of plain values. secrets is a JSON object whose
-- values are sealed values or secret references, never plain secrets.
CREATE TABLE integrations (
    company_id TEXT NOT NULL REFERENCES companies (id),
    service    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    settings   TEXT NOT NULL,
    secrets    TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (company_id, service)
);

-- +goose Down
DROP TABLE integrations;
DROP TABLE company_keys;
DROP TABLE companies;
