package controller

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

func rrA(name string, ttl uint32, addrs ...string) zone.RRset {
	return zone.MustRRset(name, dns.TypeA, ttl, addrs...)
}

func rrCNAME(name, target string) zone.RRset {
	return zone.MustRRset(name, dns.TypeCNAME, 30, target)
}

func desiredZone(gen uint64, managed ...zone.RRset) *zone.Zone {
	z := &zone.Zone{Origin: "example.com.", Generation: gen}
	z.Records = append(z.Records, zone.MustRRset("example.com.", dns.TypeNS, 3600, "ns1.example.com."))
	for _, s := range managed {
		z.Records = append(z.Records, s)
		z.Managed = append(z.Managed, s.Key())
	}
	zone.SortRRsets(z.Records)
	zone.SortKeys(z.Managed)
	return z
}

func content(fence uint64, sets ...zone.RRset) *providers.Content {
	c := &providers.Content{Zone: "example.com.", Fence: fence, RRsets: map[zone.Key]zone.RRset{}}
	for _, s := range sets {
		c.RRsets[s.Key()] = s
	}
	return c
}

// describe prints a change set as "gen=G fence=F [kind key old→new, ...]".
func describe(cs *providers.ChangeSet) string {
	var parts []string
	for _, c := range cs.Changes {
		s := c.String()
		if c.Old != nil {
			s += " old=" + strings.Join(c.Old.Data, ",")
		}
		if c.New != nil {
			s += " new=" + strings.Join(c.New.Data, ",")
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("gen=%d fence=%d [%s]", cs.Generation, cs.ExpectFence, strings.Join(parts, "; "))
}

func TestPlan(t *testing.T) {
	www1 := rrA("www.example.com.", 30, "10.0.0.1")
	www2 := rrA("www.example.com.", 30, "10.1.0.1")
	wwwTTL := rrA("www.example.com.", 60, "10.0.0.1")
	api := rrA("api.example.com.", 30, "10.0.0.9")
	wwwC := rrCNAME("www.example.com.", "lb.example.net.")
	fence := providers.FenceRRset("example.com.", 3)
	tests := []struct {
		name    string
		desired *zone.Zone
		current *providers.Content
		want    string
	}{
		{"nothing yet: create, expect no fence", desiredZone(1, www1), content(0), "gen=1 fence=0 [create www.example.com. A new=10.0.0.1]"},
		{"equal, fence current: no change", desiredZone(4, www1), content(4, www1), "gen=4 fence=4 []"},
		{"equal, fence behind: re-assert to advance the fence", desiredZone(4, api, www1), content(3, www1, api), "gen=4 fence=3 [update api.example.com. A old=10.0.0.9 new=10.0.0.9]"},
		{"nothing managed and nothing held: no change", desiredZone(4), content(3), "gen=4 fence=3 []"},
		{"update carries old", desiredZone(4, www2), content(3, www1), "gen=4 fence=3 [update www.example.com. A old=10.0.0.1 new=10.1.0.1]"},
		{"ttl alone is a change", desiredZone(4, wwwTTL), content(3, www1), "gen=4 fence=3 [update www.example.com. A old=10.0.0.1 new=10.0.0.1]"},
		{"key no longer steered is deleted", desiredZone(4, www1), content(3, www1, api), "gen=4 fence=3 [delete api.example.com. A old=10.0.0.9]"},
		{"A to CNAME in one set", desiredZone(4, wwwC), content(3, www1), "gen=4 fence=3 [delete www.example.com. A old=10.0.0.1; create www.example.com. CNAME new=lb.example.net.]"},
		{"fence record is never a change", desiredZone(4, www1), content(4, www1, fence), "gen=4 fence=4 []"},
		{"several keys, canonical order", desiredZone(9, www2, api), content(8), "gen=9 fence=8 [create api.example.com. A new=10.0.0.9; create www.example.com. A new=10.1.0.1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(Plan(tt.desired, tt.current))
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCheckNeverEmpty(t *testing.T) {
	www := rrA("www.example.com.", 30, "10.0.0.1")
	wwwC := rrCNAME("www.example.com.", "lb.example.net.")
	wwwAAAA := zone.MustRRset("www.example.com.", dns.TypeAAAA, 30, "2001:db8::1")
	old := rrA("old.example.com.", 30, "10.0.0.7")
	empty := zone.RRset{Name: "www.example.com.", Type: dns.TypeA, TTL: 30}
	steered := func(n string) bool { return n == "www.example.com." }
	tests := []struct {
		name    string
		current *providers.Content
		changes []providers.Change
		wantErr bool
	}{
		{"update keeps the name", content(1, www), []providers.Change{{Key: www.Key(), Old: &www, New: &wwwAAAA}}, false},
		{"delete of the only set of a steered name", content(1, www), []providers.Change{{Key: www.Key(), Old: &www}}, true},
		{"delete with a create at the same name (A to CNAME)", content(1, www), []providers.Change{{Key: www.Key(), Old: &www}, {Key: wwwC.Key(), New: &wwwC}}, false},
		{"delete while another read set of the name stays", content(1, www, wwwAAAA), []providers.Change{{Key: www.Key(), Old: &www}}, false},
		{"delete of a name the policy dropped", content(1, old), []providers.Change{{Key: old.Key(), Old: &old}}, false},
		{"empty rrset written", content(1, www), []providers.Change{{Key: www.Key(), Old: &www, New: &empty}}, true},
		{"empty rrset written even to a dropped name", content(1), []providers.Change{{Key: old.Key(), New: &zone.RRset{Name: old.Name, Type: old.Type}}}, true},
		{"create only", content(0), []providers.Change{{Key: www.Key(), New: &www}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNeverEmpty(&providers.ChangeSet{Zone: "example.com.", Generation: 2, ExpectFence: 1, Changes: tt.changes}, tt.current, steered)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrWouldEmpty) {
				t.Errorf("got %v, want it to wrap ErrWouldEmpty", err)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	a := rrA("a.example.com.", 30, "10.0.0.1")
	b := rrA("b.example.com.", 30, "10.0.0.2")
	c := rrA("c.example.com.", 30, "10.0.0.3")
	wwwA := rrA("www.example.com.", 30, "10.0.0.1")
	wwwC := rrCNAME("www.example.com.", "lb.example.net.")
	mA := rrA("m.example.com.", 30, "10.0.0.5")
	mAAAA := zone.MustRRset("m.example.com.", dns.TypeAAAA, 30, "2001:db8::5")
	mTXT := zone.MustRRset("m.example.com.", dns.TypeTXT, 30, `"x"`)
	mMX := zone.MustRRset("m.example.com.", dns.TypeMX, 30, "10 mx.example.com.")
	cs := func(ch ...providers.Change) *providers.ChangeSet {
		return &providers.ChangeSet{Zone: "example.com.", Generation: 7, ExpectFence: 5, Changes: ch}
	}
	create := func(s zone.RRset) providers.Change { return providers.Change{Key: s.Key(), New: &s} }
	del := func(s zone.RRset) providers.Change { return providers.Change{Key: s.Key(), Old: &s} }
	tests := []struct {
		name    string
		cs      *providers.ChangeSet
		max     int
		want    []string
		wantErr error
	}{
		{"no limit", cs(create(a), create(b), create(c)), 0, []string{"gen=7 fence=5 [create a.example.com. A new=10.0.0.1; create b.example.com. A new=10.0.0.2; create c.example.com. A new=10.0.0.3]"}, nil},
		{"fits", cs(create(a), create(b)), 2, []string{"gen=7 fence=5 [create a.example.com. A new=10.0.0.1; create b.example.com. A new=10.0.0.2]"}, nil},
		{"cut in order, fences chained", cs(create(a), create(b), create(c)), 2, []string{
			"gen=7 fence=5 [create a.example.com. A new=10.0.0.1; create b.example.com. A new=10.0.0.2]",
			"gen=7 fence=7 [create c.example.com. A new=10.0.0.3]",
		}, nil},
		{"A to CNAME stays in one part", cs(create(a), del(wwwA), create(wwwC)), 2, []string{
			"gen=7 fence=5 [create a.example.com. A new=10.0.0.1]",
			"gen=7 fence=7 [delete www.example.com. A old=10.0.0.1; create www.example.com. CNAME new=lb.example.net.]",
		}, nil},
		{"A to CNAME cannot be cut under 1", cs(del(wwwA), create(wwwC)), 1, nil, ErrUnsplittable},
		{"oversized name: creates first, deletes last", cs(del(mA), del(mAAAA), create(mTXT), create(mMX)), 3, []string{
			"gen=7 fence=5 [create m.example.com. TXT new=\"x\"; create m.example.com. MX new=10 mx.example.com.; delete m.example.com. A old=10.0.0.5]",
			"gen=7 fence=7 [delete m.example.com. AAAA old=2001:db8::5]",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := Split(tt.cs, tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range parts {
				got = append(got, describe(p))
				if tt.max > 0 && len(p.Changes) > tt.max {
					t.Errorf("part has %d changes, want at most %d", len(p.Changes), tt.max)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestSplitPartsNeverEmpty applies every cut of a type change part by part
// and checks each part with the guard, as the worker does.
func TestSplitPartsNeverEmpty(t *testing.T) {
	mA := rrA("m.example.com.", 30, "10.0.0.5")
	mAAAA := zone.MustRRset("m.example.com.", dns.TypeAAAA, 30, "2001:db8::5")
	mTXT := zone.MustRRset("m.example.com.", dns.TypeTXT, 30, `"x"`)
	cur := content(5, mA, mAAAA)
	desired := desiredZone(7, mTXT)
	cs := Plan(desired, cur)
	for max := 1; max <= 3; max++ {
		t.Run(fmt.Sprintf("max %d", max), func(t *testing.T) {
			parts, err := Split(cs, max)
			if err != nil {
				t.Fatal(err)
			}
			sim := cur
			for i, p := range parts {
				if err := CheckNeverEmpty(p, sim, func(string) bool { return true }); err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				sim = applyChanges(sim, p)
			}
			if len(sim.RRsets) != 1 || !sim.RRsets[mTXT.Key()].Equal(mTXT) {
				t.Errorf("got %v after all parts, want only %s", sim.RRsets, mTXT)
			}
		})
	}
}
