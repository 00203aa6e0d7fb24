package controller

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// State is what a node serves and reports after one log index: the output
// of [Deriver.Derive]. It is immutable once published; every field may be
// shared with later states, so nothing in it is ever modified.
type State struct {
	Index uint64
	// Policy is the policy version in force, nil before the first.
	Policy *raft.PolicyVersion
	// Health is each endpoint's consensus with its votes.
	Health map[string]Decision
	// Records is each managed record's answer.
	Records map[zone.Key]RecordState
	// Zones are the desired zones, sorted by origin.
	Zones []*zone.Zone
	// Events is a bounded history of notable derivations, oldest first;
	// EventSeq numbers the newest (0: none yet).
	Events   []Event
	EventSeq uint64
	// Drills are the drills not yet ended, sorted by id; shared with the
	// facts, never modified.
	Drills []*raft.Drill
	// DrillProviders maps each provider a simulated drill makes
	// unavailable to the drill's id.
	DrillProviders map[string]string
}

// Zone returns the zone with the given origin.
func (s *State) Zone(origin string) *zone.Zone {
	i, ok := slices.BinarySearchFunc(s.Zones, origin, func(z *zone.Zone, o string) int { return strings.Compare(z.Origin, o) })
	if !ok {
		return nil
	}
	return s.Zones[i]
}

// RecordState is a managed record's derived answer.
type RecordState struct {
	Key    zone.Key `json:"-"`
	Answer Answer   `json:"answer"`
	// Panic is set while the record holds endpoints in service that
	// consensus says are down; Held names them.
	Panic      bool      `json:"panic,omitempty"`
	PanicSince time.Time `json:"panic_since,omitzero"`
	Held       []string  `json:"held,omitempty"`
}

// Event kinds.
const (
	EventEndpointDown = "endpoint-down"
	EventEndpointUp   = "endpoint-up"
	EventPanicHold    = "panic-hold"
	EventPanicEnd     = "panic-end"
	EventGeneration   = "generation"
	EventPolicy       = "policy"
	EventDrill        = "drill"
)

