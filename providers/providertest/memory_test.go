package providertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// memZone is an in-memory zone with a provider that keeps the contract,
// atomic or one RRset at a time: the suite's own test that its checks pass
// on a correct provider.
type memZone struct {
	mu     sync.Mutex
	origin string
	sets   map[zone.Key]zone.RRset
	writes int
}

type memProvider struct {
	z      *memZone
	atomic bool
	max    int
	broken string // a contract breach, for the suite's own test: "fence", "old", "ttl", "noop"
}

func (p *memProvider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Atomic: p.atomic, MaxChanges: p.max}
}

func (p *memProvider) Read(_ context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	p.z.mu.Lock()
	defer p.z.mu.Unlock()
	c := &providers.Content{Zone: zoneName, RRsets: map[zone.Key]zone.RRset{}}
	for _, k := range keys {
		if s, ok := p.z.sets[k]; ok {
			c.RRsets[k] = s.Clone()
		}
	}
	if f, ok := p.z.sets[providers.FenceKey(zoneName)]; ok {
		gen, err := providers.ParseFence(f)
		if err != nil {
			return nil, err
		}
		c.Fence = gen
	}
	return c, nil
}

// holds reports whether the zone holds exactly want (nil: nothing) at k.
func (p *memProvider) holds(k zone.Key, want *zone.RRset) bool {
	got, ok := p.z.sets[k]
	switch {
	case p.broken == "old":
		return true
	case want == nil:
		return !ok
	case p.broken == "ttl":
		return ok && got.SameData(*want)
	}
	return ok && got.Equal(*want)
}

func (p *memProvider) Apply(_ context.Context, cs *providers.ChangeSet) error {
	if len(cs.Changes) == 0 && p.broken != "noop" {
		return nil
	}
	if p.max > 0 && len(cs.Changes) > p.max {
		return providers.Invalid(fmt.Errorf("memory: %d changes, at most %d", len(cs.Changes), p.max))
	}
	p.z.mu.Lock()
	defer p.z.mu.Unlock()
	p.z.writes++
	fk := providers.FenceKey(cs.Zone)
	var expect *zone.RRset
	if cs.ExpectFence != 0 {
		f := providers.FenceRRset(cs.Zone, cs.ExpectFence)
		expect = &f
	}
	if !p.holds(fk, expect) && p.broken != "fence" {
		return providers.Conflict(fmt.Errorf("memory: fence is not %d", cs.ExpectFence))
	}
	if p.atomic {
		for _, c := range cs.Changes {
			if !p.holds(c.Key, c.Old) {
				return providers.Conflict(fmt.Errorf("memory: %s changed", c.Key))
			}
		}
	}
	p.z.sets[fk] = providers.FenceRRset(cs.Zone, cs.Generation)
	for _, c := range cs.Changes {
		if !p.holds(c.Key, c.Old) {
			return providers.Conflict(fmt.Errorf("memory: %s changed", c.Key))
		}
		if c.New == nil {
			delete(p.z.sets, c.Key)
		} else {
			p.z.sets[c.Key] = c.New.Clone()
		}
	}
	return nil
}

type memBackend struct {
	z *memZone
	p *memProvider
}

func newMemBackend(atomic bool, max int) *memBackend {
	z := &memZone{origin: "example.test.", sets: map[zone.Key]zone.RRset{}}
	return &memBackend{z: z, p: &memProvider{z: z, atomic: atomic, max: max}}
}

func (b *memBackend) Zone() string                           { return b.z.origin }
func (b *memBackend) Provider(testing.TB) providers.Provider { return b.p }
func (b *memBackend) Writes() int                            { b.z.mu.Lock(); defer b.z.mu.Unlock(); return b.z.writes }
func (b *memBackend) Reset(_ context.Context, _ testing.TB) {
	b.z.mu.Lock()
	defer b.z.mu.Unlock()
	clear(b.z.sets)
	for _, s := range []zone.RRset{
		zone.MustRRset(b.z.origin, dns.TypeSOA, 3600, "ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60"),
		zone.MustRRset(b.z.origin, dns.TypeNS, 3600, "ns1.example.test."),
	} {
		b.z.sets[s.Key()] = s
	}
}

func (b *memBackend) Put(_ context.Context, _ testing.TB, sets ...zone.RRset) {
	b.z.mu.Lock()
	defer b.z.mu.Unlock()
	for _, s := range sets {
		if s.Empty() {
			delete(b.z.sets, s.Key())
		} else {
			b.z.sets[s.Key()] = s.Clone()
		}
	}
}

func (b *memBackend) Dump(_ context.Context, _ testing.TB) []zone.RRset {
	b.z.mu.Lock()
	defer b.z.mu.Unlock()
	out := make([]zone.RRset, 0, len(b.z.sets))
	for _, s := range b.z.sets {
		out = append(out, s.Clone())
	}
	zone.SortRRsets(out)
	return out
}

func TestRunAgainstMemory(t *testing.T) {
	for _, tc := range []struct {
		name   string
		atomic bool
		max    int
	}{
		{"atomic", true, 0},
		{"atomic, 100 changes a set", true, 100},
		{"one at a time", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Run(t, newMemBackend(tc.atomic, tc.max), Options{})
		})
	}
}

// TestRunFailsBrokenProviders runs the suite in a child process against
// providers that each break one part of the contract, and checks that the
// subtest guarding that part fails: the suite can fail.
func TestRunFailsBrokenProviders(t *testing.T) {
	if os.Getenv("PROVIDERTEST_BROKEN") != "" {
		t.Skip("inside the child")
	}
	for _, tc := range []struct {
		broken, failing string
	}{
		{"fence", "stale-generation"},
		{"old", "conflict"},
		{"ttl", "conflict/update_over_changed_TTL"},
		{"noop", "no-op"},
	} {
		t.Run(tc.broken, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenChild$", "-test.v")
			cmd.Env = append(os.Environ(), "PROVIDERTEST_BROKEN="+tc.broken)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("suite against a provider breaking %q: got pass, want failure", tc.broken)
			}
			if want := "--- FAIL: TestBrokenChild/" + tc.failing; !strings.Contains(string(out), want) {
				t.Errorf("suite against a provider breaking %q: output lacks %q:\n%s", tc.broken, want, out)
			}
		})
	}
}

// TestBrokenChild is the child of [TestRunFailsBrokenProviders].
func TestBrokenChild(t *testing.T) {
	broken := os.Getenv("PROVIDERTEST_BROKEN")
	if broken == "" {
		t.Skip("runs only as the child of TestRunFailsBrokenProviders")
	}
	b := newMemBackend(true, 0)
	b.p.broken = broken
	Run(t, b, Options{Large: 10})
}
