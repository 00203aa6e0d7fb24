package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// Scope kinds of a drill.
const (
	ScopeEndpoint = "endpoint"
	ScopePool     = "pool"
	ScopeRegion   = "region"
	ScopeCloud    = "cloud"
	ScopeProvider = "provider"
)

// Scope is what a drill fails: one endpoint, a pool, a region of a cloud,
// a whole cloud, or a DNS provider.
type Scope struct {
	Kind string
	// Name is the endpoint, pool, cloud or provider; for a region, the
	// cloud.
	Name string
	// Region is set for a region scope.
	Region string
}

// String prints the scope as [ParseScope] reads it.
func (s Scope) String() string {
	if s.Kind == ScopeRegion {
		return s.Kind + ":" + s.Name + "/" + s.Region
	}
	return s.Kind + ":" + s.Name
}

// ParseScope reads "endpoint:NAME", "pool:NAME", "region:CLOUD/REGION",
// "cloud:CLOUD" or "provider:NAME". Errors wrap [raft.ErrInvalid].
func ParseScope(s string) (Scope, error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return Scope{}, fmt.Errorf("controller: drill scope %q: want KIND:NAME: %w", s, raft.ErrInvalid)
	}
	switch kind {
	case ScopeEndpoint, ScopePool, ScopeCloud, ScopeProvider:
		if strings.Contains(name, "/") && kind == ScopeCloud {
			return Scope{}, fmt.Errorf("controller: drill scope %q: a cloud has no region (use region:CLOUD/REGION): %w", s, raft.ErrInvalid)
		}
		return Scope{Kind: kind, Name: name}, nil
	case ScopeRegion:
		cloud, region, ok := strings.Cut(name, "/")
		if !ok || cloud == "" || region == "" {
			return Scope{}, fmt.Errorf("controller: drill scope %q: want region:CLOUD/REGION: %w", s, raft.ErrInvalid)
		}
		return Scope{Kind: kind, Name: cloud, Region: region}, nil
	}
	return Scope{}, fmt.Errorf("controller: drill scope %q: kind must be endpoint, pool, region, cloud or provider: %w", s, raft.ErrInvalid)
}

// Resolve returns the endpoints (sorted) or the provider the scope
// designates in p. A scope that matches nothing is an error wrapping
// [raft.ErrInvalid].
func (s Scope) Resolve(p *config.Policy) (endpoints []string, provider string, err error) {
	switch s.Kind {
	case ScopeProvider:
		pc, ok := p.Providers[s.Name]
		embedded := s.Name == config.EmbeddedProvider || ok && pc.Type == config.ProviderEmbedded
		for _, z := range p.Zones {
			ok = ok || slices.Contains(z.Providers, s.Name)
		}
		switch {
		case !ok:
			return nil, "", fmt.Errorf("controller: drill scope %s: no such provider: %w", s, raft.ErrInvalid)
		case embedded:
			// The embedded servers follow the log; the reconciler
			// never writes to them, so there is nothing to fail.
			// Drill the nodes instead (a live drill, stopping them).
			return nil, "", fmt.Errorf("controller: drill scope %s: the embedded servers are not written by the reconciler and cannot be drilled as a provider: %w", s, raft.ErrInvalid)
		}
		return nil, s.Name, nil
	case ScopePool:
		pool := p.Pools[s.Name]
		if pool == nil {
			return nil, "", fmt.Errorf("controller: drill scope %s: no such pool: %w", s, raft.ErrInvalid)
		}
		endpoints = slices.Clone(pool.Endpoints)
	default:
		for _, e := range p.Endpoints {
			match := false
			switch s.Kind {
			case ScopeEndpoint:
				match = e.Name == s.Name
			case ScopeCloud:
				match = e.Cloud == s.Name
			case ScopeRegion:
				match = e.Cloud == s.Name && e.Region == s.Region
			}
			if match {
				endpoints = append(endpoints, e.Name)
			}
		}
	}
	slices.Sort(endpoints)
	endpoints = slices.Compact(endpoints)
	if len(endpoints) == 0 {
		return nil, "", fmt.Errorf("controller: drill scope %s: matches no endpoint: %w", s, raft.ErrInvalid)
	}
	return endpoints, "", nil
}

