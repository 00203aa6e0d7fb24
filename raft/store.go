package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// commitStore adds commit tracking to raft-boltdb, so that a restarting
// node replays its committed entries inside NewRaft and serves the last
// committed state at once instead of waiting for a leader.
//
// hashicorp/raft asks for the staged commit index to be persisted
// atomically with the next StoreLogs. raft-boltdb gives no access to its
// transaction, so the index is written to its own small file after
// StoreLogs succeeds. That order keeps the one property that matters: the
// persisted index never names an entry that is not durably in the log
// (raft also clamps it to the last index). A crash between the two writes
// leaves an older index, which only means less is replayed at start; the
// rest arrives from the leader as usual. The file is replaced by rename
// without fsync: after a power loss it may be older or unreadable, and an
// unreadable one counts as zero, which is again only less replay.
type commitStore struct {
	*raftboltdb.BoltStore
	path string
	// maxReplay bounds how far beyond the newest snapshot GetCommitIndex
	// may point: hashicorp/raft v1.8.0 replays inside NewRaft into a
	// channel of 128 batches before the FSM goroutine runs, so replaying
	// more than 128 × MaxAppendEntries entries would block forever.
	maxReplay uint64
	snaps     hraft.SnapshotStore

	mu        sync.Mutex
	staged    uint64
	persisted uint64
	// lastConfig is the index of the newest configuration entry stored.
	lastConfig atomic.Uint64
	// replayTo is what GetCommitIndex returned at start: the index up to
	// which Raft replays into the FSM.
	replayTo atomic.Uint64
}

var _ hraft.CommitTrackingLogStore = (*commitStore)(nil)

func openCommitStore(dir string, snaps hraft.SnapshotStore, maxReplay uint64) (*commitStore, error) {
	bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("raft: open log store: %w", err)
	}
	s := &commitStore{BoltStore: bs, path: filepath.Join(dir, "commit-index"), snaps: snaps, maxReplay: maxReplay}
	// Find the newest configuration entry already in the log.
	first, err1 := bs.FirstIndex()
	last, err2 := bs.LastIndex()
	if err1 == nil && err2 == nil && last > 0 {
		for i := last; i >= first && i > 0; i-- {
			var l hraft.Log
			if err := bs.GetLog(i, &l); err != nil {
				break
			}
			if l.Type == hraft.LogConfiguration {
				s.lastConfig.Store(i)
				break
			}
		}
	}
	return s, nil
}

// LastConfigurationIndex returns the index of the newest membership
// configuration entry in the log (0 if none is left in it).
func (s *commitStore) LastConfigurationIndex() uint64 { return s.lastConfig.Load() }

// StageCommitIndex remembers idx for the next StoreLogs.
func (s *commitStore) StageCommitIndex(idx uint64) error {
	s.mu.Lock()
	if idx > s.staged {
		s.staged = idx
	}
	s.mu.Unlock()
	return nil
}

// StoreLog stores one entry, then the staged commit index.
func (s *commitStore) StoreLog(l *hraft.Log) error {
	return s.StoreLogs([]*hraft.Log{l})
}

// StoreLogs stores entries, then the staged commit index.
func (s *commitStore) StoreLogs(logs []*hraft.Log) error {
	if err := s.BoltStore.StoreLogs(logs); err != nil {
		return err
	}
	for _, l := range logs {
		if l.Type == hraft.LogConfiguration && l.Index > s.lastConfig.Load() {
			s.lastConfig.Store(l.Index)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.persistLocked(s.staged)
	return nil
}

// NoteApplied persists idx as the commit index when it is newer than the
// persisted one. An index the FSM has applied is committed and durably in
// the local log, so it is safe to replay; hashicorp/raft itself only
// stages the commit index known when the next entries are stored, which
// leaves the newest committed entries out of the replay until more
// traffic arrives. The node calls this as entries are applied and once
// more at shutdown.
func (s *commitStore) NoteApplied(idx uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.persistLocked(idx)
}

// persistLocked writes idx to the commit-index file if it is newer than
// what is there. Failures are ignored: the log is stored, and a stale
// index only shortens the replay at start.
func (s *commitStore) persistLocked(idx uint64) {
	if idx <= s.persisted {
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], idx)
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b[:], 0o600); err != nil {
		return
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return
	}
	s.persisted = idx
}

// GetCommitIndex returns the persisted commit index, bounded as explained
// on [commitStore] and below.
func (s *commitStore) GetCommitIndex() (uint64, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) || len(b) != 8 {
		return 0, nil
	}
	if err != nil {
		return 0, nil
	}
	idx := binary.BigEndian.Uint64(b)
	base := uint64(0)
	if metas, err := s.snaps.List(); err == nil && len(metas) > 0 {
		base = metas[0].Index
	}
	if idx > base+s.maxReplay {
		idx = base + s.maxReplay
	}
	if last, err := s.LastIndex(); err == nil && idx > last {
		idx = last
	}
	// hashicorp/raft v1.8.0 replays up to the returned index and then
	// looks for configuration entries only after it, so a membership
	// change inside the replayed range would be lost and the node would
	// start with no peers (a single node could never elect itself).
	// Stopping the replay just before the last configuration entry since
	// the snapshot lets Raft's own scan find it; the node takes a
	// snapshot after membership changes so that this costs little replay.
	for i := idx; i > base; i-- {
		var l hraft.Log
		if err := s.GetLog(i, &l); err != nil {
			return 0, nil
		}
		if l.Type == hraft.LogConfiguration {
			idx = i - 1
			break
		}
	}
	s.replayTo.Store(idx)
	return idx, nil
}
