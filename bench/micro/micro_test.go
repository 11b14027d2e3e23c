package micro

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smartpt/smartpt/bench/loadgen"
	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/wazuhar"
)

// appendTimeout bounds the appends of one benchmark run, so that a lock
// held by another user of the shared PostgreSQL server fails the benchmark
// with an error instead of hanging until the test timeout.
const appendTimeout = 2 * time.Minute

// BenchmarkAuditAppend measures one audit event appended in a transaction of
// its own: the durable write every action makes at least once. On SQLite
// this includes the WAL commit; on PostgreSQL a round trip to the local
// server per statement.
func BenchmarkAuditAppend(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		b.Run(string(dialect), func(b *testing.B) {
			db := storetest.Open(b, dialect)
			log := audit.New(db)
			ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
			defer cancel()
			ev := audit.Event{
				CompanyID: "bench",
				Type:      "requested",
				Requester: "bench@demo.example",
				Route:     "/wazuh/agents",
				Action:    "isolate",
				Target:    "001",
			}

			for i := 0; b.Loop(); i++ {
				ev.ActionID = fmt.Sprintf("act-%d", i)
				if _, err := log.Append(ctx, ev); err != nil {
					b.Fatalf("append event %d: %v", i, err)
				}
			}
		})
	}
}

// BenchmarkAuditAppendParallel measures appends from several goroutines to
// one company's chain, which serialise on the chain head.
func BenchmarkAuditAppendParallel(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		b.Run(string(dialect), func(b *testing.B) {
			db := storetest.Open(b, dialect)
			log := audit.New(db)
			ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
			defer cancel()

			b.RunParallel(func(pb *testing.PB) {
				ev := audit.Event{CompanyID: "bench", Type: "requested", Action: "status", Target: "001"}
				for pb.Next() {
					if _, err := log.Append(ctx, ev); err != nil {
						b.Errorf("append: %v", err)
						return
					}
				}
			})
		})
	}
}

// arAlertLine is a Wazuh 4.x execd "add" message, shaped like the example
// in the Wazuh documentation's custom active response page.
var arAlertLine = []byte(`{"version":1,"origin":{"name":"worker01","module":"wazuh-execd"},"command":"add","parameters":{"extra_args":["isolate"],"alert":{"timestamp":"2021-02-01T20:58:44.830+0000","rule":{"level":15,"description":"Shellshock attack detected","id":"31168"},"agent":{"id":"001","name":"demo-host-01"},"manager":{"name":"wazuh-manager"},"id":"1612213124.6448363","data":{"srcip":"192.168.0.223"}},"program":"/var/ossec/active-response/bin/smartpt-wazuh"}}`)

// BenchmarkARParse measures the parse of one Active Response input line,
// which smartpt-wazuh ar does before its API request.
func BenchmarkARParse(b *testing.B) {
	b.SetBytes(int64(len(arAlertLine)))
	for b.Loop() {
		if _, err := wazuhar.Parse(arAlertLine); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistogramRecord measures the load harness's cost per sample, so
// that its share of a measured latency is known.
func BenchmarkHistogramRecord(b *testing.B) {
	var h loadgen.Histogram
	d := 123 * time.Microsecond
	for b.Loop() {
		h.Record(d)
		d += 17
	}
}
