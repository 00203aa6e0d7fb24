package controller

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// ErrWouldEmpty reports a change set that would leave a steered name with
// no records (invariant 1); the reconciler refuses to send it.
var ErrWouldEmpty = errors.New("controller: change set would leave a managed name empty")

// ErrUnsplittable reports a plan that cannot be cut under a provider's
// MaxChanges without leaving a name empty or holding a CNAME beside other
// data between two writes.
var ErrUnsplittable = errors.New("controller: plan cannot be split under the provider's change limit")

// Plan returns the change set that turns current into desired's managed
// RRsets. It does no I/O.
//
// Decision table, per key (the fencing record is never a key):
//
//	managed by desired, absent in current        → create (Old nil)
//	managed by desired, different in current     → update (Old from current)
//	managed by desired, equal in current (+TTL)  → nothing
//	in current, not managed by desired           → delete (Old from current)
//	no change above, current fence < generation  → re-assert the first
//	                                               managed RRset (Old = New)
//
// Current holds only the keys the reconciler asked for: the keys the
// current and the previous policy steer in this zone. A key in current
// that desired does not manage is one the policy stopped steering (A
// replaced by CNAME, a record removed), so it is deleted; records nobody
// steers are never read and never touched. The change set carries
// desired's generation and expects current's fence.
func Plan(desired *zone.Zone, current *providers.Content) *providers.ChangeSet {
	fence := providers.FenceKey(desired.Origin)
	var cur []zone.RRset
	for _, k := range slices.SortedFunc(maps.Keys(current.RRsets), compareKey) {
		if k == fence {
			continue
		}
		cur = append(cur, current.RRsets[k])
	}
	cs := &providers.ChangeSet{Zone: desired.Origin, Generation: desired.Generation, ExpectFence: current.Fence}
	managed := desired.ManagedRecords()
	for _, c := range zone.Diff(cur, managed) {
		cs.Changes = append(cs.Changes, providers.Change{Key: c.Key, Old: c.Old, New: c.New})
	}
	if len(cs.Changes) == 0 && current.Fence < desired.Generation {
		for _, s := range managed {
			if got, ok := current.RRsets[s.Key()]; ok {
				o, n := got.Clone(), got.Clone()
				cs.Changes = []providers.Change{{Key: s.Key(), Old: &o, New: &n}}
				break
			}
		}
	}
	return cs
}

func compareKey(a, b zone.Key) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// CheckNeverEmpty refuses cs when, applied to current, it would leave a
// steered name (steered reports the names the policy steers) without any
// record, or when it writes an empty RRset. A name the policy no longer
// steers may go empty: removing it from the policy is the policy saying
// so. Only the RRsets in current and cs are known; a name is judged by
// them alone, which errs on the side of refusing.
func CheckNeverEmpty(cs *providers.ChangeSet, current *providers.Content, steered func(name string) bool) error {
	names := map[string]bool{}
	for _, c := range cs.Changes {
		if c.New != nil && c.New.Empty() {
			return fmt.Errorf("%w: %s would be written with no records", ErrWouldEmpty, c.Key)
		}
		names[c.Key.Name] = true
	}
	after := applyChanges(current, cs)
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if !steered(n) {
			continue
		}
		alive := false
		for k, s := range after.RRsets {
			if k.Name == n && !s.Empty() {
				alive = true
				break
			}
		}
		if !alive {
			return fmt.Errorf("%w: %s would have no records after generation %d", ErrWouldEmpty, n, cs.Generation)
		}
	}
	return nil
}

// applyChanges returns current with cs applied, as the provider would hold
// it after a successful write.
func applyChanges(current *providers.Content, cs *providers.ChangeSet) *providers.Content {
	out := &providers.Content{Zone: current.Zone, Fence: cs.Generation, RRsets: maps.Clone(current.RRsets)}
	if out.RRsets == nil {
		out.RRsets = map[zone.Key]zone.RRset{}
	}
	for _, c := range cs.Changes {
		if c.New == nil {
			delete(out.RRsets, c.Key)
		} else {
			out.RRsets[c.Key] = *c.New
		}
	}
	return out
}

// Split cuts cs into change sets of at most max changes each (max 0: no
// limit), in order. All changes of one name go into the same part when
// they fit, so that a type change (A → CNAME) is one write; a name with
// more changes than max is spread over consecutive parts with its
// creates and updates first and its deletes last, so that it keeps
// records between writes; a CNAME change cannot be spread that way
// (a CNAME admits no other data) and yields [ErrUnsplittable]. Every part
// carries cs's generation; the first expects cs's fence and each later one
// the generation the part before it wrote.
func Split(cs *providers.ChangeSet, max int) ([]*providers.ChangeSet, error) {
	if max <= 0 || len(cs.Changes) <= max {
		return []*providers.ChangeSet{cs}, nil
	}
	// Group by name, keeping the canonical order of names.
	var groups [][]providers.Change
	idx := map[string]int{}
	for _, c := range cs.Changes {
		i, ok := idx[c.Key.Name]
		if !ok {
			i = len(groups)
			idx[c.Key.Name] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], c)
	}
	var parts [][]providers.Change
	var cur []providers.Change
	flush := func() {
		if len(cur) > 0 {
			parts = append(parts, cur)
			cur = nil
		}
	}
	for _, g := range groups {
		if len(g) > max {
			for _, c := range g {
				if c.Key.Type == dns.TypeCNAME {
					return nil, fmt.Errorf("%w: %s changes %d RRsets including a CNAME, the provider takes %d per write", ErrUnsplittable, c.Key.Name, len(g), max)
				}
			}
			// Creates and updates first, deletes last.
			ordered := slices.Clone(g)
			slices.SortStableFunc(ordered, func(a, b providers.Change) int {
				return boolInt(a.New == nil) - boolInt(b.New == nil)
			})
			flush()
			for len(ordered) > 0 {
				n := min(max, len(ordered))
				parts = append(parts, ordered[:n])
				ordered = ordered[n:]
			}
			continue
		}
		if len(cur)+len(g) > max {
			flush()
		}
		cur = append(cur, g...)
	}
	flush()
	out := make([]*providers.ChangeSet, len(parts))
	expect := cs.ExpectFence
	for i, p := range parts {
		out[i] = &providers.ChangeSet{Zone: cs.Zone, Generation: cs.Generation, ExpectFence: expect, Changes: p}
		expect = cs.Generation
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
