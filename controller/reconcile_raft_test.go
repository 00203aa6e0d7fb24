package controller

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/raft"
)

// TestReconcilerOnRealRaft runs the reconciler through [NewRaftCluster] on
// a real single-node Raft: the policy and a health change reach the three
// providers, and the sync results are committed through the log.
func TestReconcilerOnRealRaft(t *testing.T) {
	h := newHarness(t, "2s")
	_, cl, propose := realRaft(t)
	propose(raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: h.policy(30).JSON()}})
	h.opts.Cluster = cl
	h.start()
	synced := func(gen uint64) func() bool {
		return func() bool {
			_, syncs := cl.Snapshot()
			for _, p := range h.order {
				s := syncs[raft.SyncKey(p, "example.com.")]
				if s.Applied != gen || s.Verified != gen {
					return false
				}
				if _, fence := h.fakes[p].snapshot(); fence != gen {
					return false
				}
			}
			return true
		}
	}
	gen := func() uint64 {
		st, _ := cl.Snapshot()
		return st.Zone("example.com.").Generation
	}
	waitFor(t, 10*time.Second, "the first generation everywhere", synced(gen()))
	propose(verdicts("n1", false, map[string]bool{"a1": false, "a2": false}))
	g2 := gen()
	if g2 < 2 {
		t.Fatalf("got generation %d, want at least 2", g2)
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "the health change everywhere", synced(g2))
	t.Logf("health change applied, verified and committed on 3 providers through real Raft in %s", time.Since(start))
}

// realRaft opens a single-node Raft cluster that leads, for tests that run
// controller code on the real log; propose commits a command on it.
func realRaft(t *testing.T) (n *raft.Node, cl Cluster, propose func(raft.Command)) {
	t.Helper()
	n, err := raft.Open(raft.Options{
		ID: "n1", DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Timeouts: config.RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 50 * time.Millisecond, Commit: 5 * time.Millisecond},
		FSM:      raft.NewFSM(NewDeriver()),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	waitFor(t, 5*time.Second, "leadership", n.IsLeader)
	cl = NewRaftCluster(n)
	propose = func(c raft.Command) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.At = time.Now()
		if _, err := cl.Propose(ctx, &c); err != nil {
			t.Fatalf("propose %s: %v", c.Type, err)
		}
	}
	return n, cl, propose
}
