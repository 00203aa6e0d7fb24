package raft_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/raft"
)

// TestPolicyKeepsPreviousForRollback: every policy version carries the
// JSON of the one it replaced and whether it is a roll-back, through
// snapshots too, so that any leader can roll a failed rollout back.
func TestPolicyKeepsPreviousForRollback(t *testing.T) {
	v1 := policyJSON(t)
	v2 := []byte(strings.Replace(string(v1), `"10.0.0.4"`, `"10.0.0.5"`, 1))
	if bytes.Equal(v1, v2) {
		t.Fatal("test policy did not change")
	}
	f := raft.NewFSM(controller.NewDeriver())
	cmds := []raft.Command{
		{Type: raft.CmdPolicy, By: "op", Policy: &raft.SetPolicy{JSON: v1}},
		{Type: raft.CmdPolicy, By: "op", Policy: &raft.SetPolicy{JSON: v2, Expect: 1}},
		{Type: raft.CmdPolicy, By: "n1", Policy: &raft.SetPolicy{JSON: v1, Expect: 2, RollbackOf: 2}},
	}
	type want struct {
		version, previous, rollbackOf uint64
		prevJSON                      []byte
	}
	wants := []want{{1, 0, 0, nil}, {2, 1, 0, v1}, {3, 2, 2, v2}}
	for i, c := range cmds {
		if r := f.Apply(logEntry(t, uint64(i+1), c)); r != nil {
			if ae, ok := r.(*raft.ApplyError); ok && ae != nil {
				t.Fatalf("apply %d: %v", i+1, ae)
			}
		}
		var got want
		f.Read(func(fa *raft.Facts, _ *raft.Memory, _ uint64) {
			p := fa.Policy
			got = want{p.Version, p.Previous, p.RollbackOf, p.PreviousJSON}
		})
		w := wants[i]
		if got.version != w.version || got.previous != w.previous || got.rollbackOf != w.rollbackOf || !bytes.Equal(got.prevJSON, w.prevJSON) {
			t.Errorf("after command %d: got version %d previous %d rollback_of %d previous_json %d bytes, want %d %d %d %d bytes",
				i+1, got.version, got.previous, got.rollbackOf, len(got.prevJSON), w.version, w.previous, w.rollbackOf, len(w.prevJSON))
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &bufSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	r := raft.NewFSM(controller.NewDeriver())
	if err := r.Restore(nopCloser{bytes.NewReader(sink.Bytes())}); err != nil {
		t.Fatal(err)
	}
	r.Read(func(fa *raft.Facts, _ *raft.Memory, _ uint64) {
		if fa.Policy.RollbackOf != 2 || !bytes.Equal(fa.Policy.PreviousJSON, v2) {
			t.Errorf("restored: got rollback_of %d previous_json %d bytes, want 2 and %d bytes", fa.Policy.RollbackOf, len(fa.Policy.PreviousJSON), len(v2))
		}
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