// DrillTarget is what a drill about to start fails.
type DrillTarget struct {
	ID        string
	Scope     string
	Endpoints []string
	Provider  string
	Force     bool
}

// CheckGuardRails applies a drill's guard rails. It is pure.
//
//	a drill (not ended) already holds one of the endpoints or the provider → refused (always)
//	a record with a healthy pool now would have none with the endpoints down → refused unless forced
//
// up is the current consensus (endpoints missing count as up). Errors wrap
// [raft.ErrConflict] and say why.
func CheckGuardRails(p *config.Policy, up map[string]bool, active []*raft.Drill, t DrillTarget) error {
	mine := map[string]bool{}
	for _, e := range t.Endpoints {
		mine[e] = true
	}
	for _, d := range active {
		if d.ID == t.ID {
			continue
		}
		if t.Provider != "" && d.Provider == t.Provider {
			return fmt.Errorf("controller: drill %s (%s) is already running on provider %s: one drill per scope: %w", d.ID, d.Scope, t.Provider, raft.ErrConflict)
		}
		var shared []string
		for _, e := range d.Endpoints {
			if mine[e] {
				shared = append(shared, e)
			}
		}
		if len(shared) > 0 {
			return fmt.Errorf("controller: drill %s (%s) already covers %s: overlapping scopes cannot drill at once: %w", d.ID, d.Scope, strings.Join(shared, ", "), raft.ErrConflict)
		}
	}
	if t.Force || len(t.Endpoints) == 0 {
		return nil
	}
	isUp := func(e string) bool {
		v, ok := up[e]
		return !ok || v
	}
	var broken []string
	for _, r := range p.Records {
		touched, before, after := false, false, false
		for _, pn := range r.Pools {
			pool := p.Pools[pn]
			if pool == nil {
				continue
			}
			nb, na := 0, 0
			for _, e := range pool.Endpoints {
				if mine[e] {
					touched = true
				}
				if isUp(e) {
					nb++
					if !mine[e] {
						na++
					}
				}
			}
			before = before || nb >= pool.Need()
			after = after || na >= pool.Need()
		}
		if touched && before && !after {
			broken = append(broken, r.Name+" "+r.Type)
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("controller: drill %s would leave %s with no healthy pool (use --force to drill anyway): %w", t.Scope, strings.Join(broken, ", "), raft.ErrConflict)
	}
	return nil
}

var _ raft.DrillGuard = (*Deriver)(nil)

// CheckDrill implements [raft.DrillGuard]: it resolves the scope against
// the committed policy and applies [CheckGuardRails] with the consensus as
// derived at the previous index (the same on every node).
func (d *Deriver) CheckDrill(f *raft.Facts, s *raft.DrillStep) ([]string, string, error) {
	if f.Policy == nil {
		return nil, "", fmt.Errorf("controller: drill before any policy: %w", raft.ErrInvalid)
	}
	sc, err := ParseScope(s.Scope)
	if err != nil {
		return nil, "", err
	}
	eps, prov, err := sc.Resolve(f.Policy.Parsed())
	if err != nil {
		return nil, "", err
	}
	up := map[string]bool{}
	if d.prev != nil {
		for ep, dec := range d.prev.Health {
			up[ep] = dec.Up
		}
	}
	t := DrillTarget{ID: s.ID, Scope: sc.String(), Endpoints: eps, Provider: prov, Force: s.Force}
	if err := CheckGuardRails(f.Policy.Parsed(), up, f.ActiveDrills(), t); err != nil {
		return nil, "", err
	}
	return eps, prov, nil
}

// drillEffects returns the endpoints held down by simulated drills in
// force (endpoint → drill id) and the providers they make unavailable.
func drillEffects(drills []*raft.Drill) (down map[string]string, provs map[string]string) {
	for _, d := range drills {
		if d.Mode != raft.DrillSimulated || !d.Injecting() {
			continue
		}
		if d.Provider != "" {
			if provs == nil {
				provs = map[string]string{}
			}
			provs[d.Provider] = d.ID
		}
		for _, e := range d.Endpoints {
			if down == nil {
				down = map[string]string{}
			}
			down[e] = d.ID
		}
	}
	return down, provs
}

// Phases and stages of the observed drill steps.
const (
	PhaseInject  = "inject"
	PhaseRestore = "restore"

	ObserveConsensus  = "consensus"  // every scoped endpoint's consensus changed
	ObserveGeneration = "generation" // a zone's generation was committed
	ObserveApplied    = "applied"    // a provider wrote the generation
	ObserveVerified   = "verified"   // a provider's nameservers answered it
	ObserveFailing    = "failing"    // a drilled provider's writes fail
)

// DrillEndGrace is how long after the restore the leader waits for the
// restore to reach every provider before it closes a drill anyway.
const DrillEndGrace = 30 * time.Second

// DrillInput is what the leader knows when it advances a drill.
type DrillInput struct {
	Drill  *raft.Drill
	Policy *config.Policy
	// Health is the endpoints' consensus memory (when it last changed).
	Health map[string]raft.HealthMemory
	// Zones is the zones' generation memory.
	Zones map[string]raft.ZoneMemory
	// Sync is the committed sync results.
	Sync map[string]raft.SyncStatus
	Now  time.Time
}

// DrillSteps returns the steps the leader should commit for a drill now.
// It is pure: every fact it reports carries the time of the fact that
// shows it (the consensus change, the generation, the sync result), never
// the leader's clock, except the restore at the deadline and the end.
//
// Decision table:
//
//	simulated, not injected, not stopped           → inject
//	not stopped, now ≥ deadline                    → restored
//	phase (inject until stopped, then restore):
//	  every scoped endpoint down (up for restore)  → observed consensus
//	  after that, a zone of theirs minted a newer generation → observed generation
//	  a provider's sync shows it applied/verified it → observed applied/verified
//	  a drilled provider's sync shows an error     → observed failing
//	stopped, restore seen everywhere or grace over → ended
func DrillSteps(in DrillInput) []raft.DrillStep {
	d := in.Drill
	var out []raft.DrillStep
	step := func(s raft.DrillStep) { s.ID = d.ID; out = append(out, s) }
	if d.Ended() {
		return nil
	}
	stopped := d.Stopped()
	if d.Mode == raft.DrillSimulated && !d.Has(raft.StepInject) && !stopped {
		step(raft.DrillStep{Step: raft.StepInject})
		return out
	}
	if !stopped && !in.Now.Before(d.Deadline) {
		step(raft.DrillStep{Step: raft.StepRestored, Detail: "deadline reached"})
		return out
	}
	phase, from := PhaseInject, d.Steps[0]
	if r, ok := d.Step(raft.StepInject); ok {
		from = r
	}
	if stopped {
		phase = PhaseRestore
		if r, ok := d.Step(raft.StepRestored); ok {
			from = r
		} else if r, ok := d.Step(raft.StepAborted); ok {
			from = r
		}
	}
	complete := observePhase(in, phase, from, step)
	if stopped && (complete || in.Now.Sub(from.At) > DrillEndGrace) {
		detail := ""
		if !complete {
			detail = "restore not seen everywhere within " + DrillEndGrace.String()
		}
		step(raft.DrillStep{Step: raft.StepEnded, Detail: detail})
	}
	return out
}

// observePhase emits the observations of one phase not yet recorded and
// reports whether the phase is complete (every stage seen).
func observePhase(in DrillInput, phase string, from raft.DrillRecord, step func(raft.DrillStep)) bool {
	d, p := in.Drill, in.Policy
	if p == nil {
		return false
	}
	obs := func(what, subject string, when time.Time, index uint64, detail string) {
		if !d.Observed(phase, what, subject) {
			step(raft.DrillStep{Step: raft.StepObserved, Phase: phase, What: what, Subject: subject, When: when, Index: index, Detail: detail})
		}
	}
	if d.Provider != "" {
		if d.Mode != raft.DrillSimulated {
			return true
		}
		complete := true
		for _, z := range p.Zones {
			if !slices.Contains(z.Providers, d.Provider) {
				continue
			}
			subject := d.Provider + " " + z.Name
			s, ok := in.Sync[raft.SyncKey(d.Provider, z.Name)]
			if phase == PhaseInject {
				if ok && s.Error != "" && errorAfter(s, d) {
					obs(ObserveFailing, subject, s.At, 0, s.Error)
				}
				continue
			}
			// Restore: the provider catches up with the zone's
			// generation (written after the restore), or had nothing
			// to catch up on.
			gen := in.Zones[z.Name].Generation
			switch {
			case !ok || s.Error != "" || s.Applied < gen || s.Verified < gen:
				complete = false
			case s.At.Before(from.At):
				obs(ObserveVerified, subject, from.At, gen, fmt.Sprintf("generation %d: nothing to write after the drill", gen))
			default:
				at := s.At
				if !s.AppliedAt.IsZero() {
					at = s.AppliedAt
				}
				obs(ObserveApplied, subject, at, gen, fmt.Sprintf("generation %d", s.Applied))
				obs(ObserveVerified, subject, s.At, gen, fmt.Sprintf("generation %d", s.Verified))
			}
		}
		return complete
	}
	wantUp := phase == PhaseRestore
	var when time.Time
	var index uint64
	for _, e := range d.Endpoints {
		h, ok := in.Health[e]
		if !ok {
			continue // gone from the policy
		}
		if h.Up != wantUp {
			return false
		}
		if h.Index > index {
			index = h.Index
		}
		if h.Since.After(when) {
			when = h.Since
		}
	}
	if index < from.Index {
		// Already so before the phase began (a live drill on an
		// endpoint that was down): it counts from the phase's start.
		index, when = from.Index, from.At
	}
	obs(ObserveConsensus, strings.Join(d.Endpoints, ","), when, index, map[bool]string{true: "up", false: "down"}[wantUp])
	complete := true
	for _, zn := range drillZones(p, d.Endpoints) {
		zm, ok := in.Zones[zn]
		if !ok || zm.Index < index {
			// The answers may not change (a failover record whose
			// active pool is elsewhere): no generation to wait for,
			// unless one follows later.
			continue
		}
		gen := zm.Generation
		obs(ObserveGeneration, zn, zm.Since, zm.Index, fmt.Sprintf("generation %d", gen))
		for _, name := range zoneProviders(p, zn) {
			s := in.Sync[raft.SyncKey(name, zn)]
			if s.Applied >= gen {
				at := s.At
				if !s.AppliedAt.IsZero() {
					at = s.AppliedAt
				}
				obs(ObserveApplied, name+" "+zn, at, gen, fmt.Sprintf("generation %d", s.Applied))
			} else {
				complete = false
			}
			if s.Verified >= gen {
				obs(ObserveVerified, name+" "+zn, s.At, gen, fmt.Sprintf("generation %d", s.Verified))
			} else {
				complete = false
			}
		}
	}
	return complete
}

func errorAfter(s raft.SyncStatus, d *raft.Drill) bool {
	r, ok := d.Step(raft.StepInject)
	return ok && !s.At.Before(r.At)
}

// drillZones returns the zones (sorted) holding records that use any of
// the endpoints.
func drillZones(p *config.Policy, endpoints []string) []string {
	mine := map[string]bool{}
	for _, e := range endpoints {
		mine[e] = true
	}
	zones := map[string]bool{}
	for _, r := range p.Records {
		for _, pn := range r.Pools {
			if pool := p.Pools[pn]; pool != nil && slices.ContainsFunc(pool.Endpoints, func(e string) bool { return mine[e] }) {
				zones[p.ClosestZone(r.Name)] = true
			}
		}
	}
	delete(zones, "")
	return slices.Sorted(maps.Keys(zones))
}

// zoneProviders returns the zone's providers the reconciler writes (the
// embedded server follows the log by itself).
func zoneProviders(p *config.Policy, origin string) []string {
	zc := zoneConfig(p, origin)
	if zc == nil {
		return nil
	}
	var out []string
	for _, name := range zc.Providers {
		if pc := p.Providers[name]; pc != nil && pc.Type != config.ProviderEmbedded {
			out = append(out, name)
		}
	}
	return out
}

// errDrilled marks a provider call refused because a drill treats the
// provider as unavailable.
var errDrilled = errors.New("controller: provider drill in force")

// drillEvery is how often the leader checks its drills' deadlines when no
// entry is applied.
const drillEvery = 50 * time.Millisecond

// drills runs on every node and acts while it leads: it commits the steps
// [DrillSteps] decides (inject, observations, the restore at the
// deadline, the end). Because the steps are facts in the log, a drill
// ends on time whichever node started it and whichever node leads.
func (n *Node) drills(ctx context.Context) error {
	rn := n.opts.Raft
	sub := rn.FSM().Subscribe()
	defer rn.FSM().Unsubscribe(sub)
	t := time.NewTicker(drillEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-sub:
		}
		if !rn.IsLeader() {
			continue
		}
		now := n.opts.Now()
		var steps []raft.DrillStep
		rn.FSM().Read(func(f *raft.Facts, m *raft.Memory, _ uint64) {
			var p *config.Policy
			if f.Policy != nil {
				p = f.Policy.Parsed()
			}
			for _, d := range f.ActiveDrills() {
				steps = append(steps, DrillSteps(DrillInput{Drill: d, Policy: p, Health: m.Health, Zones: m.Zones, Sync: f.Sync, Now: now})...)
			}
		})
		for i := range steps {
			s := steps[i]
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := rn.Propose(pctx, &raft.Command{Type: raft.CmdDrill, At: now, By: n.opts.ID, Drill: &s})
			cancel()
			if err != nil {
				if !errors.Is(err, raft.ErrConflict) {
					n.log.Warn("cannot commit a drill step", "drill", s.ID, "step", s.Step, "error", err)
				}
				break
			}
			n.log.Info("drill step", "drill", s.ID, "step", s.Step, "phase", s.Phase, "stage", s.What, "subject", s.Subject)
		}
	}
}

