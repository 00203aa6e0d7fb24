package controller

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

const derivePolicy = `
consensus: {quorum: majority}
zones:
  - name: example.com.
    providers: [embedded]
    nameservers: [ns1.example.com.]
    static: ["ns1 3600 IN A 192.0.2.53", "@ 3600 IN MX 10 mx.example.com."]
checks:
  web: {type: http, interval: 1s, timeout: 500ms}
endpoints:
  - {name: a1, address: 10.0.0.1, cloud: aws, region: r1, check: web}
  - {name: a2, address: 10.0.0.2, cloud: aws, region: r1, check: web}
  - {name: g1, address: 10.1.0.1, cloud: gcp, region: r2, check: web}
  - {name: g2, address: 10.1.0.2, cloud: gcp, region: r2, check: web}
pools:
  aws: {endpoints: [a1, a2]}
  gcp: {endpoints: [g1, g2]}
records:
  - {name: www.example.com., type: A, ttl: 30, pools: [aws, gcp]}
  - {name: all.example.com., type: A, ttl: 30, steering: all, pools: [aws, gcp]}
`

func mustPolicy(t *testing.T, doc string) *config.Policy {
	t.Helper()
	cfg, err := config.Parse("policy.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return &cfg.Policy
}

// logBuilder makes Raft log entries from commands, with increasing
// indexes and timestamps.
type logBuilder struct {
	index uint64
	at    time.Time
}

func (b *logBuilder) entry(t *testing.T, c raft.Command) *hraft.Log {
	t.Helper()
	b.index++
	b.at = b.at.Add(time.Second)
	c.At = b.at
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return &hraft.Log{Index: b.index, Term: 1, Type: hraft.LogCommand, Data: data}
}

func policyCmd(p *config.Policy) raft.Command {
	return raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: p.JSON()}}
}

func verdicts(observer string, full bool, changes map[string]bool) raft.Command {
	vb := &raft.VerdictBatch{Observer: observer, Full: full}
	for _, ep := range slices.Sorted(mapKeys(changes)) {
		vb.Changes = append(vb.Changes, raft.VerdictChange{Endpoint: ep, Up: changes[ep], Reason: map[bool]string{false: "refused"}[changes[ep]]})
	}
	return raft.Command{Type: raft.CmdVerdicts, By: observer, Verdicts: vb}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func stateOf(t *testing.T, f *raft.FSM) *State {
	t.Helper()
	st, ok := f.View().Output.(*State)
	if !ok {
		t.Fatalf("view output is %T, want *State", f.View().Output)
	}
	return st
}

func answer(t *testing.T, st *State, name string) []string {
	t.Helper()
	z := st.Zone("example.com.")
	if z == nil {
		t.Fatalf("no zone example.com. at index %d", st.Index)
	}
	s, ok := z.Lookup(zone.Key{Name: name, Type: dns.TypeA})
	if !ok {
		t.Fatalf("no %s A at index %d", name, st.Index)
	}
	return s.Data
}

func apply(t *testing.T, f *raft.FSM, l *hraft.Log) {
	t.Helper()
	if r := f.Apply(l); r != nil {
		if ae, ok := r.(*raft.ApplyError); ok && ae != nil {
			t.Fatalf("apply index %d: %v", l.Index, ae)
		}
	}
}

// replicaFrom restores a snapshot of f into a fresh FSM, which derives
// everything from scratch.
func replicaFrom(t *testing.T, f *raft.FSM) *raft.FSM {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	r := raft.NewFSM(NewDeriver())
	if err := r.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	return r
}

type memSink struct{ bytes.Buffer }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }

