package action

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
)

// TestLookupsUseTheirIndexes checks, with SQLite's EXPLAIN QUERY PLAN, that
// each lookup on the actions table searches the index meant for it. A
// lookup that falls back to scanning the table, or to an index that holds
// every action, gets slower with every action stored, and no other test
// notices. The partial indexes are used only while a query repeats their
// WHERE terms, so an edit of either side can lose them.
func TestLookupsUseTheirIndexes(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	tests := []struct {
		name  string
		query string
		index string
		times int // searches of the index the plan must show
	}{
		{"unfinished by agent id", unfinishedQuery("agent_id"), "actions_unfinished_agent", 1},
		{"unfinished by target", unfinishedQuery("target"), "actions_unfinished_target", 1},
		{"unfinished of two kinds", unfinishedPairQuery, "actions_unfinished_agent", 2},
		{"tracked isolation", trackedIsolationQuery, "actions_containment", 1},
		{"latest isolate or release", latestContainmentQuery, "actions_containment", 1},
		{"late actions", lateActionsQuery, "actions_unfinished", 1},
		{"hourly cap", capCountQuery, "actions_company_time", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]any, strings.Count(tc.query, "?"))
			for i := range args {
				args[i] = "x"
			}
			rows, err := db.Read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+tc.query, args...)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			defer rows.Close()

			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatalf("read the plan: %v", err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("read the plan: %v", err)
			}

			text := strings.Join(plan, "; ")
			uses := regexp.MustCompile(`USING (COVERING )?INDEX ` + tc.index + `\b`)
			if got, want := len(uses.FindAllString(text, -1)), tc.times; got < want {
				t.Errorf("plan %q searches index %s %d times, want %d", text, tc.index, got, want)
			}
		})
	}
}
