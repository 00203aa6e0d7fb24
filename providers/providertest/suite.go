package providertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// DefaultLarge is the number of RRsets the paging test creates when
// [Options.Large] is 0.
const DefaultLarge = 2000

// DefaultTimeout bounds each subtest when [Options.Timeout] is 0.
const DefaultTimeout = 5 * time.Minute

// Run runs the conformance suite against b, each test as a subtest that
// starts with [Backend.Reset]. The subtests:
//
//   - create-update-delete: managed RRsets go through their life cycle.
//   - foreign-untouched: records the policy does not name (beside, below
//     and at managed names, other types) are byte for byte the same after
//     100 reconciles.
//   - conflict: an RRset changed behind the provider's back (update,
//     create over an existing set, delete, TTL only) makes Apply fail with
//     [providers.ErrConflict], nothing of the change set applied, the
//     fence untouched.
//   - all-or-nothing (atomic providers): a change set with one wrong
//     expectation applies none of its other changes.
//   - never-empty: after a conflict part way through a change set, every
//     managed name still has records.
//   - stale-generation: a change set computed from an older fence is
//     refused by the fencing record; the newer content stays.
//   - no-op: a plan without changes, and an empty change set, send no
//     write.
//   - large: [Options.Large] RRsets are created, read back whole (paging)
//     and deleted.
//   - ttl-only, multi-value, cname, long-txt, aaaa-non-canonical,
//     name-forms: the data shapes the reconciler produces.
func Run(t *testing.T, b Backend, opts Options) {
	t.Helper()
	if opts.Large == 0 {
		opts.Large = DefaultLarge
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	s := &suite{b: b, opts: opts}
	tests := []struct {
		name string
		fn   func(*testing.T, context.Context, providers.Provider)
	}{
		{"create-update-delete", s.createUpdateDelete},
		{"foreign-untouched", s.foreignUntouched},
		{"conflict", s.conflict},
		{"all-or-nothing", s.allOrNothing},
		{"never-empty", s.neverEmpty},
		{"stale-generation", s.staleGeneration},
		{"no-op", s.noop},
		{"large", s.large},
		{"ttl-only", s.ttlOnly},
		{"multi-value", s.multiValue},
		{"cname", s.cname},
		{"long-txt", s.longTXT},
		{"aaaa-non-canonical", s.aaaaNonCanonical},
		{"name-forms", s.nameForms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if slices.Contains(opts.Skip, tc.name) {
				t.Skipf("skipped by the backend's Options.Skip")
			}
			ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
			defer cancel()
			b.Reset(ctx, t)
			tc.fn(t, ctx, b.Provider(t))
		})
	}
}

type suite struct {
	b    Backend
	opts Options
}

// name returns label.<zone>.
func (s *suite) name(label string) string {
	if label == "" {
		return s.b.Zone()
	}
	return label + "." + s.b.Zone()
}

// set builds a canonical RRset at label.<zone>.
func (s *suite) set(t testing.TB, label string, typ uint16, ttl uint32, data ...string) zone.RRset {
	t.Helper()
	rs, err := zone.NewRRset(s.name(label), typ, ttl, data...)
	if err != nil {
		t.Fatalf("building %s %s: %v", label, zone.TypeString(typ), err)
	}
	return rs
}

func keysOf(sets ...zone.RRset) []zone.Key {
	out := make([]zone.Key, 0, len(sets))
	for _, s := range sets {
		out = append(out, s.Key())
	}
	return out
}

// reconcile runs [Reconcile] and fails the test on error.
func (s *suite) reconcile(t testing.TB, ctx context.Context, p providers.Provider, gen uint64, desired []zone.RRset, managed []zone.Key) int {
	t.Helper()
	n, err := Reconcile(ctx, p, s.b.Zone(), gen, desired, managed)
	if err != nil {
		t.Fatalf("reconcile to generation %d: %v", gen, err)
	}
	return n
}

// read reads keys and fails the test on error.
func (s *suite) read(t testing.TB, ctx context.Context, p providers.Provider, keys []zone.Key) *providers.Content {
	t.Helper()
	c, err := p.Read(ctx, s.b.Zone(), keys)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if c == nil {
		t.Fatalf("read: got nil content and no error")
	}
	return c
}

