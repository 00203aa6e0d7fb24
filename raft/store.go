package raft

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// commitStore is raft-boltdb with a persisted commit index, so that a
// restarting node can serve its last committed state at once instead of
// waiting for a leader to tell it what is committed.
//
// hashicorp/raft's own answer (RestoreCommittedLogs with a
// CommitTrackingLogStore) is not used: v1.8.0 replays inside NewRaft and
// then scans for membership entries only after the replayed range, so a
// membership change inside it is lost (a restarted node would start with
// no peers), and it stages only the commit index known when the next
// entries are written. Instead the node persists the index the FSM has
// applied ([commitStore.NoteApplied]; an applied entry is committed and
// durably in the local log) and replays the entries up to it itself after
// NewRaft (see [Node.replayCommitted]); the FSM skips entries it has
// already applied, so Raft's own later delivery of them is harmless.
//
// The index file is replaced by rename without fsync: after a power loss
// it may be older or unreadable, and an unreadable one counts as zero,
// which only means less is replayed at start; the rest arrives from the
// leader as usual.
type commitStore struct {
	*raftboltdb.BoltStore
	path string

	mu        sync.Mutex
	persisted uint64
}

func openCommitStore(dir string) (*commitStore, error) {
	bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("raft: open log store: %w", err)
	}
	s := &commitStore{BoltStore: bs, path: filepath.Join(dir, "commit-index")}
	return s, nil
}

// NoteApplied persists idx as the commit index when it is newer than the
// persisted one. The node calls it as entries are applied and once more
// at shutdown.
func (s *commitStore) NoteApplied(idx uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx <= s.persisted {
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], idx)
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b[:], 0o600); err != nil {
		return // the log is stored; a stale index only shortens the replay
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return
	}
	s.persisted = idx
}

// CommitIndex returns the persisted commit index, never beyond the last
// entry in the log (0 when unknown).
func (s *commitStore) CommitIndex() uint64 {
	b, err := os.ReadFile(s.path)
	if err != nil || len(b) != 8 {
		return 0
	}
	idx := binary.BigEndian.Uint64(b)
	if last, err := s.LastIndex(); err == nil && idx > last {
		idx = last
	}
	return idx
}
