package controller

import (
	"slices"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/zone"
)

// PreviousZone returns what the previous policy prev publishes in cur's
// zone under the current health in st: the providers a policy rollout has
// not reached yet keep the previous version, but health changes reach
// them at once (invariant 5). It is pure, and carries cur's generation,
// so that the fence keeps growing; the rollout later writes the new
// version at an equal or newer generation.
//
// Endpoints take their consensus from st; an endpoint the current policy
// no longer has counts as up (as a new one does), and an endpoint a
// current record holds in service under a panic hold stays up, so the
// previous version never withdraws more than the current one does.
// Records whose answer would be empty are left out (never empty).
func PreviousZone(prev *config.Policy, st *State, cur *zone.Zone) *zone.Zone {
	z := &zone.Zone{Origin: cur.Origin, Generation: cur.Generation, SOA: cur.SOA}
	for _, s := range cur.Records {
		if !cur.IsManaged(s.Key()) {
			z.Records = append(z.Records, s)
		}
	}
	endpoints := map[string]*config.Endpoint{}
	for i := range prev.Endpoints {
		endpoints[prev.Endpoints[i].Name] = &prev.Endpoints[i]
	}
	for i := range prev.Records {
		r := &prev.Records[i]
		if prev.ClosestZone(r.Name) != cur.Origin {
			continue
		}
		typ, ok := zone.ParseType(r.Type)
		if !ok {
			continue
		}
		k := zone.Key{Name: r.Name, Type: typ}
		held := st.Records[k].Held
		var pools []PoolInput
		for _, pn := range r.Pools {
			pool := prev.Pools[pn]
			if pool == nil {
				continue
			}
			pi := PoolInput{Name: pn, MinHealthy: pool.Need()}
			for _, en := range pool.Endpoints {
				e := endpoints[en]
				if e == nil {
					continue
				}
				up := true
				if d, ok := st.Health[en]; ok {
					up = d.Up
				}
				if slices.Contains(held, en) {
					up = true
				}
				pi.Members = append(pi.Members, Member{Endpoint: en, Address: e.Address, Weight: e.EffectiveWeight(), Up: up})
			}
			pools = append(pools, pi)
		}
		a := Steer(r, pools)
		set, err := zone.NewRRset(r.Name, typ, uint32(r.TTL), a.Addresses...)
		if err != nil || set.Empty() {
			continue
		}
		z.Records = append(z.Records, set)
		z.Managed = append(z.Managed, set.Key())
	}
	zone.SortRRsets(z.Records)
	zone.SortKeys(z.Managed)
	return z
}
