package p2p

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the package's Prometheus instruments. Built from a
// Registerer; a nil Registerer leaves them unregistered (they still count,
// which tests may read). Safe for concurrent use.
type metrics struct {
	peers           prometheus.Gauge
	gossipReceived  *prometheus.CounterVec // topic, result
	gossipPublished *prometheus.CounterVec // topic, result
	syncRequests    *prometheus.CounterVec // kind, result (client side)
	served          *prometheus.CounterVec // kind, result (server side)
	blocksFetched   prometheus.Counter
	syncs           *prometheus.CounterVec // result
	penalties       *prometheus.CounterVec // reason
	bans            prometheus.Counter
	dials           *prometheus.CounterVec // result
	refused         *prometheus.CounterVec // reason
	repairs         *prometheus.CounterVec // result
	pushesReceived  *prometheus.CounterVec // result
	pushesSent      *prometheus.CounterVec // result
}

// Label values.
const (
	topicBlocks = "blocks"
	topicTxs    = "txs"

	resultAccept  = "accept"
	resultIgnore  = "ignore"
	resultReject  = "reject"
	resultOK      = "ok"
	resultError   = "error"
	resultLimited = "rate_limited"

	kindStatus    = "status"
	kindHeaders   = "headers"
	kindBlocks    = "blocks"
	kindMalformed = "malformed"
	kindAny       = "any" // a request refused by the rate limit before it was read
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "quarry", "p2p"
	m := &metrics{
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "peers",
			Help: "Number of connected peers.",
		}),
		gossipReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "gossip_messages_received_total",
			Help: "Gossip messages validated, by topic and validation result.",
		}, []string{"topic", "result"}),
		gossipPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "gossip_messages_published_total",
			Help: "Gossip messages published by this node, by topic and result.",
		}, []string{"topic", "result"}),
		syncRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "sync_requests_sent_total",
			Help: "Sync-protocol requests sent to peers, by kind and result.",
		}, []string{"kind", "result"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "sync_requests_served_total",
			Help: "Sync-protocol requests received from peers, by kind and result.",
		}, []string{"kind", "result"}),
		blocksFetched: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "sync_blocks_fetched_total",
			Help: "Blocks downloaded by the sync protocol.",
		}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "sync_sessions_total",
			Help: "Sync outcomes: ok each time the node caught up, error for each peer penalised by sync.",
		}, []string{"result"}),
		penalties: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "penalties_total",
			Help: "Misbehaviour penalties given to peers, by reason.",
		}, []string{"reason"}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bans_total",
			Help: "Peers banned (automatically or by an operator).",
		}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dials_total",
			Help: "Outbound dials of known peers, by result.",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "connections_refused_total",
			Help: "Connections refused by the connection gater, by reason (banned, partitioned, inactive).",
		}, []string{"reason"}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "block_repairs_total",
			Help: "Corrupted stored blocks fetched from peers to be rewritten, by result.",
		}, []string{"result"}),
		pushesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "block_pushes_received_total",
			Help: "Blocks peers pushed to this node alone (block-push protocol), by result (accept, ignore, reject, rate_limited).",
		}, []string{"result"}),
		pushesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "block_pushes_sent_total",
			Help: "Blocks this node pushed to a single peer (block-push protocol), by result.",
		}, []string{"result"}),
	}
	m.initLabels()
	if reg != nil {
		for _, c := range []prometheus.Collector{m.peers, m.gossipReceived, m.gossipPublished, m.syncRequests,
			m.served, m.blocksFetched, m.syncs, m.penalties, m.bans, m.dials, m.refused, m.repairs,
			m.pushesReceived, m.pushesSent} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// initLabels creates every labelled series at zero, so that a fresh node
// exports them and rate() and increase() see the first event.
func (m *metrics) initLabels() {
	okErr := []string{resultOK, resultError}
	for _, topic := range []string{topicBlocks, topicTxs} {
		for _, r := range []string{resultAccept, resultIgnore, resultReject} {
			m.gossipReceived.WithLabelValues(topic, r)
		}
		for _, r := range okErr {
			m.gossipPublished.WithLabelValues(topic, r)
		}
	}
	for _, kind := range []string{kindStatus, kindHeaders, kindBlocks} {
		for _, r := range okErr {
			m.syncRequests.WithLabelValues(kind, r)
			m.served.WithLabelValues(kind, r)
		}
	}
	m.served.WithLabelValues(kindMalformed, resultError)
	m.served.WithLabelValues(kindAny, resultLimited)
	for _, r := range okErr {
		m.syncs.WithLabelValues(r)
		m.dials.WithLabelValues(r)
		m.pushesSent.WithLabelValues(r)
		m.repairs.WithLabelValues(r)
	}
	for _, r := range []string{resultAccept, resultIgnore, resultReject, resultLimited} {
		m.pushesReceived.WithLabelValues(r)
	}
	for _, reason := range []string{reasonInvalidBlock, reasonInvalidTx, reasonMalformed, reasonOversized, reasonProtocol, reasonGenesis, reasonRateLimit, reasonStall} {
		m.penalties.WithLabelValues(reason)
	}
	for _, reason := range []string{refusedInactive, refusedPartitioned, refusedBanned} {
		m.refused.WithLabelValues(reason)
	}
}
