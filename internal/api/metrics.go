package api

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus series. Labels take only route patterns,
// valid action names and status codes, so a client cannot grow their number.
type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	authFailures prometheus.Counter
	waiting      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smartpt_http_requests_total",
			Help: "HTTP requests served, by route pattern, action and status code.",
		}, []string{"route", "action", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smartpt_http_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its response, in seconds, by route pattern and action.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "action"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smartpt_http_auth_failures_total",
			Help: "Requests whose company key was missing, unknown, revoked or of a disabled company.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smartpt_http_actions_waiting",
			Help: "Action requests waiting for a free slot because max_concurrent_actions are in progress.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.authFailures, m.waiting} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register API metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(route, action string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, action, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, action).Observe(elapsed.Seconds())
}
