package providertest

import (
	"context"
	"fmt"
	"slices"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// Plan returns the changes that take cur to desired for the managed keys,
// sorted by key: Old is what cur holds (nil: absent), New is the desired
// set (nil: absent, or a desired set with no data). A desired set whose key
// is not managed is an error: the suite, like the reconciler, writes only
// what the policy names.
func Plan(cur *providers.Content, desired []zone.RRset, managed []zone.Key) ([]providers.Change, error) {
	want := make(map[zone.Key]zone.RRset, len(desired))
	isManaged := make(map[zone.Key]bool, len(managed))
	for _, k := range managed {
		isManaged[k] = true
	}
	for _, s := range desired {
		if !isManaged[s.Key()] {
			return nil, fmt.Errorf("providertest: plan: desired %s is not a managed key", s.Key())
		}
		if _, dup := want[s.Key()]; dup {
			return nil, fmt.Errorf("providertest: plan: desired %s twice", s.Key())
		}
		if !s.Empty() {
			want[s.Key()] = s
		}
	}
	keys := slices.Clone(managed)
	zone.SortKeys(keys)
	keys = slices.Compact(keys)
	var out []providers.Change
	for _, k := range keys {
		old, hasOld := cur.Lookup(k)
		nw, hasNew := want[k]
		switch {
		case !hasOld && !hasNew:
			continue
		case hasOld && hasNew && old.Equal(nw):
			continue
		}
		c := providers.Change{Key: k}
		if hasOld {
			o := old.Clone()
			c.Old = &o
		}
		if hasNew {
			n := nw.Clone()
			c.New = &n
		}
		out = append(out, c)
	}
	return out, nil
}

// Split cuts changes into batches of at most max changes (0: one batch),
// keeping the changes of one owner name together when they fit, so that a
// name whose type changes (A to CNAME) is rewritten in one change set and
// never left empty between two of them. The input order is kept.
func Split(changes []providers.Change, max int) [][]providers.Change {
	if len(changes) == 0 {
		return nil
	}
	if max <= 0 || len(changes) <= max {
		return [][]providers.Change{changes}
	}
	// Group consecutive changes of the same name (Plan sorts by key, so a
	// name's changes are adjacent).
	var groups [][]providers.Change
	for i := 0; i < len(changes); {
		j := i + 1
		for j < len(changes) && changes[j].Key.Name == changes[i].Key.Name {
			j++
		}
		groups = append(groups, changes[i:j])
		i = j
	}
	var out [][]providers.Change
	var cur []providers.Change
	for _, g := range groups {
		for len(g) > max { // a name with more types than a batch holds
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			out = append(out, g[:max])
			g = g[max:]
		}
		if len(cur)+len(g) > max {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, g...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Reconcile drives p the way the reconciler does: it reads the managed keys
// of zoneName, plans the difference to desired, splits the plan by
// [providers.Capabilities.MaxChanges] and applies each part as a fenced
// compare-and-swap change set. The first change set expects the fence that
// was read; each one sets the fence to gen (0: the fence read plus one), so
// the next one expects gen. It returns how many RRset changes were applied.
//
// A gen older than the fence read is refused with [providers.ErrConflict]
// before anything is sent: that plan is stale. A plan with no change sends
// nothing.
func Reconcile(ctx context.Context, p providers.Provider, zoneName string, gen uint64, desired []zone.RRset, managed []zone.Key) (changed int, err error) {
	cur, err := p.Read(ctx, zoneName, managed)
	if err != nil {
		return 0, fmt.Errorf("providertest: read: %w", err)
	}
	changes, err := Plan(cur, desired, managed)
	if err != nil {
		return 0, err
	}
	if len(changes) == 0 {
		return 0, nil
	}
	if gen == 0 {
		gen = cur.Fence + 1
	}
	if gen < cur.Fence {
		return 0, providers.Conflict(fmt.Errorf("providertest: plan of generation %d is older than the fence %d", gen, cur.Fence))
	}
	expect := cur.Fence
	for _, part := range Split(changes, p.Capabilities().MaxChanges) {
		cs := &providers.ChangeSet{Zone: zoneName, Generation: gen, ExpectFence: expect, Changes: part}
		if err := p.Apply(ctx, cs); err != nil {
			return changed, fmt.Errorf("providertest: apply %d changes (generation %d, fence %d): %w", len(part), gen, expect, err)
		}
		changed += len(part)
		expect = gen
	}
	return changed, nil
}
