package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr bool
	}{
		{"endpoint:a1", Scope{Kind: ScopeEndpoint, Name: "a1"}, false},
		{"pool:aws", Scope{Kind: ScopePool, Name: "aws"}, false},
		{"region:aws/us-east-1", Scope{Kind: ScopeRegion, Name: "aws", Region: "us-east-1"}, false},
		{"cloud:gcp", Scope{Kind: ScopeCloud, Name: "gcp"}, false},
		{"provider:route53-main", Scope{Kind: ScopeProvider, Name: "route53-main"}, false},
		{"region:aws", Scope{}, true},
		{"region:/r1", Scope{}, true},
		{"cloud:aws/r1", Scope{}, true},
		{"zone:x", Scope{}, true},
		{"endpoint:", Scope{}, true},
		{"a1", Scope{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, raft.ErrInvalid) {
					t.Errorf("got error %v, want one wrapping raft.ErrInvalid", err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String: got %q, want %q", got.String(), tt.in)
			}
		})
	}
}

const drillPolicy = `
zones:
  - name: example.com.
    providers: [embedded, p1, p2]
    nameservers: [ns1.example.com.]
providers:
  p1: {type: rfc2136, server: 127.0.0.1:53}
  p2: {type: rfc2136, server: 127.0.0.1:54}
checks:
  web: {type: http, interval: 1s, timeout: 500ms}
endpoints:
  - {name: a1, address: 10.0.0.1, cloud: aws, region: r1, check: web}
  - {name: a2, address: 10.0.0.2, cloud: aws, region: r1, check: web}
  - {name: a3, address: 10.0.0.3, cloud: aws, region: r2, check: web}
  - {name: g1, address: 10.1.0.1, cloud: gcp, region: r3, check: web}
pools:
  aws1: {endpoints: [a1, a2]}
  aws2: {endpoints: [a3]}
  gcp: {endpoints: [g1]}
records:
  - {name: www.example.com., type: A, ttl: 30, pools: [aws1, gcp]}
  - {name: all.example.com., type: A, ttl: 30, steering: all, pools: [aws1, aws2, gcp]}
`

func TestScopeResolve(t *testing.T) {
	p := mustPolicy(t, drillPolicy)
	tests := []struct {
		scope    string
		eps      []string
		provider string
		wantErr  bool
	}{
		{"endpoint:a2", []string{"a2"}, "", false},
		{"pool:aws1", []string{"a1", "a2"}, "", false},
		{"region:aws/r1", []string{"a1", "a2"}, "", false},
		{"region:aws/r2", []string{"a3"}, "", false},
		{"cloud:aws", []string{"a1", "a2", "a3"}, "", false},
		{"cloud:gcp", []string{"g1"}, "", false},
		{"provider:p2", nil, "p2", false},
		{"provider:embedded", nil, "", true},
		{"provider:nope", nil, "", true},
		{"endpoint:zz", nil, "", true},
		{"region:gcp/r1", nil, "", true},
		{"pool:none", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			sc, err := ParseScope(tt.scope)
			if err != nil {
				t.Fatal(err)
			}
			eps, prov, err := sc.Resolve(p)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(eps, tt.eps) || prov != tt.provider {
				t.Errorf("got %v %q, want %v %q", eps, prov, tt.eps, tt.provider)
			}
		})
	}
}

