package raft_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/raft"
)

const testPolicy = `
zones: [{name: example.com., providers: [embedded], nameservers: [ns1.example.com.]}]
checks: {web: {type: http}}
endpoints:
  - {name: a, address: 10.0.0.1, check: web}
  - {name: b, address: 10.0.0.2, check: web}
  - {name: c, address: 10.0.0.3, check: web}
  - {name: d, address: 10.0.0.4, check: web}
pools: {p: {endpoints: [a, b, c, d]}}
records: [{name: www.example.com., type: A, steering: all, pools: [p]}]
`

var fastTimeouts = config.RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 50 * time.Millisecond, Commit: 5 * time.Millisecond}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openNode(t *testing.T, dir, listen string) *raft.Node {
	t.Helper()
	n, err := raft.Open(raft.Options{
		ID: "n1", DataDir: dir, Listen: listen, Timeouts: fastTimeouts,
		Logger: quietLogger(), FSM: raft.NewFSM(controller.NewDeriver()),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func policyJSON(t *testing.T) []byte {
	t.Helper()
	cfg, err := config.Parse("p.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Policy.JSON()
}

func propose(t *testing.T, n *raft.Node, c *raft.Command) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.At = time.Now()
	idx, err := n.Propose(ctx, c)
	if err != nil {
		t.Fatalf("Propose %s: %v", c.Type, err)
	}
	return idx
}

func generation(n *raft.Node) uint64 {
	st, _ := n.FSM().View().Output.(*controller.State)
	if st == nil || st.Zone("example.com.") == nil {
		return 0
	}
	return st.Zone("example.com.").Generation
}

// TestRestartServesCommittedStateAtOnce: after a restart the FSM holds the
// last committed state when Open returns, before any election (the
// election timeout here is long enough that no election can have happened).
func TestRestartServesCommittedStateAtOnce(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, "127.0.0.1:0")
	addr := n.Addr()
	waitFor(t, 5*time.Second, "leadership", n.IsLeader)
	propose(t, n, &raft.Command{Type: raft.CmdPolicy, By: "t", Policy: &raft.SetPolicy{JSON: policyJSON(t)}})
	// No snapshot: the restart replays the log, membership entry
	// included. An endpoint goes down, then another.
	propose(t, n, &raft.Command{Type: raft.CmdVerdicts, By: "n1", Verdicts: &raft.VerdictBatch{Observer: "n1", Changes: []raft.VerdictChange{{Endpoint: "a", Up: false, Reason: "refused"}}}})
	last := propose(t, n, &raft.Command{Type: raft.CmdVerdicts, By: "n1", Verdicts: &raft.VerdictBatch{Observer: "n1", Changes: []raft.VerdictChange{{Endpoint: "b", Up: false, Reason: "refused"}}}})
	wantGen := generation(n)
	if wantGen != 3 {
		t.Fatalf("generation before restart: got %d, want 3", wantGen)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	slow := config.RaftTimeouts{Heartbeat: 10 * time.Second, Election: 10 * time.Second, LeaderLease: time.Second, Commit: 5 * time.Millisecond}
	n2, err := raft.Open(raft.Options{ID: "n1", DataDir: dir, Listen: addr, Timeouts: slow, Logger: quietLogger(), FSM: raft.NewFSM(controller.NewDeriver())})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer n2.Shutdown()
	if n2.IsLeader() {
		t.Fatalf("leader already: the test needs the state before any election")
	}
	// The last entry too, although nothing was stored after it.
	if got := n2.FSM().View().Index; got != last {
		t.Errorf("view index after restart: got %d, want the last entry %d", got, last)
	}
	if got := generation(n2); got != wantGen {
		t.Errorf("generation after restart: got %d, want %d", got, wantGen)
	}
	members, err := n2.Members()
	if err != nil || len(members) != 1 || members[0].ID != "n1" {
		t.Errorf("members after restart: got %v %v, want [n1]", members, err)
	}
}

// TestSingleNodeRestartWithoutSnapshot: a node restarted before its first
// snapshot still knows its configuration and elects itself.
func TestSingleNodeRestartWithoutSnapshot(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, "127.0.0.1:0")
	addr := n.Addr()
	waitFor(t, 5*time.Second, "leadership", n.IsLeader)
	propose(t, n, &raft.Command{Type: raft.CmdPolicy, By: "t", Policy: &raft.SetPolicy{JSON: policyJSON(t)}})
	propose(t, n, &raft.Command{Type: raft.CmdSync, Sync: &raft.SyncStatus{Provider: "embedded", Zone: "example.com.", Applied: 1}})
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n2 := openNode(t, dir, addr)
	defer n2.Shutdown()
	waitFor(t, 5*time.Second, "leadership after restart", n2.IsLeader)
	waitFor(t, 5*time.Second, "the policy after restart", func() bool { return generation(n2) == 1 })
}

// TestSnapshotSizeFollowsState: ten thousand verdict flaps make the log
// long, not the snapshot.
func TestSnapshotSizeFollowsState(t *testing.T) {
	f := raft.NewFSM(controller.NewDeriver())
	size := func() int {
		s, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var sink bufSink
		if err := s.Persist(&sink); err != nil {
			t.Fatal(err)
		}
		return sink.Len()
	}
	idx := uint64(0)
	applyCmd := func(c raft.Command) {
		idx++
		c.At = time.Unix(int64(idx), 0)
		if r := f.Apply(logEntry(t, idx, c)); r != nil {
			if ae, ok := r.(*raft.ApplyError); ok && ae != nil {
				t.Fatal(ae)
			}
		}
	}
	applyCmd(raft.Command{Type: raft.CmdPolicy, Policy: &raft.SetPolicy{JSON: policyJSON(t)}})
	flap := func(n int) {
		for i := 0; i < n; i++ {
			for _, obs := range []string{"n1", "n2", "n3"} {
				applyCmd(raft.Command{Type: raft.CmdVerdicts, Verdicts: &raft.VerdictBatch{Observer: obs, Changes: []raft.VerdictChange{{Endpoint: "a", Up: i%2 == 1, Reason: "flap"}}}})
			}
		}
	}
	flap(10)
	small := size()
	flap(10000)
	large := size()
	// Only numbers (indexes, generations, times) grow in width.
	if large > small+small/5 {
		t.Errorf("snapshot after 30,000 more entries: %d bytes, after 30: %d bytes; want within 20%%", large, small)
	}
	t.Logf("snapshot: %d bytes after %d entries, %d bytes after %d entries", small, 31, large, idx)
}

type bufSink struct{ bytes.Buffer }

func (b *bufSink) ID() string    { return "buf" }
func (b *bufSink) Cancel() error { return nil }
func (b *bufSink) Close() error  { return nil }

func TestProposeWithoutLeaderFailsClearly(t *testing.T) {
	// A node that waits to join never has a leader: proposals retry
	// until the deadline, then fail with ErrNoLeader.
	n, err := raft.Open(raft.Options{ID: "lonely", DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admission: raft.AdmitJoin, Timeouts: fastTimeouts, Logger: quietLogger(), FSM: raft.NewFSM(controller.NewDeriver())})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = n.Propose(ctx, &raft.Command{Type: raft.CmdSync, Sync: &raft.SyncStatus{Provider: "p", Zone: "z."}})
	if !errors.Is(err, raft.ErrNoLeader) {
		t.Fatalf("Propose without a leader: got %v, want ErrNoLeader", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 2*time.Second {
		t.Errorf("gave up after %s, want about the 300ms deadline", el)
	}
}

func logEntry(t *testing.T, idx uint64, c raft.Command) *hraft.Log {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return &hraft.Log{Index: idx, Term: 1, Type: hraft.LogCommand, Data: data}
}