// dumpMap dumps the zone keyed by RRset key, SOA left out (servers bump
// its serial on every update).
func (s *suite) dumpMap(t testing.TB, ctx context.Context) map[zone.Key]zone.RRset {
	t.Helper()
	out := map[zone.Key]zone.RRset{}
	for _, rs := range s.b.Dump(ctx, t) {
		if rs.Type == dns.TypeSOA {
			continue
		}
		if _, dup := out[rs.Key()]; dup {
			t.Fatalf("dump: %s twice", rs.Key())
		}
		out[rs.Key()] = rs
	}
	return out
}

// fenceOf returns the generation in the dumped fencing record, 0 when
// there is none.
func (s *suite) fenceOf(t testing.TB, d map[zone.Key]zone.RRset) uint64 {
	t.Helper()
	fs, ok := d[providers.FenceKey(s.b.Zone())]
	if !ok {
		return 0
	}
	gen, err := providers.ParseFence(fs)
	if err != nil {
		t.Fatalf("fencing record in the dump: %v", err)
	}
	return gen
}

// wantSets checks that the dump holds exactly want for each of want's keys
// and nothing for each of absent.
func wantSets(t testing.TB, d map[zone.Key]zone.RRset, want []zone.RRset, absent ...zone.Key) {
	t.Helper()
	for _, w := range want {
		got, ok := d[w.Key()]
		if !ok {
			t.Errorf("%s: got absent, want\n%s", w.Key(), w)
			continue
		}
		if !got.Equal(w) {
			t.Errorf("%s: got\n%s\nwant\n%s", w.Key(), got, w)
		}
	}
	for _, k := range absent {
		if got, ok := d[k]; ok {
			t.Errorf("%s: got\n%s\nwant absent", k, got)
		}
	}
}

// wantRead checks that Read returns exactly want (and nothing else) for
// keys.
func (s *suite) wantRead(t testing.TB, ctx context.Context, p providers.Provider, keys []zone.Key, want ...zone.RRset) {
	t.Helper()
	c := s.read(t, ctx, p, keys)
	if len(c.RRsets) != len(want) {
		t.Errorf("read %d keys: got %d RRsets, want %d", len(keys), len(c.RRsets), len(want))
	}
	for _, w := range want {
		got, ok := c.Lookup(w.Key())
		if !ok {
			t.Errorf("read %s: got absent, want\n%s", w.Key(), w)
			continue
		}
		if !got.Equal(w) {
			t.Errorf("read %s: got\n%s\nwant\n%s", w.Key(), got, w)
		}
	}
}

func wantConflict(t testing.TB, err error, what string) {
	t.Helper()
	if !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("%s: got error %v (kind %s), want a conflict", what, err, providers.KindOf(err))
	}
}

func ptr(s zone.RRset) *zone.RRset { return &s }

func (s *suite) createUpdateDelete(t *testing.T, ctx context.Context, p providers.Provider) {
	www1 := s.set(t, "www", dns.TypeA, 300, "192.0.2.1")
	api1 := s.set(t, "api", dns.TypeAAAA, 300, "2001:db8::1")
	mx1 := s.set(t, "", dns.TypeMX, 300, "10 mail.example.net.")
	managed := keysOf(www1, api1, mx1)

	w0 := s.b.Writes()
	if n := s.reconcile(t, ctx, p, 1, []zone.RRset{www1, api1, mx1}, managed); n != 3 {
		t.Errorf("create: got %d changes, want 3", n)
	}
	if w, max := s.b.Writes()-w0, p.Capabilities().MaxChanges; p.Capabilities().Atomic && (max == 0 || max >= 3) && w != 1 {
		t.Errorf("writes for one atomic change set of 3 RRsets and the fence: got %d, want 1", w)
	}
	s.wantRead(t, ctx, p, managed, www1, api1, mx1)
	d := s.dumpMap(t, ctx)
	wantSets(t, d, []zone.RRset{www1, api1, mx1, providers.FenceRRset(s.b.Zone(), 1)})
	if got := s.fenceOf(t, d); got != 1 {
		t.Errorf("fence after create: got %d, want 1", got)
	}
	if c := s.read(t, ctx, p, managed); c.Fence != 1 {
		t.Errorf("read fence after create: got %d, want 1", c.Fence)
	}

	www2 := s.set(t, "www", dns.TypeA, 300, "192.0.2.2")
	if n := s.reconcile(t, ctx, p, 2, []zone.RRset{www2, api1}, managed); n != 2 {
		t.Errorf("update+delete: got %d changes, want 2", n)
	}
	s.wantRead(t, ctx, p, managed, www2, api1)
	d = s.dumpMap(t, ctx)
	wantSets(t, d, []zone.RRset{www2, api1}, mx1.Key())
	if got := s.fenceOf(t, d); got != 2 {
		t.Errorf("fence after update: got %d, want 2", got)
	}

	if n := s.reconcile(t, ctx, p, 3, nil, managed); n != 2 {
		t.Errorf("delete all: got %d changes, want 2", n)
	}
	s.wantRead(t, ctx, p, managed)
	d = s.dumpMap(t, ctx)
	wantSets(t, d, nil, managed...)
	if got := s.fenceOf(t, d); got != 3 {
		t.Errorf("fence after delete: got %d, want 3", got)
	}
}