func TestCheckGuardRails(t *testing.T) {
	p := mustPolicy(t, drillPolicy)
	running := []*raft.Drill{{ID: "d0", Scope: "region:aws/r1", Endpoints: []string{"a1", "a2"}}}
	provRunning := []*raft.Drill{{ID: "d0", Scope: "provider:p1", Provider: "p1"}}
	tests := []struct {
		name   string
		up     map[string]bool
		active []*raft.Drill
		target DrillTarget
		refuse string // substring of the error; "" accepts
	}{
		{"one region with another healthy", nil, nil, DrillTarget{ID: "d1", Scope: "region:aws/r1", Endpoints: []string{"a1", "a2"}}, ""},
		{"gcp down already, aws r1 drilled leaves www with nothing", map[string]bool{"g1": false}, nil, DrillTarget{ID: "d1", Scope: "region:aws/r1", Endpoints: []string{"a1", "a2"}}, "www.example.com. A"},
		{"forced", map[string]bool{"g1": false}, nil, DrillTarget{ID: "d1", Scope: "region:aws/r1", Endpoints: []string{"a1", "a2"}, Force: true}, ""},
		{"whole fleet", nil, nil, DrillTarget{ID: "d1", Scope: "cloud:x", Endpoints: []string{"a1", "a2", "a3", "g1"}}, "no healthy pool"},
		{"record already without a healthy pool is not the drill's doing", map[string]bool{"a1": false, "a2": false, "a3": false, "g1": false}, nil, DrillTarget{ID: "d1", Scope: "endpoint:a1", Endpoints: []string{"a1"}}, ""},
		{"overlap with a running drill", nil, running, DrillTarget{ID: "d1", Scope: "endpoint:a2", Endpoints: []string{"a2"}}, "already covers a2"},
		{"overlap refused even when forced", nil, running, DrillTarget{ID: "d1", Scope: "cloud:aws", Endpoints: []string{"a1", "a2", "a3"}, Force: true}, "overlapping"},
		{"disjoint drills run together", nil, running, DrillTarget{ID: "d1", Scope: "region:aws/r2", Endpoints: []string{"a3"}}, ""},
		{"same provider twice", nil, provRunning, DrillTarget{ID: "d1", Scope: "provider:p1", Provider: "p1"}, "one drill per scope"},
		{"another provider", nil, provRunning, DrillTarget{ID: "d1", Scope: "provider:p2", Provider: "p2"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckGuardRails(p, tt.up, tt.active, tt.target)
			switch {
			case tt.refuse == "" && err != nil:
				t.Fatalf("got %v, want accepted", err)
			case tt.refuse != "" && err == nil:
				t.Fatalf("got accepted, want refused with %q", tt.refuse)
			case err != nil && (!strings.Contains(err.Error(), tt.refuse) || !errors.Is(err, raft.ErrConflict)):
				t.Fatalf("got %v, want a raft.ErrConflict saying %q", err, tt.refuse)
			}
		})
	}
}

func drillCmd(s raft.DrillStep) raft.Command {
	return raft.Command{Type: raft.CmdDrill, By: "op", Drill: &s}
}

// tryApply applies l and returns the rejection, if any.
func tryApply(f *raft.FSM, l *hraft.Log) error {
	if r := f.Apply(l); r != nil {
		if ae, ok := r.(*raft.ApplyError); ok && ae != nil {
			return ae
		}
	}
	return nil
}

