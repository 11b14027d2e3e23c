package audit

import (
	"context"
	"database/sql"
	"testing"

	"github.com/smartpt/smartpt/internal/store/storetest"
)

// TestAppendUnprepared covers the fallback used when preparing the append
// statements failed in New.
func TestAppendUnprepared(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			log := New(storetest.Open(t, d))
			log.prepared = [3]*sql.Stmt{}

			for i := 1; i <= 3; i++ {
				ev, err := log.Append(context.Background(), Event{CompanyID: "cmp_a", Type: "requested"})
				if err != nil {
					t.Fatalf("Append %d: %v", i, err)
				}
				if ev.Seq != int64(i) {
					t.Errorf("seq = %d, want %d", ev.Seq, i)
				}
			}
			brk, err := log.Verify(context.Background(), "cmp_a")
			if err != nil || brk != nil {
				t.Errorf("Verify = %v, %v; want an intact chain", brk, err)
			}
		})
	}
}