func (s *suite) foreignUntouched(t *testing.T, ctx context.Context, p providers.Provider) {
	z := s.b.Zone()
	// Targets of MX and SRV are outside the zone: BIND refuses an update
	// adding an MX or SRV whose in-zone target has no address.
	foreign := []zone.RRset{
		s.set(t, "www2", dns.TypeA, 3600, "192.0.2.50"),
		s.set(t, "ww", dns.TypeA, 3600, "192.0.2.51"),
		s.set(t, "www", dns.TypeTXT, 120, `"operator note: do not touch"`),
		s.set(t, "sub.www", dns.TypeCNAME, 600, "target.example.net."),
		s.set(t, "api", dns.TypeA, 42, "192.0.2.7", "192.0.2.8"),
		s.set(t, "", dns.TypeMX, 3600, "10 mail.example.net.", "20 mail2.example.net."),
		s.set(t, "_dmarc", dns.TypeTXT, 300, `"v=DMARC1; p=reject"`, `"second string"`),
		s.set(t, "_sip._tcp", dns.TypeSRV, 300, "10 5 5060 sip.example.net."),
	}
	s.b.Put(ctx, t, foreign...)
	want := map[zone.Key]zone.RRset{}
	for _, rs := range foreign {
		want[rs.Key()] = rs
	}
	before := s.dumpMap(t, ctx)
	for _, rs := range foreign {
		if got, ok := before[rs.Key()]; !ok || !got.Equal(rs) {
			t.Fatalf("seeded %s: got\n%s\nwant\n%s", rs.Key(), got, rs)
		}
	}

	states := [][]zone.RRset{
		{
			s.set(t, "www", dns.TypeA, 300, "192.0.2.1"),
			s.set(t, "api", dns.TypeAAAA, 300, "2001:db8::1"),
		},
		{
			s.set(t, "www", dns.TypeA, 60, "192.0.2.2", "192.0.2.3"),
			s.set(t, "new", dns.TypeA, 60, "192.0.2.4"),
		},
	}
	managed := []zone.Key{
		{Name: s.name("www"), Type: dns.TypeA},
		{Name: s.name("api"), Type: dns.TypeAAAA},
		{Name: s.name("new"), Type: dns.TypeA},
	}
	const rounds = 100
	for i := range rounds {
		if n := s.reconcile(t, ctx, p, uint64(i+1), states[i%2], managed); n == 0 {
			t.Fatalf("reconcile %d: got 0 changes, want some", i+1)
		}
	}
	after := s.dumpMap(t, ctx)
	managedSet := map[zone.Key]bool{providers.FenceKey(z): true}
	for _, k := range managed {
		managedSet[k] = true
	}
	for k, got := range after {
		if managedSet[k] {
			continue
		}
		w, ok := want[k]
		if !ok {
			w, ok = before[k] // apex NS and the like
		}
		if !ok {
			t.Errorf("after %d reconciles: got unexpected foreign RRset\n%s", rounds, got)
			continue
		}
		if !got.Equal(w) {
			t.Errorf("after %d reconciles: foreign %s got\n%s\nwant\n%s", rounds, k, got, w)
		}
	}
	for k, w := range before {
		if managedSet[k] {
			continue
		}
		if _, ok := after[k]; !ok {
			t.Errorf("after %d reconciles: foreign %s got absent, want\n%s", rounds, k, w)
		}
	}
	wantSets(t, after, states[(rounds-1)%2])
	if got := s.fenceOf(t, after); got != rounds {
		t.Errorf("fence after %d reconciles: got %d, want %d", rounds, got, rounds)
	}
}