// TestDrillSimulatedInFSM: a simulated drill's steps are facts; once
// injected the scoped endpoints are down in the derivation (and traffic
// moves), the guard rails are checked when the start is applied, the
// restore brings them back, and snapshots carry the drills.
func TestDrillSimulatedInFSM(t *testing.T) {
	p := mustPolicy(t, drillPolicy)
	f := raft.NewFSM(NewDeriver())
	b := &logBuilder{at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	apply(t, f, b.entry(t, policyCmd(p)))
	apply(t, f, b.entry(t, verdicts("n1", true, nil)))
	if got := answer(t, stateOf(t, f), "www.example.com."); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Fatalf("before: got www %v, want the aws r1 pool", got)
	}
	deadline := b.at.Add(time.Hour)
	apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d1", Step: raft.StepStart, Scope: "region:aws/r1", Mode: raft.DrillSimulated, Deadline: deadline})))
	if st := stateOf(t, f); !st.Health["a1"].Up {
		t.Fatalf("after start, before inject: got a1 down, want up (the leader's inject step switches the failure on)")
	}
	// Guard rails at apply time.
	for _, tc := range []struct {
		name string
		s    raft.DrillStep
		want error
	}{
		{"overlapping scope", raft.DrillStep{ID: "d2", Step: raft.StepStart, Scope: "endpoint:a1", Mode: raft.DrillSimulated, Deadline: deadline}, raft.ErrConflict},
		{"same id", raft.DrillStep{ID: "d1", Step: raft.StepStart, Scope: "endpoint:g1", Mode: raft.DrillLive, Deadline: deadline}, raft.ErrConflict},
		{"bad scope", raft.DrillStep{ID: "d3", Step: raft.StepStart, Scope: "rack:7", Mode: raft.DrillLive, Deadline: deadline}, raft.ErrInvalid},
		{"bad mode", raft.DrillStep{ID: "d3", Step: raft.StepStart, Scope: "endpoint:g1", Mode: "chaos", Deadline: deadline}, raft.ErrInvalid},
		{"deadline in the past", raft.DrillStep{ID: "d3", Step: raft.StepStart, Scope: "endpoint:g1", Mode: raft.DrillLive, Deadline: b.at}, raft.ErrInvalid},
		{"end before restore", raft.DrillStep{ID: "d1", Step: raft.StepEnded}, raft.ErrConflict},
		{"unknown drill", raft.DrillStep{ID: "zz", Step: raft.StepAborted}, raft.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tryApply(f, b.entry(t, drillCmd(tc.s)))
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d1", Step: raft.StepInject})))
	injectIndex := b.index
	st := stateOf(t, f)
	for _, ep := range []string{"a1", "a2"} {
		if d := st.Health[ep]; d.Up || d.Drill != "d1" {
			t.Errorf("injected: got %s up=%v drill=%q, want down by d1", ep, d.Up, d.Drill)
		}
	}
	if got := answer(t, st, "www.example.com."); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Errorf("injected: got www %v, want [10.1.0.1]", got)
	}
	// With aws r1 down by the drill, a gcp drill would leave www empty.
	if err := tryApply(f, b.entry(t, drillCmd(raft.DrillStep{ID: "d4", Step: raft.StepStart, Scope: "cloud:gcp", Mode: raft.DrillLive, Deadline: deadline}))); !errors.Is(err, raft.ErrConflict) {
		t.Errorf("gcp drill while aws r1 is drilled: got %v, want refused", err)
	}
	apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d1", Step: raft.StepObserved, Phase: PhaseInject, What: ObserveConsensus, Subject: "a1,a2", Index: injectIndex})))
	if err := tryApply(f, b.entry(t, drillCmd(raft.DrillStep{ID: "d1", Step: raft.StepObserved, Phase: PhaseInject, What: ObserveConsensus, Subject: "a1,a2"}))); !errors.Is(err, raft.ErrConflict) {
		t.Errorf("same observation twice: got %v, want conflict", err)
	}

	r := replicaFrom(t, f)
	var rd *raft.Drill
	r.Read(func(fa *raft.Facts, _ *raft.Memory, _ uint64) { rd = fa.Drills["d1"].Clone() })
	if got := stepKinds(rd); !slices.Equal(got, []string{"start", "inject", "observed"}) || !rd.Deadline.Equal(deadline) || !slices.Equal(rd.Endpoints, []string{"a1", "a2"}) {
		t.Errorf("restored snapshot: got steps %v deadline %s endpoints %v, want start,inject,observed %s [a1 a2]", got, rd.Deadline, rd.Endpoints, deadline)
	}
	if d := stateOf(t, r).Health["a1"]; d.Up || d.Drill != "d1" {
		t.Errorf("replica: got a1 up=%v drill=%q, want down by d1", d.Up, d.Drill)
	}

	apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d1", Step: raft.StepRestored})))
	st = stateOf(t, f)
	if !st.Health["a1"].Up || st.Health["a1"].Drill != "" {
		t.Errorf("restored: got a1 %+v, want up", st.Health["a1"])
	}
	if got := answer(t, st, "www.example.com."); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Errorf("restored: got www %v, want the aws r1 pool back", got)
	}
	if err := tryApply(f, b.entry(t, drillCmd(raft.DrillStep{ID: "d1", Step: raft.StepAborted}))); !errors.Is(err, raft.ErrConflict) {
		t.Errorf("abort after restore: got %v, want conflict", err)
	}
	apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d1", Step: raft.StepEnded})))
	if n := len(stateOf(t, f).Drills); n != 0 {
		t.Errorf("ended: got %d active drills, want 0", n)
	}
	// Now the same scope may be drilled again.
	apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d5", Step: raft.StepStart, Scope: "endpoint:a1", Mode: raft.DrillLive, Deadline: b.at.Add(time.Hour)})))
}