// DrillChange is one managed record whose answer a drill would change.
type DrillChange struct {
	Zone   string   `json:"zone"`
	Record string   `json:"record"` // "www.example.com. A"
	Before []string `json:"before"`
	After  []string `json:"after"`
	// Providers are the zone's providers that would be written,
	// embedded included.
	Providers []string `json:"providers"`
}

// PreviewDrill derives what the cluster would serve if a simulated drill
// on endpoints were injected now, without touching f or m, and returns
// the records whose answers would change. It is pure.
func PreviewDrill(f *raft.Facts, m *raft.Memory, cur *State, endpoints []string) []DrillChange {
	if f.Policy == nil || cur == nil || len(endpoints) == 0 {
		return nil
	}
	fc := f.Clone()
	fc.Drills["preview"] = &raft.Drill{ID: "preview", Mode: raft.DrillSimulated, Endpoints: endpoints,
		Steps: []raft.DrillRecord{{Step: raft.StepStart}, {Step: raft.StepInject}}}
	mc := cloneMemory(m)
	next, _ := NewDeriver().Derive(fc, mc, nil, cur.Index).(*State)
	if next == nil {
		return nil
	}
	p := f.Policy.Parsed()
	var out []DrillChange
	for _, nz := range next.Zones {
		oz := cur.Zone(nz.Origin)
		zc := zoneConfig(p, nz.Origin)
		for _, k := range nz.Managed {
			after, _ := nz.Lookup(k)
			var before zone.RRset
			if oz != nil {
				before, _ = oz.Lookup(k)
			}
			if before.Equal(after) {
				continue
			}
			dc := DrillChange{Zone: nz.Origin, Record: k.String(), Before: before.Data, After: after.Data}
			if zc != nil {
				dc.Providers = slices.Clone(zc.Providers)
			}
			out = append(out, dc)
		}
	}
	return out
}

func cloneMemory(m *raft.Memory) *raft.Memory {
	c := &raft.Memory{Zones: maps.Clone(m.Zones), Health: maps.Clone(m.Health), Records: make(map[string]raft.RecordMemory, len(m.Records))}
	for k, r := range m.Records {
		r.Endpoints, r.Baseline = slices.Clone(r.Endpoints), slices.Clone(r.Baseline)
		c.Records[k] = r
	}
	return c
}
