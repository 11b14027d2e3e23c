package vendorhttp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of every vendor HTTP exchange, registered with the default
// Prometheus registry. Labels are the vendor kind, Request.Op and the
// outcome. Connectors must set Op to a fixed phrase such as "isolate
// machine", without ids or credentials, because it becomes a label value.
var (
	callsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smartpt_vendor_calls_total",
		Help: "Vendor HTTP attempts by vendor, operation and outcome (ok, client_error, unauthorized, throttled, server_error, transport_error, timeout, circuit_open).",
	}, []string{"vendor", "op", "outcome"})

	callSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "smartpt_vendor_call_duration_seconds",
		Help:    "Duration of vendor HTTP attempts in seconds, by vendor and operation.",
		Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"vendor", "op"})
)

func init() {
	prometheus.MustRegister(callsTotal, callSeconds)
}

// outcomeOf names the outcome of one attempt.
func outcomeOf(resp *Response, err error) string {
	switch {
	case err != nil && isTimeout(err):
		return "timeout"
	case err != nil:
		return "transport_error"
	case resp.Status == 401:
		return "unauthorized"
	case resp.Status == 429:
		return "throttled"
	case resp.Status >= 500:
		return "server_error"
	case resp.Status >= 400:
		return "client_error"
	}
	return "ok"
}

func observe(vendor, op, outcome string, took time.Duration) {
	callsTotal.WithLabelValues(vendor, op, outcome).Inc()
	if outcome != "circuit_open" {
		callSeconds.WithLabelValues(vendor, op).Observe(took.Seconds())
	}
}