func stepKinds(d *raft.Drill) []string {
	var out []string
	for _, s := range d.Steps {
		out = append(out, s.Step)
	}
	return out
}

// TestDrillEndedArePruned: the facts keep the last 50 ended drills, so
// snapshots do not grow with history.
func TestDrillEndedArePruned(t *testing.T) {
	p := mustPolicy(t, drillPolicy)
	f := raft.NewFSM(NewDeriver())
	b := &logBuilder{at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	apply(t, f, b.entry(t, policyCmd(p)))
	for i := range 60 {
		id := fmt.Sprintf("d%02d", i)
		apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: id, Step: raft.StepStart, Scope: "endpoint:a1", Mode: raft.DrillLive, Deadline: b.at.Add(time.Hour)})))
		apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: id, Step: raft.StepAborted})))
		apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: id, Step: raft.StepEnded})))
	}
	f.Read(func(fa *raft.Facts, _ *raft.Memory, _ uint64) {
		if len(fa.Drills) != 50 {
			t.Errorf("got %d drills kept, want 50", len(fa.Drills))
		}
		if fa.Drills["d09"] != nil || fa.Drills["d10"] == nil || fa.Drills["d59"] == nil {
			t.Errorf("got the wrong drills kept: d09 %v d10 %v d59 %v, want only d10..d59", fa.Drills["d09"] != nil, fa.Drills["d10"] != nil, fa.Drills["d59"] != nil)
		}
	})
}

const panicPolicy = `
zones:
  - name: example.com.
    providers: [embedded]
    nameservers: [ns1.example.com.]
checks:
  web: {type: http, interval: 1s, timeout: 500ms}
endpoints:
  - {name: a1, address: 10.0.0.1, cloud: aws, region: r1, check: web}
  - {name: a2, address: 10.0.0.2, cloud: aws, region: r1, check: web}
  - {name: a3, address: 10.0.0.3, cloud: aws, region: r1, check: web}
  - {name: g1, address: 10.1.0.1, cloud: gcp, region: r2, check: web}
pools:
  all: {endpoints: [a1, a2, a3, g1]}
records:
  - {name: www.example.com., type: A, ttl: 30, steering: all, pools: [all]}
`