func (s *suite) conflict(t *testing.T, ctx context.Context, p providers.Provider) {
	www1 := s.set(t, "www", dns.TypeA, 300, "192.0.2.1")
	api1 := s.set(t, "api", dns.TypeA, 300, "192.0.2.10")
	newKey := zone.Key{Name: s.name("new"), Type: dns.TypeA}
	managed := []zone.Key{www1.Key(), api1.Key(), newKey}
	s.reconcile(t, ctx, p, 1, []zone.RRset{www1, api1}, managed)

	www2 := s.set(t, "www", dns.TypeA, 300, "192.0.2.2")
	new1 := s.set(t, "new", dns.TypeA, 300, "192.0.2.20")
	tests := []struct {
		name    string
		behind  zone.RRset // what another writer puts
		changes []providers.Change
	}{
		{
			name:   "update over changed data",
			behind: s.set(t, "www", dns.TypeA, 300, "198.51.100.9"),
			changes: []providers.Change{
				{Key: www1.Key(), Old: ptr(www1), New: ptr(www2)},
				{Key: newKey, New: ptr(new1)},
			},
		},
		{
			name:   "update over extra record",
			behind: s.set(t, "www", dns.TypeA, 300, "192.0.2.1", "198.51.100.9"),
			changes: []providers.Change{
				{Key: www1.Key(), Old: ptr(www1), New: ptr(www2)},
			},
		},
		{
			name:   "update over changed TTL",
			behind: s.set(t, "www", dns.TypeA, 999, "192.0.2.1"),
			changes: []providers.Change{
				{Key: www1.Key(), Old: ptr(www1), New: ptr(www2)},
			},
		},
		{
			name:   "create over existing",
			behind: s.set(t, "new", dns.TypeA, 300, "198.51.100.30"),
			changes: []providers.Change{
				{Key: newKey, New: ptr(new1)},
				{Key: www1.Key(), Old: ptr(www1), New: ptr(www2)},
			},
		},
		{
			name:   "delete of changed",
			behind: s.set(t, "api", dns.TypeA, 300, "198.51.100.40"),
			changes: []providers.Change{
				{Key: api1.Key(), Old: ptr(api1)},
			},
		},
		{
			name:   "update of deleted",
			behind: zone.RRset{Name: s.name("api"), Type: dns.TypeA},
			changes: []providers.Change{
				{Key: api1.Key(), Old: ptr(api1), New: ptr(s.set(t, "api", dns.TypeA, 300, "192.0.2.11"))},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Back to generation 1's content, whatever the last case did.
			s.b.Put(ctx, t, www1, api1, zone.RRset{Name: newKey.Name, Type: newKey.Type}, providers.FenceRRset(s.b.Zone(), 1))
			s.b.Put(ctx, t, tc.behind)
			before := s.dumpMap(t, ctx)
			fence := s.fenceOf(t, before)
			if fence != 1 {
				t.Fatalf("fence before: got %d, want 1", fence)
			}
			w0 := s.b.Writes()
			err := p.Apply(ctx, &providers.ChangeSet{Zone: s.b.Zone(), Generation: 2, ExpectFence: 1, Changes: tc.changes})
			wantConflict(t, err, "apply over a changed RRset")
			if s.b.Writes() == w0 {
				// Not an error by itself (a provider may refuse from a
				// read), but the contract wants the refusal at write time.
				t.Logf("note: the provider refused without sending a write")
			}
			after := s.dumpMap(t, ctx)
			if p.Capabilities().Atomic {
				if !maps2Equal(before, after) {
					t.Errorf("after the refused change set: zone changed\n got %v\nwant %v", sortedSets(after), sortedSets(before))
				}
				return
			}
			// One at a time: the refused RRset keeps the other writer's
			// content; the others hold their old or new content.
			if got, ok := after[tc.behind.Key()]; tc.behind.Empty() && ok || !tc.behind.Empty() && !got.Equal(tc.behind) {
				t.Errorf("%s after the refused change set: got\n%s\nwant\n%s", tc.behind.Key(), got, tc.behind)
			}
			for _, c := range tc.changes {
				if c.Key == tc.behind.Key() {
					continue
				}
				got, ok := after[c.Key]
				old, nw := before[c.Key]
				okOld := ok == nw && (!ok || got.Equal(old))
				okNew := c.New != nil && ok && got.Equal(*c.New)
				if !okOld && !okNew {
					t.Errorf("%s after the refused change set: got %v, want the old or the new content", c.Key, got)
				}
			}
		})
	}
}

