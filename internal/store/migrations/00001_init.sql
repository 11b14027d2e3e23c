-- +goose Up
CREATE TABLE schema_info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- +goose Down
DROP TABLE schema_info;
