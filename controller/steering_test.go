package controller

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/raft"
)

// pools builds pool inputs from a compact notation: "a:1.1.1.1+ b:1.1.1.2-"
// is a pool with a (up) and b (down); "min=2" sets min_healthy; "w=3" after
// an address sets its weight.
func pools(specs ...string) []PoolInput {
	var out []PoolInput
	for i, spec := range specs {
		p := PoolInput{Name: "p" + string(rune('1'+i)), MinHealthy: 1}
		for _, f := range strings.Fields(spec) {
			if v, ok := strings.CutPrefix(f, "min="); ok {
				p.MinHealthy = int(v[0] - '0')
				continue
			}
			name, rest, _ := strings.Cut(f, ":")
			m := Member{Endpoint: name, Weight: 1}
			if addr, w, ok := strings.Cut(rest, ",w="); ok {
				rest = addr
				m.Weight = uint32(w[0] - '0')
			}
			m.Up = strings.HasSuffix(rest, "+")
			m.Address = strings.TrimRight(rest, "+-")
			p.Members = append(p.Members, m)
		}
		out = append(out, p)
	}
	return out
}

func TestSteer(t *testing.T) {
	rec := func(typ, steering, allDown string, maxAnswers int) *config.Record {
		return &config.Record{Type: typ, Steering: steering, WhenAllDown: allDown, MaxAnswers: maxAnswers}
	}
	cases := []struct {
		name       string
		rec        *config.Record
		pools      []PoolInput
		want       []string
		wantPool   string
		wantAll    bool
		wantWeight map[string]uint32
		wantMax    int
	}{
		{"failover: first pool healthy", rec("A", "failover", "serve-all", 0),
			pools("a:10.0.0.1+ b:10.0.0.2+", "c:10.0.1.1+"), []string{"10.0.0.1", "10.0.0.2"}, "p1", false, nil, 0},
		{"failover: answer is the healthy members only", rec("A", "failover", "serve-all", 0),
			pools("a:10.0.0.1+ b:10.0.0.2-", "c:10.0.1.1+"), []string{"10.0.0.1"}, "p1", false, nil, 0},
		{"failover: first pool below min_healthy moves on", rec("A", "failover", "serve-all", 0),
			pools("min=2 a:10.0.0.1+ b:10.0.0.2-", "c:10.0.1.1+"), []string{"10.0.1.1"}, "p2", false, nil, 0},
		{"failover: first pool all down", rec("A", "failover", "serve-all", 0),
			pools("a:10.0.0.1- b:10.0.0.2-", "c:10.0.1.1+ d:10.0.1.2+"), []string{"10.0.1.1", "10.0.1.2"}, "p2", false, nil, 0},
		{"failover: nothing healthy, serve-all fails open", rec("A", "failover", "serve-all", 0),
			pools("a:10.0.0.1-", "c:10.0.1.1-"), []string{"10.0.0.1", "10.0.1.1"}, "", true, nil, 0},
		{"failover: nothing healthy, serve-last-pool", rec("A", "failover", "serve-last-pool", 0),
			pools("a:10.0.0.1-", "c:10.0.1.1- d:10.0.1.2-"), []string{"10.0.1.1", "10.0.1.2"}, "", true, nil, 0},
		{"failover: no pool reaches min_healthy though some are up", rec("A", "failover", "serve-all", 0),
			pools("min=2 a:10.0.0.1+ b:10.0.0.2-", "min=2 c:10.0.1.1+ d:10.0.1.2-"), []string{"10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.1.2"}, "", true, nil, 0},
		{"all: every healthy member", rec("A", "all", "serve-all", 0),
			pools("a:10.0.0.1+ b:10.0.0.2-", "c:10.0.1.1+"), []string{"10.0.0.1", "10.0.1.1"}, "", false, nil, 0},
		{"all: the same address in two pools once", rec("A", "all", "serve-all", 0),
			pools("a:10.0.0.1+", "a2:10.0.0.1+ c:10.0.1.1+"), []string{"10.0.0.1", "10.0.1.1"}, "", false, nil, 0},
		{"weighted: healthy members with weights", rec("A", "weighted", "serve-all", 1),
			pools("a:10.0.0.1+,w=3 b:10.0.0.2-,w=5", "c:10.0.1.1+,w=1"), []string{"10.0.0.1", "10.0.1.1"}, "", false,
			map[string]uint32{"10.0.0.1": 3, "10.0.1.1": 1}, 1},
		{"weighted: nothing healthy keeps weights", rec("A", "weighted", "serve-all", 0),
			pools("a:10.0.0.1-,w=3", "c:10.0.1.1-,w=1"), []string{"10.0.0.1", "10.0.1.1"}, "", true,
			map[string]uint32{"10.0.0.1": 3, "10.0.1.1": 1}, 0},
		{"CNAME failover: one target", rec("CNAME", "failover", "serve-all", 0),
			pools("a:a.cdn.example.+ b:b.cdn.example.+", "c:c.cdn.example.+"), []string{"a.cdn.example."}, "p1", false, nil, 0},
		{"CNAME all down: one target", rec("CNAME", "failover", "serve-all", 0),
			pools("a:a.cdn.example.-", "c:c.cdn.example.-"), []string{"a.cdn.example."}, "", true, nil, 0},
		{"CNAME weighted: one pick per response", rec("CNAME", "weighted", "serve-all", 0),
			pools("a:a.cdn.example.+,w=2 c:c.cdn.example.+,w=1"), []string{"a.cdn.example.", "c.cdn.example."}, "", false,
			map[string]uint32{"a.cdn.example.": 2, "c.cdn.example.": 1}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Steer(tc.rec, tc.pools)
			if !slices.Equal(a.Addresses, tc.want) {
				t.Errorf("addresses: got %v, want %v", a.Addresses, tc.want)
			}
			if a.Pool != tc.wantPool || a.AllDown != tc.wantAll || a.MaxAnswers != tc.wantMax {
				t.Errorf("pool/allDown/max: got %q/%v/%d, want %q/%v/%d", a.Pool, a.AllDown, a.MaxAnswers, tc.wantPool, tc.wantAll, tc.wantMax)
			}
			if !maps.Equal(a.Weights, tc.wantWeight) {
				t.Errorf("weights: got %v, want %v", a.Weights, tc.wantWeight)
			}
			if len(a.Addresses) == 0 {
				t.Errorf("empty answer: a managed name must never be answered empty")
			}
			if len(a.Endpoints) != len(a.Addresses) {
				t.Errorf("endpoints %v do not match addresses %v", a.Endpoints, a.Addresses)
			}
		})
	}
}