func (s *suite) allOrNothing(t *testing.T, ctx context.Context, p providers.Provider) {
	if !p.Capabilities().Atomic {
		t.Skip("the provider does not claim atomic change sets; never-empty covers it")
	}
	a1 := s.set(t, "a", dns.TypeA, 300, "192.0.2.1")
	b1 := s.set(t, "b", dns.TypeA, 300, "192.0.2.2")
	c1 := s.set(t, "c", dns.TypeTXT, 300, `"c one"`)
	dKey := zone.Key{Name: s.name("d"), Type: dns.TypeA}
	managed := []zone.Key{a1.Key(), b1.Key(), c1.Key(), dKey}
	s.reconcile(t, ctx, p, 1, []zone.RRset{a1, b1, c1}, managed)
	before := s.dumpMap(t, ctx)

	wrongC := s.set(t, "c", dns.TypeTXT, 300, `"c zero"`)
	for _, bad := range []int{0, 1, 2, 3} {
		t.Run(fmt.Sprintf("wrong expectation at %d", bad), func(t *testing.T) {
			changes := []providers.Change{
				{Key: dKey, New: ptr(s.set(t, "d", dns.TypeA, 300, "192.0.2.4"))},
				{Key: a1.Key(), Old: ptr(a1), New: ptr(s.set(t, "a", dns.TypeA, 300, "192.0.2.11"))},
				{Key: b1.Key(), Old: ptr(b1)},
				{Key: c1.Key(), Old: ptr(c1), New: ptr(s.set(t, "c", dns.TypeTXT, 300, `"c two"`))},
			}
			switch bad {
			case 0: // d is absent, but the change claims it holds a record
				changes[0].Old = ptr(s.set(t, "d", dns.TypeA, 300, "192.0.2.99"))
			case 1:
				changes[1].Old = ptr(s.set(t, "a", dns.TypeA, 301, "192.0.2.1"))
			case 2:
				changes[2].Old = ptr(s.set(t, "b", dns.TypeA, 300, "192.0.2.2", "192.0.2.3"))
			case 3:
				changes[3].Old = ptr(wrongC)
			}
			err := p.Apply(ctx, &providers.ChangeSet{Zone: s.b.Zone(), Generation: 2, ExpectFence: 1, Changes: changes})
			wantConflict(t, err, "apply with one wrong expectation")
			after := s.dumpMap(t, ctx)
			if !maps2Equal(before, after) {
				t.Errorf("after the refused change set: zone changed\n got %v\nwant %v", sortedSets(after), sortedSets(before))
			}
		})
	}
	t.Run("wrong fence", func(t *testing.T) {
		changes := []providers.Change{{Key: a1.Key(), Old: ptr(a1), New: ptr(s.set(t, "a", dns.TypeA, 300, "192.0.2.11"))}}
		err := p.Apply(ctx, &providers.ChangeSet{Zone: s.b.Zone(), Generation: 2, ExpectFence: 0, Changes: changes})
		wantConflict(t, err, "apply expecting no fence while one exists")
		after := s.dumpMap(t, ctx)
		if !maps2Equal(before, after) {
			t.Errorf("after the refused change set: zone changed\n got %v\nwant %v", sortedSets(after), sortedSets(before))
		}
	})
}

func (s *suite) neverEmpty(t *testing.T, ctx context.Context, p providers.Provider) {
	var sets1, sets2 []zone.RRset
	var managed []zone.Key
	for i := range 6 {
		l := fmt.Sprintf("n%d", i)
		sets1 = append(sets1, s.set(t, l, dns.TypeA, 300, fmt.Sprintf("192.0.2.%d", i+1)))
		sets2 = append(sets2, s.set(t, l, dns.TypeA, 300, fmt.Sprintf("198.51.100.%d", i+1)))
		managed = append(managed, sets1[i].Key())
	}
	s.reconcile(t, ctx, p, 1, sets1, managed)
	// Someone else changes the fourth name: a change set from generation
	// 1 fails there, part way for a provider that writes one at a time.
	behind := s.set(t, "n3", dns.TypeA, 300, "203.0.113.3")
	s.b.Put(ctx, t, behind)
	cur := s.read(t, ctx, p, managed)
	if got, _ := cur.Lookup(behind.Key()); !got.Equal(behind) {
		t.Fatalf("read after the foreign write: got\n%s\nwant\n%s", got, behind)
	}
	var changes []providers.Change
	for i := range sets1 {
		changes = append(changes, providers.Change{Key: managed[i], Old: ptr(sets1[i]), New: ptr(sets2[i])})
	}
	err := p.Apply(ctx, &providers.ChangeSet{Zone: s.b.Zone(), Generation: 2, ExpectFence: 1, Changes: changes})
	wantConflict(t, err, "apply over one changed name")
	d := s.dumpMap(t, ctx)
	for i, k := range managed {
		got, ok := d[k]
		switch {
		case !ok || got.Empty():
			t.Errorf("%s after a conflict part way: got no records, want some", k)
		case i == 3 && !got.Equal(behind):
			t.Errorf("%s (changed by someone else): got\n%s\nwant\n%s", k, got, behind)
		case i != 3 && !got.Equal(sets1[i]) && !got.Equal(sets2[i]):
			t.Errorf("%s: got\n%s\nwant the old or the new content", k, got)
		}
	}
	// The reconciler re-reads and re-plans from what is there now.
	c := s.read(t, ctx, p, managed)
	want := slices.Clone(sets2)
	want[3] = s.set(t, "n3", dns.TypeA, 300, "198.51.100.4")
	if _, err := Reconcile(ctx, p, s.b.Zone(), 2, want, managed); err != nil {
		t.Fatalf("re-plan from fence %d: %v", c.Fence, err)
	}
	wantSets(t, s.dumpMap(t, ctx), want)
}

