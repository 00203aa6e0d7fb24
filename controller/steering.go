package controller

import (
	"slices"
	"time"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/raft"
)

// Member is one endpoint of a pool as steering sees it.
type Member struct {
	Endpoint string
	Address  string
	Weight   uint32
	Up       bool
}

// PoolInput is a pool with the health of its members.
type PoolInput struct {
	Name       string
	MinHealthy int
	Members    []Member
}

func (p PoolInput) healthy() []Member {
	var out []Member
	for _, m := range p.Members {
		if m.Up {
			out = append(out, m)
		}
	}
	return out
}

// Answer is what a record serves.
type Answer struct {
	// Addresses are the answer's rdata (IPs, or CNAME targets), unique,
	// in pool and endpoint order.
	Addresses []string `json:"addresses"`
	// Endpoints names the endpoints behind Addresses.
	Endpoints []string `json:"endpoints"`
	// Weights holds the weight per address for weighted steering; nil
	// otherwise.
	Weights map[string]uint32 `json:"weights,omitempty"`
	// MaxAnswers bounds one weighted response (0: all).
	MaxAnswers int `json:"max_answers,omitempty"`
	// Pool is the pool failover chose ("" for other steerings or when
	// nothing was usable).
	Pool string `json:"pool,omitempty"`
	// AllDown is set when no pool was usable and when_all_down decided.
	AllDown bool `json:"all_down,omitempty"`
}

// Steer computes a record's answer from its pools, in the record's order.
// It is pure and never returns an empty answer while any pool has a member.
//
// Decision table:
//
//	failover: the first pool whose healthy members ≥ min_healthy; answer
//	          its healthy members.
//	all:      every healthy member of every pool.
//	weighted: every healthy member of every pool, with its weight; the
//	          DNS server picks up to max_answers per response by weight.
//	nothing usable (no pool qualifies / nothing healthy):
//	          when_all_down serve-all       → every member of every pool
//	          when_all_down serve-last-pool → every member of the last pool
//	CNAME:    one target only: the first address of the answer above
//	          (weighted keeps all targets and picks one per response).
func Steer(r *config.Record, pools []PoolInput) Answer {
	var a Answer
	switch r.Steering {
	case config.SteerFailover:
		for _, p := range pools {
			h := p.healthy()
			if len(h) > 0 && len(h) >= p.MinHealthy {
				a.add(h, false)
				a.Pool = p.Name
				break
			}
		}
	case config.SteerAll:
		for _, p := range pools {
			a.add(p.healthy(), false)
		}
	case config.SteerWeighted:
		for _, p := range pools {
			a.add(p.healthy(), true)
		}
		a.MaxAnswers = r.MaxAnswers
	}
	if len(a.Addresses) == 0 {
		a = Answer{AllDown: true, MaxAnswers: a.MaxAnswers}
		weighted := r.Steering == config.SteerWeighted
		switch {
		case r.WhenAllDown == config.AllDownServeLastPool && len(pools) > 0:
			a.add(pools[len(pools)-1].Members, weighted)
		default:
			for _, p := range pools {
				a.add(p.Members, weighted)
			}
		}
	}
	if r.Type == "CNAME" {
		if r.Steering == config.SteerWeighted {
			a.MaxAnswers = 1
		} else if len(a.Addresses) > 1 {
			a.Addresses, a.Endpoints = a.Addresses[:1], a.Endpoints[:1]
		}
	}
	return a
}

func (a *Answer) add(ms []Member, weighted bool) {
	for _, m := range ms {
		if slices.Contains(a.Addresses, m.Address) {
			if weighted {
				a.Weights[m.Address] += m.Weight
			}
			continue
		}
		a.Addresses = append(a.Addresses, m.Address)
		a.Endpoints = append(a.Endpoints, m.Endpoint)
		if weighted {
			if a.Weights == nil {
				a.Weights = map[string]uint32{}
			}
			a.Weights[m.Address] = m.Weight
		}
	}
}

// GuardResult is the outcome of [Guard].
type GuardResult struct {
	// Up is the health steering should use.
	Up map[string]bool
	// Memory is the record's new guard state.
	Memory raft.RecordMemory
	// Held lists the endpoints kept in service by a panic hold.
	Held []string
	// Started and Ended report a hold that began or ended at this step.
	Started, Ended bool
}

// Guard applies a record's panic threshold (invariant 6 of DESIGN.md):
// when more than threshold of the record's endpoints would go down in one
// step, relative to the endpoints it last accepted as healthy (the
// baseline), the record holds: those endpoints stay in service and the
// baseline stays, until enough of them recover or an operator releases the
// hold. Endpoints in exempt (a drill's own) go down freely and do not count.
// Endpoints new to the record start in the baseline, as they start up.
// It is pure.
//
// A "step" spans window: the baseline is reset to the healthy endpoints at
// most once per window (and at an operator release), and in between it
// only grows (recoveries, new endpoints). So failures of one event that
// are detected a few milliseconds apart and committed as separate entries
// (a region losing power, probed by several observers) still count
// together, and capacity is withdrawn at a bounded rate: at most threshold
// of it per window. A window of 0 judges every entry on its own.
//
// endpoints must be the record's endpoints, sorted and unique; up their
// consensus health; released reports an operator release newer than the
// memory has seen.
func Guard(mem raft.RecordMemory, endpoints []string, up map[string]bool, threshold float64, window time.Duration, exempt map[string]bool, released bool, at time.Time) GuardResult {
	known := map[string]bool{}
	for _, e := range mem.Endpoints {
		known[e] = true
	}
	base := map[string]bool{}
	for _, e := range mem.Baseline {
		base[e] = true
	}
	var drop []string
	for _, e := range endpoints {
		inBase := base[e] || !known[e]
		if inBase && !up[e] && !exempt[e] {
			drop = append(drop, e)
		}
	}
	res := GuardResult{Up: up}
	next := raft.RecordMemory{Endpoints: endpoints}
	hold := len(endpoints) > 0 && float64(len(drop)) > threshold*float64(len(endpoints))
	if hold && !released {
		eff := make(map[string]bool, len(up))
		for k, v := range up {
			eff[k] = v
		}
		for _, e := range drop {
			eff[e] = true
		}
		res.Up, res.Held = eff, drop
		next.Panic, next.Since, next.BaselineAt = true, mem.Since, mem.BaselineAt
		if !mem.Panic {
			next.Since, res.Started = at, true
		}
		// The baseline stays what it was: the hold compares every
		// later step against the last accepted state.
		for _, e := range endpoints {
			if base[e] || !known[e] {
				next.Baseline = append(next.Baseline, e)
			}
		}
		res.Memory = next
		return res
	}
	res.Ended = mem.Panic
	reset := released || mem.BaselineAt.IsZero() || at.Sub(mem.BaselineAt) >= window
	next.BaselineAt = mem.BaselineAt
	if reset {
		next.BaselineAt = at
	}
	for _, e := range endpoints {
		// Within the window an endpoint stays in the baseline once in
		// it, so that later failures of the same event count with it.
		if up[e] || (!reset && (base[e] || !known[e])) {
			next.Baseline = append(next.Baseline, e)
		}
	}
	res.Memory = next
	return res
}