// TestSteerNeverEmpty checks invariant 1 over every health combination of
// a three-pool record, for every steering and when_all_down rule.
func TestSteerNeverEmpty(t *testing.T) {
	base := pools("min=2 a:10.0.0.1+ b:10.0.0.2+", "c:10.0.1.1+", "d:10.0.2.1+ e:10.0.2.2+")
	for _, steering := range []string{"failover", "all", "weighted"} {
		for _, rule := range []string{"serve-all", "serve-last-pool"} {
			for mask := 0; mask < 1<<5; mask++ {
				ps := make([]PoolInput, len(base))
				bit := 0
				for i, p := range base {
					ps[i] = p
					ps[i].Members = slices.Clone(p.Members)
					for j := range ps[i].Members {
						ps[i].Members[j].Up = mask&(1<<bit) != 0
						bit++
					}
				}
				a := Steer(&config.Record{Type: "A", Steering: steering, WhenAllDown: rule}, ps)
				if len(a.Addresses) == 0 {
					t.Fatalf("%s/%s mask %05b: empty answer", steering, rule, mask)
				}
				if mask == 0 && !a.AllDown {
					t.Errorf("%s/%s: nothing healthy but AllDown is false", steering, rule)
				}
			}
		}
	}
}

// TestGuardWindow: failures of one event committed as separate entries
// within the window count together; after the window the baseline moves
// on, so capacity goes at most threshold per window.
func TestGuardWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	eps := []string{"a", "b", "c", "d"}
	const window = 10 * time.Second
	down := func(ds ...string) map[string]bool {
		m := map[string]bool{}
		for _, e := range eps {
			m[e] = !slices.Contains(ds, e)
		}
		return m
	}
	steps := []struct {
		after    time.Duration
		up       map[string]bool
		wantHeld []string
	}{
		{0, down(), nil},                                                      // baseline: all four
		{10 * time.Millisecond, down("a"), nil},                               // 1 of 4
		{20 * time.Millisecond, down("a", "b"), nil},                          // 2 of 4: not more than half
		{30 * time.Millisecond, down("a", "b", "c"), []string{"a", "b", "c"}}, // 3 of 4 within the window: held
		{40 * time.Millisecond, down("a", "b"), nil},                          // c back: 2 of 4, the hold ends
		{window + time.Second, down("a", "b"), nil},                           // the window has passed: baseline c, d
		{window + 2*time.Second, down("a", "b", "c"), nil},                    // 1 of the 2 accepted: not more than half
	}
	mem := raft.RecordMemory{}
	for i, st := range steps {
		g := Guard(mem, eps, st.up, 0.5, window, nil, false, t0.Add(st.after))
		if !slices.Equal(g.Held, st.wantHeld) {
			t.Errorf("step %d (+%s): held %v, want %v", i, st.after, g.Held, st.wantHeld)
		}
		mem = g.Memory
	}
	// The same failures with no window are accepted one entry at a time.
	mem = raft.RecordMemory{}
	for i, st := range steps[:4] {
		g := Guard(mem, eps, st.up, 0.5, 0, nil, false, t0.Add(st.after))
		if len(g.Held) != 0 {
			t.Errorf("window 0, step %d: held %v, want none", i, g.Held)
		}
		mem = g.Memory
	}
}