func (s *suite) staleGeneration(t *testing.T, ctx context.Context, p providers.Provider) {
	www1 := s.set(t, "www", dns.TypeA, 300, "192.0.2.1")
	api1 := s.set(t, "api", dns.TypeA, 300, "192.0.2.10")
	managed := keysOf(www1, api1)
	s.reconcile(t, ctx, p, 1, []zone.RRset{www1, api1}, managed)
	stale := s.read(t, ctx, p, managed) // a slow worker reads generation 1

	www2 := s.set(t, "www", dns.TypeA, 300, "192.0.2.2")
	s.reconcile(t, ctx, p, 2, []zone.RRset{www2, api1}, managed)
	fresh := s.dumpMap(t, ctx)
	if got := s.fenceOf(t, fresh); got != 2 {
		t.Fatalf("fence after generation 2: got %d, want 2", got)
	}

	// The slow worker now writes its plan from fence 1. api is unchanged
	// since it read it, so only the fence can refuse the plan.
	for _, tc := range []struct {
		name string
		gen  uint64
		ch   providers.Change
	}{
		{"update", 2, providers.Change{Key: api1.Key(), Old: ptr(api1), New: ptr(s.set(t, "api", dns.TypeA, 300, "192.0.2.99"))}},
		{"delete", 2, providers.Change{Key: api1.Key(), Old: ptr(api1)}},
		{"update with a higher generation", 7, providers.Change{Key: api1.Key(), Old: ptr(api1), New: ptr(s.set(t, "api", dns.TypeA, 300, "192.0.2.98"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Apply(ctx, &providers.ChangeSet{Zone: s.b.Zone(), Generation: tc.gen, ExpectFence: stale.Fence, Changes: []providers.Change{tc.ch}})
			wantConflict(t, err, "apply from a stale fence")
			after := s.dumpMap(t, ctx)
			if !maps2Equal(fresh, after) {
				t.Errorf("after the stale change set: zone changed\n got %v\nwant %v", sortedSets(after), sortedSets(fresh))
			}
		})
	}
	t.Run("reconcile with an older generation", func(t *testing.T) {
		w0 := s.b.Writes()
		_, err := Reconcile(ctx, p, s.b.Zone(), 1, []zone.RRset{www1}, managed)
		wantConflict(t, err, "reconcile to generation 1 over fence 2")
		if w := s.b.Writes(); w != w0 {
			t.Errorf("writes: got %d more, want 0", w-w0)
		}
	})
	wantSets(t, s.dumpMap(t, ctx), []zone.RRset{www2, api1})
}

func (s *suite) noop(t *testing.T, ctx context.Context, p providers.Provider) {
	www := s.set(t, "www", dns.TypeA, 300, "192.0.2.1", "192.0.2.2")
	txt := s.set(t, "www", dns.TypeTXT, 300, `"hello"`)
	managed := keysOf(www, txt)
	s.reconcile(t, ctx, p, 1, []zone.RRset{www, txt}, managed)

	w0 := s.b.Writes()
	if n := s.reconcile(t, ctx, p, 2, []zone.RRset{www, txt}, managed); n != 0 {
		t.Errorf("reconcile to the same content: got %d changes, want 0", n)
	}
	// Data given in another order and case is the same content.
	same := s.set(t, "WWW", dns.TypeA, 300, "192.0.2.2", "192.0.2.1")
	if n := s.reconcile(t, ctx, p, 2, []zone.RRset{same, txt}, managed); n != 0 {
		t.Errorf("reconcile to the same content reordered: got %d changes, want 0", n)
	}
	for _, cs := range []*providers.ChangeSet{
		{Zone: s.b.Zone(), Generation: 2, ExpectFence: 1},
		{Zone: s.b.Zone(), Generation: 2, ExpectFence: 1, Changes: []providers.Change{}},
	} {
		if err := p.Apply(ctx, cs); err != nil {
			t.Errorf("apply an empty change set: got %v, want nil", err)
		}
	}
	if w := s.b.Writes(); w != w0 {
		t.Errorf("writes for a no-op plan: got %d, want 0", w-w0)
	}
	if got := s.fenceOf(t, s.dumpMap(t, ctx)); got != 1 {
		t.Errorf("fence after no-ops: got %d, want 1", got)
	}
}

func (s *suite) large(t *testing.T, ctx context.Context, p providers.Provider) {
	n := s.opts.Large
	sets := make([]zone.RRset, 0, n)
	for i := range n {
		sets = append(sets, s.set(t, fmt.Sprintf("h%05d", i), dns.TypeA, 300, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)))
	}
	managed := keysOf(sets...)
	start := time.Now()
	if got := s.reconcile(t, ctx, p, 1, sets, managed); got != n {
		t.Errorf("create %d: got %d changes, want %d", n, got, n)
	}
	t.Logf("created %d RRsets in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	c := s.read(t, ctx, p, managed)
	t.Logf("read %d RRsets in %v", n, time.Since(start).Round(time.Millisecond))
	if len(c.RRsets) != n {
		t.Errorf("read back: got %d RRsets, want %d", len(c.RRsets), n)
	}
	for _, w := range sets {
		if got, ok := c.Lookup(w.Key()); !ok || !got.Equal(w) {
			t.Errorf("read back %s: got %v (present %v), want %v", w.Key(), got, ok, w)
			break
		}
	}
	if got := len(s.dumpMap(t, ctx)); got < n+1 {
		t.Errorf("dump: got %d RRsets, want at least %d", got, n+1)
	}
	start = time.Now()
	if got := s.reconcile(t, ctx, p, 2, nil, managed); got != n {
		t.Errorf("delete %d: got %d changes, want %d", n, got, n)
	}
	t.Logf("deleted %d RRsets in %v", n, time.Since(start).Round(time.Millisecond))
	d := s.dumpMap(t, ctx)
	wantSets(t, d, nil, managed...)
	if got := s.fenceOf(t, d); got != 2 {
		t.Errorf("fence after delete: got %d, want 2", got)
	}
}

func (s *suite) ttlOnly(t *testing.T, ctx context.Context, p providers.Provider) {
	a := s.set(t, "www", dns.TypeA, 300, "192.0.2.1", "192.0.2.2")
	b := s.set(t, "www", dns.TypeA, 30, "192.0.2.1", "192.0.2.2")
	managed := keysOf(a)
	s.reconcile(t, ctx, p, 1, []zone.RRset{a}, managed)
	if n := s.reconcile(t, ctx, p, 2, []zone.RRset{b}, managed); n != 1 {
		t.Errorf("TTL-only change: got %d changes, want 1", n)
	}
	s.wantRead(t, ctx, p, managed, b)
	wantSets(t, s.dumpMap(t, ctx), []zone.RRset{b})
}

func (s *suite) multiValue(t *testing.T, ctx context.Context, p providers.Provider) {
	five := s.set(t, "pool", dns.TypeA, 60, "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5")
	oneChanged := s.set(t, "pool", dns.TypeA, 60, "192.0.2.1", "192.0.2.2", "192.0.2.30", "192.0.2.4", "192.0.2.5")
	fewer := s.set(t, "pool", dns.TypeA, 60, "192.0.2.2", "192.0.2.4")
	managed := keysOf(five)
	for i, want := range []zone.RRset{five, oneChanged, fewer, five} {
		if n := s.reconcile(t, ctx, p, uint64(i+1), []zone.RRset{want}, managed); n != 1 {
			t.Errorf("step %d: got %d changes, want 1", i+1, n)
		}
		s.wantRead(t, ctx, p, managed, want)
		wantSets(t, s.dumpMap(t, ctx), []zone.RRset{want})
	}
}

func (s *suite) cname(t *testing.T, ctx context.Context, p providers.Provider) {
	c1 := s.set(t, "app", dns.TypeCNAME, 60, "lb-1.example.net.")
	c2 := s.set(t, "app", dns.TypeCNAME, 60, "LB-2.Example.NET")
	managed := keysOf(c1)
	s.reconcile(t, ctx, p, 1, []zone.RRset{c1}, managed)
	s.wantRead(t, ctx, p, managed, c1)
	s.reconcile(t, ctx, p, 2, []zone.RRset{c2}, managed)
	s.wantRead(t, ctx, p, managed, c2)
	wantSets(t, s.dumpMap(t, ctx), []zone.RRset{c2})
	if c2.Data[0] != "lb-2.example.net." {
		t.Errorf("canonical CNAME target: got %q, want %q", c2.Data[0], "lb-2.example.net.")
	}
}

func (s *suite) longTXT(t *testing.T, ctx context.Context, p providers.Provider) {
	long := strings.Repeat("0123456789abcdef", 38)[:600]
	// Split as the zone file form does: 255, 255, 90 bytes.
	data := fmt.Sprintf(`"%s" "%s" "%s"`, long[:255], long[255:510], long[510:])
	txt := s.set(t, "long", dns.TypeTXT, 300, data, `"short"`)
	managed := keysOf(txt)
	s.reconcile(t, ctx, p, 1, []zone.RRset{txt}, managed)
	s.wantRead(t, ctx, p, managed, txt)
	wantSets(t, s.dumpMap(t, ctx), []zone.RRset{txt})
	rrs, err := txt.RRs()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, rr := range rrs {
		for _, part := range rr.(*dns.TXT).Txt {
			total += len(part)
		}
	}
	if total != 600+len("short") {
		t.Errorf("text bytes: got %d, want %d", total, 600+len("short"))
	}
}

func (s *suite) aaaaNonCanonical(t *testing.T, ctx context.Context, p providers.Provider) {
	given := s.set(t, "v6", dns.TypeAAAA, 300, "2001:DB8:0:0::1", "2001:0db8:0000:0000:0000:0000:0000:0002")
	canonical := s.set(t, "v6", dns.TypeAAAA, 300, "2001:db8::1", "2001:db8::2")
	if !given.Equal(canonical) {
		t.Fatalf("zone.NewRRset: got %v, want %v", given.Data, canonical.Data)
	}
	managed := keysOf(given)
	s.reconcile(t, ctx, p, 1, []zone.RRset{given}, managed)
	s.wantRead(t, ctx, p, managed, canonical)
	wantSets(t, s.dumpMap(t, ctx), []zone.RRset{canonical})
	w0 := s.b.Writes()
	if n := s.reconcile(t, ctx, p, 2, []zone.RRset{canonical}, managed); n != 0 {
		t.Errorf("reconcile to the canonical form of the same content: got %d changes, want 0", n)
	}
	if w := s.b.Writes(); w != w0 {
		t.Errorf("writes: got %d, want 0", w-w0)
	}
}

func (s *suite) nameForms(t *testing.T, ctx context.Context, p providers.Provider) {
	z := strings.TrimSuffix(s.b.Zone(), ".")
	for i, tc := range []struct{ name, given string }{
		{"no trailing dot", "www." + z},
		{"upper case", "WWW." + strings.ToUpper(z) + "."},
		{"mixed case, no dot", "Www." + z},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := zone.NewRRset(tc.given, dns.TypeA, 300, fmt.Sprintf("192.0.2.%d", i+1))
			if err != nil {
				t.Fatal(err)
			}
			if rs.Name != s.name("www") {
				t.Fatalf("canonical name of %q: got %q, want %q", tc.given, rs.Name, s.name("www"))
			}
			managed := keysOf(rs)
			if n := s.reconcile(t, ctx, p, uint64(i+1), []zone.RRset{rs}, managed); n != 1 {
				t.Errorf("got %d changes, want 1", n)
			}
			s.wantRead(t, ctx, p, managed, rs)
			wantSets(t, s.dumpMap(t, ctx), []zone.RRset{rs})
		})
	}
}

func maps2Equal(a, b map[zone.Key]zone.RRset) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || !x.Equal(y) {
			return false
		}
	}
	return true
}

func sortedSets(m map[zone.Key]zone.RRset) []string {
	out := make([]string, 0, len(m))
	for _, s := range m {
		out = append(out, s.String())
	}
	slices.Sort(out)
	return out
}