// TestDrillPanicExemption: three of four endpoints going down at once
// trips the panic guard when the observers say so, but not when a drill
// takes them down; the threshold still applies to the rest.
func TestDrillPanicExemption(t *testing.T) {
	p := mustPolicy(t, panicPolicy)
	tests := []struct {
		name      string
		drill     string // scope of a simulated drill, "" for none
		down      map[string]bool
		wantPanic bool
		want      []string
	}{
		{"observers take three down: held", "", map[string]bool{"a1": false, "a2": false, "a3": false}, true, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.1.0.1"}},
		{"a drill takes three down: not held", "region:aws/r1", nil, false, []string{"10.1.0.1"}},
		{"a drill takes one, observers three more: held for theirs only", "endpoint:g1", map[string]bool{"a1": false, "a2": false, "a3": false}, true, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := raft.NewFSM(NewDeriver())
			b := &logBuilder{at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			apply(t, f, b.entry(t, policyCmd(p)))
			apply(t, f, b.entry(t, verdicts("n1", true, nil)))
			if tt.drill != "" {
				apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d", Step: raft.StepStart, Scope: tt.drill, Mode: raft.DrillSimulated, Deadline: b.at.Add(time.Hour)})))
				apply(t, f, b.entry(t, drillCmd(raft.DrillStep{ID: "d", Step: raft.StepInject})))
			}
			if tt.down != nil {
				apply(t, f, b.entry(t, verdicts("n1", false, tt.down)))
			}
			st := stateOf(t, f)
			rs := st.Records[zone.Key{Name: "www.example.com.", Type: dns.TypeA}]
			if rs.Panic != tt.wantPanic {
				t.Errorf("got panic %v (held %v), want %v", rs.Panic, rs.Held, tt.wantPanic)
			}
			if got := answer(t, st, "www.example.com."); !slices.Equal(got, tt.want) {
				t.Errorf("got www %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDrillSteps: what the leader commits for a drill, from the facts.
func TestDrillSteps(t *testing.T) {
	p := mustPolicy(t, drillPolicy)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	start := raft.DrillRecord{Step: raft.StepStart, At: at(0), Index: 10}
	inject := raft.DrillRecord{Step: raft.StepInject, At: at(1), Index: 11}
	restored := raft.DrillRecord{Step: raft.StepRestored, At: at(60), Index: 50}
	obs := func(phase, what, subject string) raft.DrillRecord {
		return raft.DrillRecord{Step: raft.StepObserved, Phase: phase, What: what, Subject: subject}
	}
	drill := func(mode string, steps ...raft.DrillRecord) *raft.Drill {
		return &raft.Drill{ID: "d", Scope: "region:aws/r1", Mode: mode, Endpoints: []string{"a1", "a2"}, Deadline: at(60), Steps: steps}
	}
	provDrill := func(steps ...raft.DrillRecord) *raft.Drill {
		return &raft.Drill{ID: "d", Scope: "provider:p2", Mode: raft.DrillSimulated, Provider: "p2", Deadline: at(60), Steps: steps}
	}
	down := map[string]raft.HealthMemory{"a1": {Up: false, Since: at(1), Index: 11}, "a2": {Up: false, Since: at(1), Index: 11}}
	upAgain := map[string]raft.HealthMemory{"a1": {Up: true, Since: at(60), Index: 50}, "a2": {Up: true, Since: at(60), Index: 50}}
	gen3 := map[string]raft.ZoneMemory{"example.com.": {Generation: 3, Since: at(1), Index: 11}}
	gen4 := map[string]raft.ZoneMemory{"example.com.": {Generation: 4, Since: at(60), Index: 50}}
	p1done := map[string]raft.SyncStatus{"p1 example.com.": {Applied: 3, Verified: 3, At: at(2)}, "p2 example.com.": {Applied: 3, At: at(3)}}
	allDone4 := map[string]raft.SyncStatus{"p1 example.com.": {Applied: 4, Verified: 4, At: at(61)}, "p2 example.com.": {Applied: 4, Verified: 4, At: at(62)}}
	type step struct{ step, what, subject string }
	tests := []struct {
		name   string
		in     DrillInput
		want   []step
		wantAt []time.Time // When of observed steps, in order
	}{
		{"simulated start: inject", DrillInput{Drill: drill(raft.DrillSimulated, start), Now: at(0)}, []step{{"inject", "", ""}}, nil},
		{"live start: nothing injected, waits for the consensus", DrillInput{Drill: drill(raft.DrillLive, start), Health: map[string]raft.HealthMemory{"a1": {Up: true}, "a2": {Up: true}}, Now: at(5)}, nil, nil},
		{"live: consensus down seen at its own time", DrillInput{Drill: drill(raft.DrillLive, start), Health: map[string]raft.HealthMemory{"a1": {Up: false, Since: at(7), Index: 20}, "a2": {Up: false, Since: at(8), Index: 21}}, Now: at(9)},
			[]step{{"observed", ObserveConsensus, "a1,a2"}}, []time.Time{at(8)}},
		{"injected: consensus, generation, providers as far as they got", DrillInput{Drill: drill(raft.DrillSimulated, start, inject), Health: down, Zones: gen3, Sync: p1done, Now: at(4)},
			[]step{{"observed", ObserveConsensus, "a1,a2"}, {"observed", ObserveGeneration, "example.com."}, {"observed", ObserveApplied, "p1 example.com."}, {"observed", ObserveVerified, "p1 example.com."}, {"observed", ObserveApplied, "p2 example.com."}},
			[]time.Time{at(1), at(1), at(2), at(2), at(3)}},
		{"already recorded steps are not repeated", DrillInput{Drill: drill(raft.DrillSimulated, start, inject, obs(PhaseInject, ObserveConsensus, "a1,a2"), obs(PhaseInject, ObserveGeneration, "example.com.")), Health: down, Zones: gen3, Sync: p1done, Now: at(4)},
			[]step{{"observed", ObserveApplied, "p1 example.com."}, {"observed", ObserveVerified, "p1 example.com."}, {"observed", ObserveApplied, "p2 example.com."}}, nil},
		{"deadline: restored", DrillInput{Drill: drill(raft.DrillSimulated, start, inject), Health: down, Zones: gen3, Now: at(60)}, []step{{"restored", "", ""}}, nil},
		{"restore seen everywhere: ended", DrillInput{Drill: drill(raft.DrillSimulated, start, inject, restored), Health: upAgain, Zones: gen4, Sync: allDone4, Now: at(63)},
			[]step{{"observed", ObserveConsensus, "a1,a2"}, {"observed", ObserveGeneration, "example.com."}, {"observed", ObserveApplied, "p1 example.com."}, {"observed", ObserveVerified, "p1 example.com."}, {"observed", ObserveApplied, "p2 example.com."}, {"observed", ObserveVerified, "p2 example.com."}, {"ended", "", ""}},
			[]time.Time{at(60), at(60), at(61), at(61), at(62), at(62)}},
		{"restore not verified: waits", DrillInput{Drill: drill(raft.DrillSimulated, start, inject, restored, obs(PhaseRestore, ObserveConsensus, "a1,a2"), obs(PhaseRestore, ObserveGeneration, "example.com.")), Health: upAgain, Zones: gen4, Sync: p1done, Now: at(70)}, nil, nil},
		{"restore not verified after the grace: ended anyway", DrillInput{Drill: drill(raft.DrillSimulated, start, inject, restored, obs(PhaseRestore, ObserveConsensus, "a1,a2"), obs(PhaseRestore, ObserveGeneration, "example.com.")), Health: upAgain, Zones: gen4, Sync: p1done, Now: at(60).Add(DrillEndGrace + time.Second)}, []step{{"ended", "", ""}}, nil},
		{"provider drill: its failure observed at the sync's time", DrillInput{Drill: provDrill(start, inject), Zones: gen3, Sync: map[string]raft.SyncStatus{"p2 example.com.": {Applied: 2, Verified: 2, At: at(2), Error: "drill d"}}, Now: at(3)},
			[]step{{"observed", ObserveFailing, "p2 example.com."}}, []time.Time{at(2)}},
		{"provider drill restored: waits for the provider to catch up", DrillInput{Drill: provDrill(start, inject, restored), Zones: gen3, Sync: map[string]raft.SyncStatus{"p2 example.com.": {Applied: 2, Verified: 2, At: at(2), Error: "drill d"}}, Now: at(61)}, nil, nil},
		{"provider drill restored: caught up, ended", DrillInput{Drill: provDrill(start, inject, restored), Zones: gen3, Sync: map[string]raft.SyncStatus{"p2 example.com.": {Applied: 3, Verified: 3, AppliedAt: at(61), At: at(62)}}, Now: at(63)},
			[]step{{"observed", ObserveApplied, "p2 example.com."}, {"observed", ObserveVerified, "p2 example.com."}, {"ended", "", ""}}, []time.Time{at(61), at(62)}},
		{"ended: nothing", DrillInput{Drill: drill(raft.DrillSimulated, start, inject, restored, raft.DrillRecord{Step: raft.StepEnded}), Now: at(100)}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Policy = p
			var got []step
			var gotAt []time.Time
			for _, s := range DrillSteps(tt.in) {
				got = append(got, step{s.Step, s.What, s.Subject})
				if s.Step == raft.StepObserved {
					gotAt = append(gotAt, s.When)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if tt.wantAt != nil && !slices.EqualFunc(gotAt, tt.wantAt, time.Time.Equal) {
				t.Errorf("got times %v, want %v", gotAt, tt.wantAt)
			}
		})
	}
}