func TestGuard(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	eps := []string{"a", "b", "c", "d"}
	upExcept := func(down ...string) map[string]bool {
		m := map[string]bool{}
		for _, e := range eps {
			m[e] = !slices.Contains(down, e)
		}
		return m
	}
	fresh := raft.RecordMemory{}
	settled := func(baseline ...string) raft.RecordMemory {
		return raft.RecordMemory{Endpoints: eps, Baseline: baseline}
	}
	cases := []struct {
		name      string
		mem       raft.RecordMemory
		up        map[string]bool
		threshold float64
		exempt    map[string]bool
		released  bool
		wantHeld  []string
		wantPanic bool
		wantBase  []string
		started   bool
		ended     bool
	}{
		{"all up from fresh", fresh, upExcept(), 0.5, nil, false, nil, false, eps, false, false},
		{"half down at once is not more than half", settled(eps...), upExcept("a", "b"), 0.5, nil, false, nil, false, []string{"c", "d"}, false, false},
		{"three of four down at once holds", settled(eps...), upExcept("a", "b", "c"), 0.5, nil, false, []string{"a", "b", "c"}, true, eps, true, false},
		{"gradual loss is allowed step by step", settled("c", "d"), upExcept("a", "b", "c"), 0.5, nil, false, nil, false, []string{"d"}, false, false},
		{"hold continues against the same baseline", raft.RecordMemory{Endpoints: eps, Baseline: eps, Panic: true, Since: at.Add(-time.Minute)}, upExcept("a", "b", "c"), 0.5, nil, false,
			[]string{"a", "b", "c"}, true, eps, false, false},
		{"recovery below the threshold ends the hold", raft.RecordMemory{Endpoints: eps, Baseline: eps, Panic: true}, upExcept("a"), 0.5, nil, false, nil, false, []string{"b", "c", "d"}, false, true},
		{"operator release accepts the loss", raft.RecordMemory{Endpoints: eps, Baseline: eps, Panic: true}, upExcept("a", "b", "c"), 0.5, nil, true, nil, false, []string{"d"}, false, true},
		{"drill endpoints are exempt", settled(eps...), upExcept("a", "b", "c"), 0.5, map[string]bool{"a": true, "b": true}, false, nil, false, []string{"d"}, false, false},
		{"threshold 1 never holds", settled(eps...), upExcept("a", "b", "c", "d"), 1, nil, false, nil, false, nil, false, false},
		{"threshold 0 holds on any loss", settled(eps...), upExcept("d"), 0, nil, false, []string{"d"}, true, eps, true, false},
		{"new endpoints start in the baseline", raft.RecordMemory{Endpoints: []string{"a", "b"}, Baseline: []string{"a", "b"}}, upExcept("c", "d"), 0.25, nil, false,
			[]string{"c", "d"}, true, eps, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := Guard(tc.mem, eps, tc.up, tc.threshold, 0, tc.exempt, tc.released, at)
			if !slices.Equal(g.Held, tc.wantHeld) || g.Memory.Panic != tc.wantPanic || !slices.Equal(g.Memory.Baseline, tc.wantBase) {
				t.Errorf("got held=%v panic=%v baseline=%v, want held=%v panic=%v baseline=%v",
					g.Held, g.Memory.Panic, g.Memory.Baseline, tc.wantHeld, tc.wantPanic, tc.wantBase)
			}
			if g.Started != tc.started || g.Ended != tc.ended {
				t.Errorf("started/ended: got %v/%v, want %v/%v", g.Started, g.Ended, tc.started, tc.ended)
			}
			for _, e := range tc.wantHeld {
				if !g.Up[e] {
					t.Errorf("held endpoint %s not served", e)
				}
			}
			if g.Started && !g.Memory.Since.Equal(at) {
				t.Errorf("hold start time: got %v, want %v", g.Memory.Since, at)
			}
			if tc.mem.Panic && g.Memory.Panic && !g.Memory.Since.Equal(tc.mem.Since) {
				t.Errorf("a continuing hold changed its start time: got %v, want %v", g.Memory.Since, tc.mem.Since)
			}
		})
	}
}
