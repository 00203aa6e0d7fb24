package controller

import (
	"fmt"
	"slices"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/zone"
)

// PolicyPlan is what committing a new policy would change, provider by
// provider, under the current health: what `switchboard plan` prints and
// `switchboard apply` shows before it commits.
type PolicyPlan struct {
	// Providers lists every provider of every zone of either policy, in
	// the new policy's zone and provider order (rollout order), then the
	// providers the new policy drops.
	Providers []ProviderPlan `json:"providers"`
	// Capacity lists the records that would lose more than their panic
	// threshold of the healthy endpoints behind them: a policy change that
	// does so is refused unless forced (the AWS Seoul outage of 2018 was a
	// configuration push that withdrew most of the capacity at once).
	Capacity []CapacityDrop `json:"capacity,omitempty"`
}

// CapacityDrop is one record's loss of healthy capacity in a plan.
type CapacityDrop struct {
	Record string `json:"record"` // "www.example.com. A"
	// Before and After count the distinct healthy endpoints in the
	// record's pools under the current and the new policy.
	Before    int     `json:"before"`
	After     int     `json:"after"`
	Threshold float64 `json:"threshold"`
}

// String says "www.example.com. A: 2 of 6 healthy endpoints left (more than 50% withdrawn)".
func (c CapacityDrop) String() string {
	return fmt.Sprintf("%s: %d of %d healthy endpoints left (more than %.0f%% withdrawn)", c.Record, c.After, c.Before, c.Threshold*100)
}

// Changes counts the RRset changes of the whole plan.
func (p *PolicyPlan) Changes() int {
	n := 0
	for _, pp := range p.Providers {
		n += len(pp.Changes)
	}
	return n
}

// ProviderPlan is one provider's part of a [PolicyPlan] for one zone.
type ProviderPlan struct {
	Provider string `json:"provider"`
	Type     string `json:"type"`
	Zone     string `json:"zone"`
	// Changes are the RRsets the provider would get added, changed or
	// removed, sorted by key.
	Changes []zone.Change `json:"changes"`
	// Note says what else happens: a provider new to the zone, or one the
	// zone no longer lists (switchboard stops writing it and leaves its
	// records as they are).
	Note string `json:"note,omitempty"`
}

// PlanPolicy computes the [PolicyPlan] of replacing the policy cur (nil:
// none yet) by next, given the derived state st (nil: nothing derived
// yet). It is pure.
//
// Managed records are what each provider is written; the embedded server
// also serves the zone's static records, so its plan includes them. Both
// sides are computed under the same current health (an endpoint new to
// the policy counts as up), so the plan shows what the policy change does,
// not what health does.
func PlanPolicy(cur, next *config.Policy, st *State) *PolicyPlan {
	if st == nil {
		st = &State{Health: map[string]Decision{}, Records: map[zone.Key]RecordState{}}
	}
	plan := &PolicyPlan{}
	curZones := map[string]*config.Zone{}
	if cur != nil {
		for i := range cur.Zones {
			curZones[cur.Zones[i].Name] = &cur.Zones[i]
		}
	}
	seen := map[string]bool{} // zone + provider
	for i := range next.Zones {
		nz := &next.Zones[i]
		want := managedRecords(next, st, nz.Name)
		var have []zone.RRset
		cz := curZones[nz.Name]
		if cz != nil {
			have = managedRecords(cur, st, nz.Name)
		}
		wantStatic, haveStatic := staticRecords(nz), staticRecords(cz)
		for _, name := range nz.Providers {
			seen[nz.Name+" "+name] = true
			pp := ProviderPlan{Provider: name, Type: providerType(next, name), Zone: nz.Name}
			was := cz != nil && slices.Contains(cz.Providers, name)
			h, w := have, want
			if pp.Type == config.ProviderEmbedded {
				h, w = append(slices.Clone(have), haveStatic...), append(slices.Clone(want), wantStatic...)
			}
			if !was {
				h = nil
				pp.Note = "new in this zone: every managed record is written"
			}
			pp.Changes = zone.Diff(h, w)
			plan.Providers = append(plan.Providers, pp)
		}
	}
	if cur != nil {
		plan.Capacity = capacityDrops(cur, next, st)
		for i := range cur.Zones {
			cz := &cur.Zones[i]
			for _, name := range cz.Providers {
				if seen[cz.Name+" "+name] {
					continue
				}
				plan.Providers = append(plan.Providers, ProviderPlan{Provider: name, Type: providerType(cur, name), Zone: cz.Name,
					Note: "no longer in this zone: switchboard stops writing it and leaves its records as they are"})
			}
		}
	}
	return plan
}

// managedRecords returns what policy p publishes for its records in zone
// origin under the health in st.
func managedRecords(p *config.Policy, st *State, origin string) []zone.RRset {
	z := PreviousZone(p, st, &zone.Zone{Origin: origin})
	return slices.Clone(z.Records)
}

// staticRecords returns what a zone serves besides its managed records
// (nil zone: nothing), as the derivation builds it. A zone that does not
// compile was refused by validation.
func staticRecords(z *config.Zone) []zone.RRset {
	if z == nil {
		return nil
	}
	fixed, _ := fixedRecords(z)
	return fixed
}

func providerType(p *config.Policy, name string) string {
	if name == config.EmbeddedProvider {
		return config.ProviderEmbedded
	}
	if pr := p.Providers[name]; pr != nil {
		return pr.Type
	}
	return ""
}

// capacityDrops compares, record by record, the healthy endpoints behind
// each record of cur that next keeps. A record next removes is an
// explicit deletion, not a loss of capacity.
func capacityDrops(cur, next *config.Policy, st *State) []CapacityDrop {
	healthy := func(p *config.Policy, r *config.Record) int {
		seen := map[string]bool{}
		for _, pn := range r.Pools {
			pool := p.Pools[pn]
			if pool == nil {
				continue
			}
			for _, en := range pool.Endpoints {
				if d, ok := st.Health[en]; ok && !d.Up {
					continue
				}
				seen[en] = true
			}
		}
		return len(seen)
	}
	var out []CapacityDrop
	for i := range next.Records {
		nr := &next.Records[i]
		j := slices.IndexFunc(cur.Records, func(r config.Record) bool { return r.Name == nr.Name && r.Type == nr.Type })
		if j < 0 {
			continue
		}
		before, after := healthy(cur, &cur.Records[j]), healthy(next, nr)
		if before > 0 && float64(before-after)/float64(before) > nr.Threshold() {
			out = append(out, CapacityDrop{Record: nr.Name + " " + nr.Type, Before: before, After: after, Threshold: nr.Threshold()})
		}
	}
	return out
}
