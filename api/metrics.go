package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/zone"
)

// collector computes the node's gauges at scrape time from the state the
// node serves, so they can never disagree with it.
type collector struct {
	node   *controller.Node
	serial func(string) (uint32, bool)

	isLeader, applied, stateIndex, policy        *prometheus.Desc
	generation, serving, endpointUp, localUp     *prometheus.Desc
	panicHold, answers, observerAlive, lastEvent *prometheus.Desc
}

func newCollector(n *controller.Node, serial func(string) (uint32, bool)) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchboard_"+name, help, labels, nil)
	}
	return &collector{
		node: n, serial: serial,
		isLeader:      d("raft_is_leader", "1 when this node is the Raft leader."),
		applied:       d("raft_applied_index", "Last log index applied to the state machine."),
		stateIndex:    d("state_index", "Log index of the state this node serves."),
		policy:        d("policy_version", "Committed policy version."),
		generation:    d("zone_generation", "Desired generation of each zone.", "zone"),
		serving:       d("dns_serial", "SOA serial the embedded DNS server answers.", "zone"),
		endpointUp:    d("endpoint_up", "Cluster consensus per endpoint (1 up, 0 down).", "endpoint", "cloud", "region"),
		localUp:       d("observer_verdict_up", "This observer's own verdict per endpoint.", "endpoint"),
		panicHold:     d("record_panic_hold", "1 while a record holds endpoints in service past the panic threshold.", "record"),
		answers:       d("record_answers", "Records in the record's current answer.", "record"),
		observerAlive: d("observer_alive", "1 while an observer's verdicts count.", "observer"),
		lastEvent:     d("events_total", "Derivation events since start of the log."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.isLeader, c.applied, c.stateIndex, c.policy, c.generation, c.serving,
		c.endpointUp, c.localUp, c.panicHold, c.answers, c.observerAlive, c.lastEvent} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	rn := c.node.Raft()
	g(c.isLeader, b2f(rn.IsLeader()))
	g(c.applied, float64(rn.AppliedIndex()))
	for _, s := range c.node.Monitor().Status() {
		g(c.localUp, b2f(s.Up), s.Endpoint)
	}
	st := c.node.State()
	if st == nil {
		return
	}
	g(c.stateIndex, float64(st.Index))
	g(c.lastEvent, float64(st.EventSeq))
	if st.Policy == nil {
		return
	}
	g(c.policy, float64(st.Policy.Version))
	for _, z := range st.Zones {
		g(c.generation, float64(z.Generation), z.Origin)
		if c.serial != nil {
			if s, ok := c.serial(z.Origin); ok {
				g(c.serving, float64(s), z.Origin)
			}
		}
	}
	for _, e := range st.Policy.Parsed().Endpoints {
		g(c.endpointUp, b2f(st.Health[e.Name].Up), e.Name, e.Cloud, e.Region)
	}
	keys := mapsKeys(st.Records)
	zone.SortKeys(keys)
	for _, k := range keys {
		r := st.Records[k]
		g(c.panicHold, b2f(r.Panic), k.String())
		g(c.answers, float64(len(r.Answer.Addresses)), k.String())
	}
	for _, v := range observers(c.node) {
		g(c.observerAlive, b2f(v.alive), v.id)
	}
}
