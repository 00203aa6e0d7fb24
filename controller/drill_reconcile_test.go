package controller

import (
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
