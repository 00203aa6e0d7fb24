package controller

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reconcilerMetrics exports, per provider and zone, the generation wanted,
// applied and verified and the lag, and write errors by kind. The gauges
// are computed at scrape time from what the workers recorded, so the lag
// grows while a provider is stuck.
type reconcilerMetrics struct {
	now func() time.Time

	wantedDesc, appliedDesc, verifiedDesc, lagDesc *prometheus.Desc
	errors                                         *prometheus.CounterVec

	mu sync.Mutex
	st map[[2]string]*providerProgress // provider, zone
}

// providerProgress is one provider's progress on one zone.
type providerProgress struct {
	wanted, applied, verified uint64
	// since holds, oldest first, when each generation newer than
	// verified was first wanted.
	since []wantedAt
}

type wantedAt struct {
	gen uint64
	at  time.Time
}

func newReconcilerMetrics(reg *prometheus.Registry, now func() time.Time) (*reconcilerMetrics, error) {
	labels := []string{"provider", "zone"}
	m := &reconcilerMetrics{
		now:          now,
		wantedDesc:   prometheus.NewDesc("switchboard_provider_generation_wanted", "Newest generation of the zone the reconciler wants at the provider.", labels, nil),
		appliedDesc:  prometheus.NewDesc("switchboard_provider_generation_applied", "Newest generation of the zone written to the provider.", labels, nil),
		verifiedDesc: prometheus.NewDesc("switchboard_provider_generation_verified", "Newest generation of the zone the provider's nameservers were seen answering.", labels, nil),
		lagDesc:      prometheus.NewDesc("switchboard_provider_lag_seconds", "Seconds since the oldest wanted generation not yet verified at the provider was wanted (0: up to date).", labels, nil),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_provider_write_errors_total",
			Help: "Failed provider calls of the reconciler, by kind (conflict, throttled, unavailable, invalid, other).",
		}, []string{"provider", "kind"}),
		st: map[[2]string]*providerProgress{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m, m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("controller: reconciler metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *reconcilerMetrics) get(provider, zone string) *providerProgress {
	k := [2]string{provider, zone}
	p := m.st[k]
	if p == nil {
		p = &providerProgress{}
		m.st[k] = p
	}
	return p
}

func (m *reconcilerMetrics) want(provider, zone string, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.get(provider, zone)
	if gen > p.wanted {
		p.wanted = gen
	}
	if gen > p.verified && (len(p.since) == 0 || p.since[len(p.since)-1].gen < gen) {
		p.since = append(p.since, wantedAt{gen: gen, at: m.now()})
	}
}

// seed takes the committed progress of a provider, so that a new leader
// starts from what the previous one achieved.
func (m *reconcilerMetrics) seed(provider, zone string, applied, verified uint64) {
	m.mu.Lock()
	p := m.get(provider, zone)
	p.applied = max(p.applied, applied)
	m.mu.Unlock()
	m.verified(provider, zone, verified)
}

func (m *reconcilerMetrics) applied(provider, zone string, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.get(provider, zone)
	p.applied = max(p.applied, gen)
}

func (m *reconcilerMetrics) verified(provider, zone string, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.get(provider, zone)
	p.verified = max(p.verified, gen)
	i := 0
	for i < len(p.since) && p.since[i].gen <= p.verified {
		i++
	}
	p.since = p.since[i:]
}

// reset forgets every provider's progress (leadership lost).
func (m *reconcilerMetrics) reset() {
	m.mu.Lock()
	m.st = map[[2]string]*providerProgress{}
	m.mu.Unlock()
}

func (m *reconcilerMetrics) writeError(provider, kind string) {
	m.errors.WithLabelValues(provider, kind).Inc()
}

// lag returns the provider's lag on the zone.
func (m *reconcilerMetrics) lag(provider, zone string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.st[[2]string{provider, zone}]
	if p == nil || len(p.since) == 0 {
		return 0
	}
	return m.now().Sub(p.since[0].at)
}

// Describe implements [prometheus.Collector].
func (m *reconcilerMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.wantedDesc
	ch <- m.appliedDesc
	ch <- m.verifiedDesc
	ch <- m.lagDesc
}

// Collect implements [prometheus.Collector].
func (m *reconcilerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, p := range m.st {
		lag := 0.0
		if len(p.since) > 0 {
			lag = now.Sub(p.since[0].at).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(m.wantedDesc, prometheus.GaugeValue, float64(p.wanted), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.appliedDesc, prometheus.GaugeValue, float64(p.applied), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.verifiedDesc, prometheus.GaugeValue, float64(p.verified), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, lag, k[0], k[1])
	}
}
