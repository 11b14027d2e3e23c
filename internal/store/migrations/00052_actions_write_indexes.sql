-- Fewer indexes for every action to update. Each stored action updated
-- every index of the actions table, although most rows are finished status
-- reads that no lookup ever looks for.
--
-- actions_target and actions_raw_target had no query left that needs them:
-- the lookups before a vendor call use the partial indexes of migration
-- 00051, and so does the lookup of a Wazuh result event.
--
-- actions_unfinished served only the sweep of unfinished actions. It now
-- holds only unfinished rows, so a finished action leaves it and a status
-- read, stored finished, never enters it. Likewise actions_company_time
-- served only the hourly cap, which counts isolations and blocks.

-- +goose Up
DROP INDEX actions_target;
DROP INDEX actions_raw_target;

DROP INDEX actions_unfinished;
CREATE INDEX actions_unfinished ON actions (next_check_at)
    WHERE state IN ('requested', 'dispatched');

DROP INDEX actions_company_time;
CREATE INDEX actions_company_time ON actions (company_id, created_at)
    WHERE action IN ('isolate', 'AzureADBlock') AND NOT dry_run;

-- +goose Down
DROP INDEX actions_company_time;
CREATE INDEX actions_company_time ON actions (company_id, created_at);

DROP INDEX actions_unfinished;
CREATE INDEX actions_unfinished ON actions (state, next_check_at);

CREATE INDEX actions_raw_target ON actions (company_id, service, target, created_at);
CREATE INDEX actions_target ON actions (company_id, service, agent_id, created_at);
