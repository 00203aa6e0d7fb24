package controller

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/raft"
)

// TestProviderDrillOthersKeepConverging: a provider drill makes the
// reconciler treat p2 as unavailable (its writes fail, the failure is
// committed as its sync error) while p1 and p3 converge on a health
// change; once the drill is restored p2 catches up.
func TestProviderDrillOthersKeepConverging(t *testing.T) {
	h := newHarness(t, "5s")
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)

	now := time.Now()
	h.cluster.must(t, raft.Command{Type: raft.CmdDrill, At: now, By: "op", Drill: &raft.DrillStep{ID: "d1", Step: raft.StepStart, Scope: "provider:p2", Mode: raft.DrillSimulated, Deadline: now.Add(time.Hour)}})
	h.cluster.must(t, raft.Command{Type: raft.CmdDrill, At: now, By: "n1", Drill: &raft.DrillStep{ID: "d1", Step: raft.StepInject}})
	if got := h.cluster.state().DrillProviders["p2"]; got != "d1" {
		t.Fatalf("got drilled provider p2 → %q, want d1", got)
	}

	h.verdicts(map[string]bool{"a1": false, "a2": false})
	g2 := h.gen()
	if g2 <= g1 {
		t.Fatalf("got generation %d after the health change, want more than %d", g2, g1)
	}
	h.waitConverged(5*time.Second, g2, "p1", "p3")
	waitFor(t, 5*time.Second, "p2's drill failure to be committed", func() bool {
		return strings.Contains(h.cluster.sync("p2", "example.com.").Error, "drill d1")
	})
	if _, fence := h.fakes["p2"].snapshot(); fence != g1 {
		t.Errorf("p2 during the drill: got fence %d, want %d (nothing written)", fence, g1)
	}
	if s := h.cluster.sync("p2", "example.com."); s.Applied != g1 {
		t.Errorf("p2 during the drill: got applied %d, want %d", s.Applied, g1)
	}

	h.cluster.must(t, raft.Command{Type: raft.CmdDrill, At: time.Now(), By: "n1", Drill: &raft.DrillStep{ID: "d1", Step: raft.StepRestored}})
	if got := h.cluster.state().DrillProviders["p2"]; got != "" {
		t.Fatalf("after the restore: got p2 drilled by %q, want none", got)
	}
	h.waitConverged(5*time.Second, g2, "p2")
	if s := h.cluster.sync("p2", "example.com."); s.Error != "" {
		t.Errorf("p2 after the restore: got error %q, want none", s.Error)
	}
}

// TestDrillLoopOnRealRaft: on a real single-node Raft with the
// reconciler writing to three fake providers, the leader's drill loop
// injects a simulated region drill, records the consensus, the generation
// and each provider's applied and verified sync, restores at the deadline,
// records the restore reaching every provider, and ends the drill.
func TestDrillLoopOnRealRaft(t *testing.T) {
	h := newHarness(t, "2s")
	n, cl, propose := realRaft(t)
	propose(raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: h.policy(30).JSON()}})
	h.opts.Cluster = cl
	h.start()
	node := NewNode(NodeOptions{ID: "n1", Raft: n, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan error, 1)
	go func() { loopDone <- node.drills(ctx) }()
	defer func() {
		cancel()
		<-loopDone
	}()
	gen := func() uint64 { st, _ := cl.Snapshot(); return st.Zone("example.com.").Generation }
	synced := func(g uint64) func() bool {
		return func() bool {
			_, syncs := cl.Snapshot()
			for _, p := range h.order {
				if s := syncs[raft.SyncKey(p, "example.com.")]; s.Applied != g || s.Verified != g {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 10*time.Second, "the first generation everywhere", synced(gen()))

	deadline := time.Now().Add(700 * time.Millisecond)
	propose(raft.Command{Type: raft.CmdDrill, By: "op", Drill: &raft.DrillStep{ID: "d1", Step: raft.StepStart, Scope: "region:aws/r1", Mode: raft.DrillSimulated, Deadline: deadline}})
	var d *raft.Drill
	waitFor(t, 15*time.Second, "the drill to end", func() bool {
		n.FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) { d = f.Drills["d1"].Clone() })
		return d.Ended()
	})
	for _, phase := range []string{PhaseInject, PhaseRestore} {
		if !d.Observed(phase, ObserveConsensus, "a1,a2") || !d.Observed(phase, ObserveGeneration, "example.com.") {
			t.Errorf("%s: got steps %v, want consensus and generation observed", phase, d.Steps)
		}
		for _, p := range h.order {
			for _, what := range []string{ObserveApplied, ObserveVerified} {
				if !d.Observed(phase, what, p+" example.com.") {
					t.Errorf("%s: no %s observed for %s", phase, what, p)
				}
			}
		}
	}
	r, _ := d.Step(raft.StepRestored)
	if r.By != "n1" || r.At.Before(deadline) {
		t.Errorf("got restored by %q at %s, want by n1 at or after the deadline %s", r.By, r.At, deadline)
	}
	inj, _ := d.Step(raft.StepInject)
	for _, s := range d.Steps {
		if s.Step == raft.StepObserved && s.Phase == PhaseInject {
			t.Logf("inject  %-10s %-16s +%s", s.What, s.Subject, s.When.Sub(inj.At).Round(10*time.Microsecond))
		}
		if s.Step == raft.StepObserved && s.Phase == PhaseRestore {
			t.Logf("restore %-10s %-16s +%s", s.What, s.Subject, s.When.Sub(r.At).Round(10*time.Microsecond))
		}
	}
	t.Logf("restored %s after the deadline", r.At.Sub(deadline).Round(10*time.Microsecond))
	// Every provider serves the original answer again.
	waitFor(t, 5*time.Second, "the last generation everywhere", synced(gen()))
	if got, _ := h.fakes["p1"].lookup(key("www.example.com.")); len(got.Data) != 2 || got.Data[0] != "10.0.0.1" {
		t.Errorf("p1 after the drill: got www %v, want the aws pool back", got.Data)
	}
}
