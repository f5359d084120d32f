package rpc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome label values of quarry_rpc_requests_total.
const (
	outcomeOK    = "ok"
	outcomeError = "error"
)

// unknownMethod is the method label of calls to methods that do not exist,
// so that the label set stays bounded by the method table.
const unknownMethod = "unknown"

// Reasons of quarry_rpc_http_rejected_total (requests refused before any
// method ran).
const (
	rejectUnauthorized = "unauthorized"
	rejectBusy         = "busy"
	rejectTooLarge     = "too_large"
	rejectBadMethod    = "bad_method"
	rejectBodyTimeout  = "body_timeout"
	rejectAuthThrottle = "auth_throttled"
)

// metrics are the server's Prometheus collectors. They are safe for
// concurrent use.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rejected *prometheus.CounterVec
	inFlight prometheus.Gauge
	// bodiesReading counts requests reading their body (before a work
	// slot), bodyBuffer the bytes buffered for bodies.
	bodiesReading prometheus.Gauge
	bodyBuffer    prometheus.Gauge
	wsClients     prometheus.Gauge
	wsDropped     *prometheus.CounterVec
	notifySent    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_rpc_requests_total",
			Help: "JSON-RPC calls by method and outcome (ok or error); unknown methods are counted as method=\"unknown\".",
		}, []string{"method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quarry_rpc_request_duration_seconds",
			Help:    "Time spent executing a JSON-RPC call, by method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"method"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_rpc_http_rejected_total",
			Help: "HTTP requests refused before any method ran, by reason (unauthorized, auth_throttled, busy, too_large, body_timeout, bad_method).",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quarry_rpc_requests_in_flight",
			Help: "HTTP JSON-RPC requests executing now (bounded by the concurrency limit).",
		}),
		bodiesReading: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quarry_rpc_request_bodies_reading",
			Help: "HTTP JSON-RPC requests reading their body now (before they take a work slot).",
		}),
		bodyBuffer: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quarry_rpc_request_body_buffer_bytes",
			Help: "Bytes buffered for HTTP request bodies, being read or executing (bounded by the body buffer budget).",
		}),
		wsClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quarry_rpc_websocket_clients",
			Help: "Open WebSocket connections.",
		}),
		wsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_rpc_websocket_disconnects_total",
			Help: "WebSocket connections closed by the server, by reason (slow, lost, shutdown).",
		}, []string{"reason"}),
		notifySent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_rpc_notifications_total",
			Help: "Notifications received from the node, by topic (blocks, reorgs, mempool).",
		}, []string{"topic"}),
	}
	m.initLabels()
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.rejected, m.inFlight, m.bodiesReading, m.bodyBuffer, m.wsClients, m.wsDropped, m.notifySent)
	}
	return m
}

// initLabels creates every labelled series at zero (each method of the
// table and "unknown", each outcome and reason), so that a fresh server
// exports them and dashboards see the first call.
func (m *metrics) initLabels() {
	_, order := buildMethods()
	methods := make([]string, 0, len(order)+1)
	for _, md := range order {
		methods = append(methods, md.name)
	}
	for _, name := range append(methods, unknownMethod) {
		m.requests.WithLabelValues(name, outcomeOK)
		m.requests.WithLabelValues(name, outcomeError)
		m.duration.WithLabelValues(name)
	}
	for _, r := range []string{rejectUnauthorized, rejectBusy, rejectTooLarge, rejectBadMethod} {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range []string{"slow", "lost", "shutdown"} { // the reasons of hub.go and websocket.go
		m.wsDropped.WithLabelValues(r)
	}
	for _, topic := range topicNames {
		m.notifySent.WithLabelValues(topic)
	}
}

// observe records one call; method must already be bounded.
func (m *metrics) observe(method string, ok bool, d time.Duration) {
	outcome := outcomeOK
	if !ok {
		outcome = outcomeError
	}
	m.requests.WithLabelValues(method, outcome).Inc()
	m.duration.WithLabelValues(method).Observe(d.Seconds())
}