func TestDeriveGenerationsAndSteering(t *testing.T) {
	p := mustPolicy(t, derivePolicy)
	f := raft.NewFSM(NewDeriver())
	b := &logBuilder{at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	steps := []struct {
		name    string
		cmd     raft.Command
		wantGen uint64
		wantWWW []string
		wantAll []string
	}{
		{"policy: everything up", policyCmd(p), 1, []string{"10.0.0.1", "10.0.0.2"}, []string{"10.0.0.1", "10.0.0.2", "10.1.0.1", "10.1.0.2"}},
		{"three observers report all up: no change", verdicts("n1", true, nil), 1, []string{"10.0.0.1", "10.0.0.2"}, nil},
		{"second observer", verdicts("n2", true, nil), 1, nil, nil},
		{"third observer", verdicts("n3", true, nil), 1, nil, nil},
		{"one observer says a1 down: no consensus, no new generation", verdicts("n1", false, map[string]bool{"a1": false}), 1, []string{"10.0.0.1", "10.0.0.2"}, nil},
		{"second observer agrees: a1 is down", verdicts("n2", false, map[string]bool{"a1": false}), 2, []string{"10.0.0.2"}, []string{"10.0.0.2", "10.1.0.1", "10.1.0.2"}},
		{"the same verdict again changes nothing", verdicts("n2", false, map[string]bool{"a1": false}), 2, []string{"10.0.0.2"}, nil},
		{"a2 down by two observers: failover to gcp", raft.Command{Type: raft.CmdVerdicts, By: "n1", Verdicts: &raft.VerdictBatch{Observer: "n1", Changes: []raft.VerdictChange{{Endpoint: "a2"}}}}, 2, nil, nil},
		{"n3 agrees on a2", verdicts("n3", false, map[string]bool{"a2": false}), 3, []string{"10.1.0.1", "10.1.0.2"}, []string{"10.1.0.1", "10.1.0.2"}},
		{"operator drains g1", raft.Command{Type: raft.CmdOverride, By: "op", Override: &raft.SetOverride{Endpoint: "g1", State: raft.OverrideDown}}, 4, []string{"10.1.0.2"}, nil},
		{"n2 sees both recover: a1 is up (1 of 3 down), a2 still down (n1, n3)", verdicts("n2", false, map[string]bool{"a1": true, "a2": true}), 5, []string{"10.0.0.1"}, nil},
		{"n1 sees them recover too: a2 back (1 of 3 down)", verdicts("n1", false, map[string]bool{"a1": true, "a2": true}), 6, []string{"10.0.0.1", "10.0.0.2"}, nil},
		{"a sync result derives nothing new", raft.Command{Type: raft.CmdSync, Sync: &raft.SyncStatus{Provider: "embedded", Zone: "example.com.", Applied: 6}}, 6, []string{"10.0.0.1", "10.0.0.2"}, nil},
	}
	for _, s := range steps {
		apply(t, f, b.entry(t, s.cmd))
		st := stateOf(t, f)
		z := st.Zone("example.com.")
		if z.Generation != s.wantGen {
			t.Errorf("%s: generation got %d, want %d", s.name, z.Generation, s.wantGen)
		}
		if z.SOARecord().Serial != uint32(s.wantGen) {
			t.Errorf("%s: SOA serial got %d, want the generation %d", s.name, z.SOARecord().Serial, s.wantGen)
		}
		if s.wantWWW != nil && !slices.Equal(answer(t, st, "www.example.com."), s.wantWWW) {
			t.Errorf("%s: www got %v, want %v", s.name, answer(t, st, "www.example.com."), s.wantWWW)
		}
		if s.wantAll != nil && !slices.Equal(answer(t, st, "all.example.com."), s.wantAll) {
			t.Errorf("%s: all got %v, want %v", s.name, answer(t, st, "all.example.com."), s.wantAll)
		}
		// Determinism: a replica that restores this state from a
		// snapshot and derives from scratch serves exactly the same.
		r := stateOf(t, replicaFrom(t, f))
		if len(r.Zones) != len(st.Zones) {
			t.Fatalf("%s: replica has %d zones, want %d", s.name, len(r.Zones), len(st.Zones))
		}
		for i := range st.Zones {
			if r.Zones[i].Generation != st.Zones[i].Generation || r.Zones[i].ContentHash() != st.Zones[i].ContentHash() {
				t.Errorf("%s: replica zone %s differs: generation %d vs %d", s.name, st.Zones[i].Origin, r.Zones[i].Generation, st.Zones[i].Generation)
			}
		}
	}
	// Static records and the apex NS are in the zone, managed keys listed.
	z := stateOf(t, f).Zone("example.com.")
	for _, k := range []zone.Key{{Name: "example.com.", Type: dns.TypeNS}, {Name: "example.com.", Type: dns.TypeMX}, {Name: "ns1.example.com.", Type: dns.TypeA}} {
		if _, ok := z.Lookup(k); !ok {
			t.Errorf("zone lacks %s", k)
		}
	}
	if want := []zone.Key{{Name: "all.example.com.", Type: dns.TypeA}, {Name: "www.example.com.", Type: dns.TypeA}}; !slices.Equal(z.Managed, want) {
		t.Errorf("managed: got %v, want %v", z.Managed, want)
	}
}

func TestDerivePanicHold(t *testing.T) {
	doc := `
zones: [{name: example.com., providers: [embedded], nameservers: [ns1.example.com.]}]
checks: {web: {type: http}}
endpoints:
  - {name: e1, address: 10.0.0.1, check: web}
  - {name: e2, address: 10.0.0.2, check: web}
  - {name: e3, address: 10.0.0.3, check: web}
  - {name: e4, address: 10.0.0.4, check: web}
pools: {p: {endpoints: [e1, e2, e3, e4]}}
records: [{name: www.example.com., type: A, steering: all, pools: [p]}]
`
	f := raft.NewFSM(NewDeriver())
	b := &logBuilder{at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	apply(t, f, b.entry(t, policyCmd(mustPolicy(t, doc))))
	apply(t, f, b.entry(t, verdicts("n1", true, nil)))
	// Three of four down in one step: more than 50%, the record holds.
	apply(t, f, b.entry(t, verdicts("n1", false, map[string]bool{"e1": false, "e2": false, "e3": false})))
	st := stateOf(t, f)
	rs := st.Records[zone.Key{Name: "www.example.com.", Type: dns.TypeA}]
	if !rs.Panic || !slices.Equal(rs.Held, []string{"e1", "e2", "e3"}) {
		t.Fatalf("panic hold: got panic=%v held=%v, want true [e1 e2 e3]", rs.Panic, rs.Held)
	}
	if got := answer(t, st, "www.example.com."); len(got) != 4 {
		t.Errorf("held record answer: got %v, want all four", got)
	}
	if !hasEvent(st, EventPanicHold) {
		t.Errorf("no %s event", EventPanicHold)
	}
	// The operator releases the hold: the record accepts the loss.
	apply(t, f, b.entry(t, raft.Command{Type: raft.CmdRelease, By: "op", Release: &raft.Release{Record: "www.example.com. A"}}))
	st = stateOf(t, f)
	if got := answer(t, st, "www.example.com."); !slices.Equal(got, []string{"10.0.0.4"}) {
		t.Errorf("after release: got %v, want [10.0.0.4]", got)
	}
	if !hasEvent(st, EventPanicEnd) {
		t.Errorf("no %s event", EventPanicEnd)
	}
}

func hasEvent(st *State, kind string) bool {
	for _, e := range st.Events {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func TestDerivePolicyChangeKeepsGenerationsGrowing(t *testing.T) {
	p := mustPolicy(t, derivePolicy)
	f := raft.NewFSM(NewDeriver())
	b := &logBuilder{at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	apply(t, f, b.entry(t, policyCmd(p)))
	// The same policy again: a new version, the same content, the same
	// generation.
	apply(t, f, b.entry(t, policyCmd(p)))
	if g := stateOf(t, f).Zone("example.com.").Generation; g != 1 {
		t.Errorf("same content under a new version: generation %d, want 1", g)
	}
	p2 := mustPolicy(t, derivePolicy)
	p2.Records[0].TTL = 60
	apply(t, f, b.entry(t, policyCmd(p2)))
	if g := stateOf(t, f).Zone("example.com.").Generation; g != 2 {
		t.Errorf("TTL change: generation %d, want 2", g)
	}
	// Removing the zone and adding it back continues its generations, so
	// a secondary's SOA serial never goes backwards: the same content
	// keeps its generation, other content gets the next one.
	p3 := mustPolicy(t, derivePolicy)
	p3.Zones[0].Name = "example.org."
	p3.Records = nil
	apply(t, f, b.entry(t, policyCmd(p3)))
	if z := stateOf(t, f).Zone("example.com."); z != nil {
		t.Fatalf("zone example.com. still served after its removal")
	}
	apply(t, f, b.entry(t, policyCmd(p2)))
	if g := stateOf(t, f).Zone("example.com.").Generation; g != 2 {
		t.Errorf("zone re-added with its last content: generation %d, want 2", g)
	}
	apply(t, f, b.entry(t, policyCmd(p)))
	if g := stateOf(t, f).Zone("example.com.").Generation; g != 3 {
		t.Errorf("zone with new content: generation %d, want 3", g)
	}
}

func TestDeriveRejectsBadCommands(t *testing.T) {
	f := raft.NewFSM(NewDeriver())
	b := &logBuilder{}
	p := mustPolicy(t, derivePolicy)
	apply(t, f, b.entry(t, policyCmd(p)))
	before := stateOf(t, f)
	cases := []struct {
		name string
		cmd  raft.Command
		want error
	}{
		{"override of an unknown endpoint", raft.Command{Type: raft.CmdOverride, Override: &raft.SetOverride{Endpoint: "nope", State: "down"}}, raft.ErrInvalid},
		{"bad override state", raft.Command{Type: raft.CmdOverride, Override: &raft.SetOverride{Endpoint: "a1", State: "sideways"}}, raft.ErrInvalid},
		{"stale policy version", raft.Command{Type: raft.CmdPolicy, Policy: &raft.SetPolicy{JSON: p.JSON(), Expect: 7}}, raft.ErrConflict},
		{"bootstrap when a policy exists", raft.Command{Type: raft.CmdPolicy, Policy: &raft.SetPolicy{JSON: p.JSON(), IfNone: true}}, raft.ErrConflict},
		{"invalid policy", raft.Command{Type: raft.CmdPolicy, Policy: &raft.SetPolicy{JSON: []byte(`{"records":[{"name":"x.example.net.","type":"A"}]}`)}}, raft.ErrInvalid},
		{"unknown command", raft.Command{Type: "teleport"}, raft.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.Apply(b.entry(t, tc.cmd))
			ae, ok := r.(*raft.ApplyError)
			if !ok || ae == nil {
				t.Fatalf("Apply: got %v, want an ApplyError", r)
			}
			if !errorsIs(ae, tc.want) {
				t.Errorf("Apply: got %v (%s), want %v", ae, ae.Code, tc.want)
			}
			if stateOf(t, f) != before {
				t.Errorf("a rejected command published a new state")
			}
		})
	}
}

func errorsIs(err, target error) bool {
	for e := err; e != nil; {
		if e == target {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