// Event is a notable derivation, kept so that the edges can log it and the
// API can show it; the Raft log remains the full journal.
type Event struct {
	Seq     uint64    `json:"seq"`
	Index   uint64    `json:"index"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Detail  string    `json:"detail,omitempty"`
}

// maxEvents bounds [State.Events].
const maxEvents = 256

// Deriver implements [raft.Deriver]: consensus, then the panic guard, then
// steering, then zone content and generations. It recomputes only what a
// command can have changed: the endpoints it names, the records that use
// them and the zones that hold those records.
//
// It keeps the previous output and a cache of what each policy version
// compiles to (parsed static records, indexes); both are memos of pure
// functions of the facts, so they do not break determinism.
type Deriver struct {
	prev  *State
	cache *compiled
}

var _ raft.Deriver = (*Deriver)(nil)

// NewDeriver returns a deriver with nothing computed yet.
func NewDeriver() *Deriver { return &Deriver{} }

// compiled is a policy version prepared for deriving.
type compiled struct {
	version   uint64
	policy    *config.Policy
	quorum    Quorum
	endpoints map[string]*config.Endpoint
	names     []string // endpoint names, sorted
	records   []compiledRecord
	byEP      map[string][]int // endpoint → indexes into records
	zones     []compiledZone   // sorted by origin
	zoneIdx   map[string]int
}

type compiledRecord struct {
	rec       *config.Record
	key       zone.Key
	keyString string
	zone      string
	endpoints []string // sorted, unique
}

type compiledZone struct {
	cfg     *config.Zone
	soa     zone.SOA
	fixed   []zone.RRset // apex NS and static records
	records []int        // indexes of the managed records in this zone
}

func compile(pv *raft.PolicyVersion) (*compiled, error) {
	p := pv.Parsed()
	q, err := ParseQuorum(p.Consensus.Quorum)
	if err != nil {
		return nil, err
	}
	c := &compiled{version: pv.Version, policy: p, quorum: q, endpoints: map[string]*config.Endpoint{}, byEP: map[string][]int{}, zoneIdx: map[string]int{}}
	for i := range p.Endpoints {
		e := &p.Endpoints[i]
		c.endpoints[e.Name] = e
		c.names = append(c.names, e.Name)
	}
	slices.Sort(c.names)
	zs := make([]*config.Zone, len(p.Zones))
	for i := range p.Zones {
		zs[i] = &p.Zones[i]
	}
	slices.SortFunc(zs, func(a, b *config.Zone) int { return strings.Compare(a.Name, b.Name) })
	for _, z := range zs {
		cz := compiledZone{cfg: z, soa: zone.SOA{
			MName: z.SOA.MName, RName: z.SOA.RName, Refresh: uint32(z.SOA.Refresh), Retry: uint32(z.SOA.Retry),
			Expire: uint32(z.SOA.Expire), Minimum: uint32(z.SOA.Minimum), TTL: uint32(z.SOA.TTL),
		}}
		fixed, err := fixedRecords(z)
		if err != nil {
			return nil, err
		}
		cz.fixed = fixed
		c.zoneIdx[z.Name] = len(c.zones)
		c.zones = append(c.zones, cz)
	}
	for i := range p.Records {
		r := &p.Records[i]
		t, _ := zone.ParseType(r.Type)
		cr := compiledRecord{rec: r, key: zone.Key{Name: r.Name, Type: t}, zone: p.ClosestZone(r.Name)}
		cr.keyString = cr.key.String()
		seen := map[string]bool{}
		for _, pn := range r.Pools {
			for _, e := range p.Pools[pn].Endpoints {
				if !seen[e] {
					seen[e] = true
					cr.endpoints = append(cr.endpoints, e)
				}
			}
		}
		slices.Sort(cr.endpoints)
		idx := len(c.records)
		c.records = append(c.records, cr)
		for _, e := range cr.endpoints {
			c.byEP[e] = append(c.byEP[e], idx)
		}
		if zi, ok := c.zoneIdx[cr.zone]; ok {
			c.zones[zi].records = append(c.zones[zi].records, idx)
		}
	}
	return c, nil
}

// Derive implements [raft.Deriver].
func (d *Deriver) Derive(f *raft.Facts, m *raft.Memory, cmd *raft.Command, index uint64) any {
	var at time.Time
	if cmd != nil {
		at = cmd.At
	}
	prev := d.prev
	if prev == nil {
		prev = &State{}
	}
	st := &State{Index: index, Policy: f.Policy, Events: prev.Events, EventSeq: prev.EventSeq}
	st.Drills = f.ActiveDrills()
	drillDown, drillProvs := drillEffects(st.Drills)
	st.DrillProviders = drillProvs
	if cmd != nil && cmd.Type == raft.CmdDrill && cmd.Drill != nil {
		st.addEvent(index, at, EventDrill, cmd.Drill.ID, drillEventDetail(cmd.Drill))
	}
	if f.Policy == nil {
		st.Health, st.Records = map[string]Decision{}, map[zone.Key]RecordState{}
		d.prev, d.cache = st, nil
		return st
	}
	full := cmd == nil || d.cache == nil || d.cache.version != f.Policy.Version || prev.Policy == nil
	if full && (d.cache == nil || d.cache.version != f.Policy.Version) {
		c, err := compile(f.Policy)
		if err != nil {
			// The policy validated when it was committed; a failure
			// here is a bug. Serve the previous state rather than
			// nothing.
			st.Health, st.Records, st.Zones = prev.Health, prev.Records, prev.Zones
			st.addEvent(index, at, EventPolicy, fmt.Sprintf("version %d", f.Policy.Version), "cannot compile: "+err.Error())
			d.prev = st
			return st
		}
		if d.cache != nil || cmd != nil {
			st.addEvent(index, at, EventPolicy, fmt.Sprintf("version %d", f.Policy.Version), "by "+f.Policy.By)
		}
		d.cache = c
	}
	c := d.cache

	// 1. Consensus, for the endpoints the command can have changed.
	var touched []string
	if !full {
		names, all := cmd.Endpoints()
		if all {
			full = true
		} else {
			for _, n := range names {
				if c.endpoints[n] != nil {
					touched = append(touched, n)
				}
			}
		}
	}
	if full {
		touched = c.names
		st.Health = make(map[string]Decision, len(c.names))
	} else {
		st.Health = maps.Clone(prev.Health)
	}
	changed := map[string]bool{}
	for _, ep := range touched {
		var ov *raft.Override
		if o, ok := f.Overrides[ep]; ok {
			ov = &o
		}
		dec := Decide(ep, f.Observers, f.Votes[ep], ov, c.quorum)
		if id, ok := drillDown[ep]; ok {
			// A simulated drill: the observers' verdicts are replaced
			// by down, like an override marked as the drill's.
			dec.Up, dec.Drill = false, id
		}
		st.Health[ep] = dec
		hm, ok := m.Health[ep]
		if !ok || hm.Up != dec.Up {
			m.Health[ep] = raft.HealthMemory{Up: dec.Up, Since: at, Index: index}
			if ok {
				kind := EventEndpointDown
				if dec.Up {
					kind = EventEndpointUp
				}
				st.addEvent(index, at, kind, ep, describeVotes(dec))
			}
		}
		if old, ok := prev.Health[ep]; !ok || old.Up != dec.Up {
			changed[ep] = true
		}
	}
	if full {
		for ep := range m.Health {
			if c.endpoints[ep] == nil {
				delete(m.Health, ep)
			}
		}
	}

	// 2. Guard and steering, for the records that use changed endpoints.
	recs := map[int]bool{}
	if full {
		for i := range c.records {
			recs[i] = true
		}
		st.Records = make(map[zone.Key]RecordState, len(c.records))
	} else {
		for ep := range changed {
			for _, i := range c.byEP[ep] {
				recs[i] = true
			}
		}
		if cmd.Type == raft.CmdRelease {
			for i, r := range c.records {
				if r.keyString == cmd.Release.Record {
					recs[i] = true
				}
			}
		}
		st.Records = prev.Records
		if len(recs) > 0 {
			st.Records = maps.Clone(prev.Records)
		}
	}
	zonesDirty := map[string]bool{}
	for _, i := range slices.Sorted(maps.Keys(recs)) {
		r := &c.records[i]
		up := make(map[string]bool, len(r.endpoints))
		// An operator's override down is deliberate: like a drill's
		// endpoints, it goes down freely and does not count towards the
		// panic threshold.
		var exempt map[string]bool
		for _, e := range r.endpoints {
			up[e] = st.Health[e].Up
			if st.Health[e].Override == raft.OverrideDown {
				if exempt == nil {
					exempt = map[string]bool{}
				}
				exempt[e] = true
			}
		}
		mem := m.Records[r.keyString]
		rel := f.Releases[r.keyString]
		for _, e := range r.endpoints {
			if _, ok := drillDown[e]; ok {
				if exempt == nil {
					exempt = map[string]bool{}
				}
				exempt[e] = true
			}
		}
		g := Guard(mem, r.endpoints, up, r.rec.Threshold(), r.rec.Window(), exempt, rel > mem.Released, at)
		g.Memory.Released = max(mem.Released, rel)
		m.Records[r.keyString] = g.Memory
		if g.Started {
			st.addEvent(index, at, EventPanicHold, r.keyString, "holding "+strings.Join(g.Held, ", ")+" in service: more than the panic threshold would go down at once")
		}
		if g.Ended {
			st.addEvent(index, at, EventPanicEnd, r.keyString, "")
		}
		pools := make([]PoolInput, 0, len(r.rec.Pools))
		for _, pn := range r.rec.Pools {
			pool := c.policy.Pools[pn]
			pi := PoolInput{Name: pn, MinHealthy: pool.Need()}
			for _, en := range pool.Endpoints {
				e := c.endpoints[en]
				pi.Members = append(pi.Members, Member{Endpoint: en, Address: e.Address, Weight: e.EffectiveWeight(), Up: g.Up[en]})
			}
			pools = append(pools, pi)
		}
		rs := RecordState{Key: r.key, Answer: Steer(r.rec, pools), Panic: g.Memory.Panic, PanicSince: g.Memory.Since, Held: g.Held}
		if old, ok := prev.Records[r.key]; !ok || !sameAnswer(old.Answer, rs.Answer) {
			zonesDirty[r.zone] = true
		}
		st.Records[r.key] = rs
	}
	if full {
		for k := range m.Records {
			found := false
			for _, r := range c.records {
				if r.keyString == k {
					found = true
					break
				}
			}
			if !found {
				delete(m.Records, k)
			}
		}
	}

	// 3. Zones: rebuild the dirty ones, mint a generation when the
	// content changed.
	if full {
		st.Zones = make([]*zone.Zone, 0, len(c.zones))
		for i := range c.zones {
			st.Zones = append(st.Zones, d.buildZone(c, i, st, m, index, at))
		}
	} else if len(zonesDirty) > 0 {
		st.Zones = slices.Clone(prev.Zones)
		for origin := range zonesDirty {
			i := c.zoneIdx[origin]
			st.Zones[i] = d.buildZone(c, i, st, m, index, at)
		}
	} else {
		st.Zones = prev.Zones
	}
	d.prev = st
	return st
}

func (d *Deriver) buildZone(c *compiled, i int, st *State, m *raft.Memory, index uint64, at time.Time) *zone.Zone {
	cz := &c.zones[i]
	z := &zone.Zone{Origin: cz.cfg.Name, SOA: cz.soa}
	z.Records = slices.Clone(cz.fixed)
	for _, ri := range cz.records {
		r := &c.records[ri]
		rs := st.Records[r.key]
		set, err := zone.NewRRset(r.key.Name, r.key.Type, uint32(r.rec.TTL), rs.Answer.Addresses...)
		if err != nil || set.Empty() {
			// Validation makes this impossible; never publish a
			// managed name empty because of it.
			continue
		}
		z.Records = append(z.Records, set)
		z.Managed = append(z.Managed, r.key)
		if rs.Answer.Weights != nil {
			if z.Picks == nil {
				z.Picks = map[zone.Key]zone.Pick{}
			}
			w := map[string]uint32{}
			for addr, wt := range rs.Answer.Weights {
				one, err := zone.NewRRset(r.key.Name, r.key.Type, 0, addr)
				if err == nil {
					w[one.Data[0]] = wt
				}
			}
			z.Picks[r.key] = zone.Pick{Weights: w, MaxAnswers: rs.Answer.MaxAnswers}
		}
	}
	zone.SortRRsets(z.Records)
	zone.SortKeys(z.Managed)
	h := z.ContentHash()
	hash := hex.EncodeToString(h[:])
	zm := m.Zones[z.Origin]
	if zm.Hash != hash {
		zm = raft.ZoneMemory{Generation: zm.Generation + 1, Hash: hash, Since: at, Index: index}
		m.Zones[z.Origin] = zm
		st.addEvent(index, at, EventGeneration, z.Origin, fmt.Sprintf("generation %d", zm.Generation))
	}
	z.Generation = zm.Generation
	return z
}

func (st *State) addEvent(index uint64, at time.Time, kind, subject, detail string) {
	st.EventSeq++
	ev := Event{Seq: st.EventSeq, Index: index, At: at, Kind: kind, Subject: subject, Detail: detail}
	// Copy on write: earlier states share the old slice.
	n := len(st.Events)
	start := 0
	if n >= maxEvents {
		start = n - maxEvents + 1
	}
	events := make([]Event, 0, n-start+1)
	events = append(events, st.Events[start:]...)
	st.Events = append(events, ev)
}

func sameAnswer(a, b Answer) bool {
	return slices.Equal(a.Addresses, b.Addresses) && maps.Equal(a.Weights, b.Weights) && a.MaxAnswers == b.MaxAnswers && a.AllDown == b.AllDown && a.Pool == b.Pool
}

func drillEventDetail(s *raft.DrillStep) string {
	switch s.Step {
	case raft.StepStart:
		return fmt.Sprintf("start %s %s until %s", s.Mode, s.Scope, s.Deadline.UTC().Format(time.RFC3339))
	case raft.StepObserved:
		return fmt.Sprintf("observed %s %s %s", s.Phase, s.What, s.Subject)
	}
	return s.Step
}

func describeVotes(d Decision) string {
	if d.Drill != "" {
		return "drill " + d.Drill
	}
	if d.Override != "" {
		return "operator override " + d.Override
	}
	var parts []string
	for _, v := range d.Votes {
		if !v.Counted {
			continue
		}
		s := v.Observer + "=up"
		if !v.Up {
			s = v.Observer + "=down"
			if v.Reason != "" {
				s += " (" + v.Reason + ")"
			}
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d of %d live observers say down, %d needed: %s", d.Down, d.Live, d.Need, strings.Join(parts, ", "))
}

// fixedRecords returns the records a zone serves whatever the health: the
// apex NS set and the static records, grouped into RRsets.
func fixedRecords(z *config.Zone) ([]zone.RRset, error) {
	ns, err := zone.NewRRset(z.Name, dns.TypeNS, uint32(z.NSTTL), z.Nameservers...)
	if err != nil {
		return nil, fmt.Errorf("controller: zone %s nameservers: %w", z.Name, err)
	}
	var rrs []dns.RR
	for _, line := range z.Static {
		rr, err := config.ParseStatic(line, z.Name, uint32(z.SOA.TTL))
		if err != nil {
			return nil, fmt.Errorf("controller: zone %s static %q: %w", z.Name, line, err)
		}
		rrs = append(rrs, rr)
	}
	return append([]zone.RRset{ns}, zone.FromRRs(rrs)...), nil
}
