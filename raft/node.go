package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/switchboard-dns/switchboard/config"
)

// Peer is a member of a static bootstrap.
type Peer struct {
	ID   string
	Addr string // Raft address
}

// Options configure a [Node].
type Options struct {
	// ID is the node's stable identity.
	ID string
	// DataDir holds raft.db, commit-index and snapshots/.
	DataDir string
	// Listen is the host:port to bind; Advertise what others dial (defaults
	// to the bound address).
	Listen    string
	Advertise string
	// TLS, when set, is the mutual-TLS configuration for every node
	// connection (server and client sides); nil means plain TCP.
	TLS *tls.Config
	// Peers lists the voters of a static bootstrap. Empty with Join false
	// bootstraps a single-node cluster.
	Peers []Peer
	// Join, when set, means the node waits to be added by an existing
	// member instead of bootstrapping.
	Join bool
	// Timeouts set Raft's timing.
	Timeouts config.RaftTimeouts
	// SnapshotThreshold is how many entries trigger a snapshot (default
	// 1024); TrailingLogs how many stay after one (default 2048).
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// SnapshotInterval is how often the threshold is checked (default 10s).
	SnapshotInterval time.Duration
	// Logger receives Raft's logs.
	Logger *slog.Logger
	// FSM is the state machine.
	FSM *FSM
}

// maxAppendEntries batches replication and replay; see [commitStore] for
// why the replay bound depends on it.
const maxAppendEntries = 256

// Node is one member of the Raft cluster.
type Node struct {
	opts   Options
	raft   *hraft.Raft
	fsm    *FSM
	store  *commitStore
	trans  *hraft.NetworkTransport
	mux    *mux
	fwd    *forwarder
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	obsCh chan hraft.Observation
	obs   *hraft.Observer

	leaderMu      sync.Mutex
	leaderChanged chan struct{} // closed and replaced on every leader change

	contactMu sync.Mutex
	contact   map[string]PeerContact

	wg sync.WaitGroup
}

// PeerContact is what the leader knows of its contact with a follower.
type PeerContact struct {
	// Failing is set while heartbeats to the peer fail.
	Failing bool
	// LastContact is the last successful contact the leader recorded.
	LastContact time.Time
}

// Open starts the node: stores, transport, Raft. A node with existing state
// resumes from it (replaying committed entries at once); a new node
// bootstraps as Options say.
func Open(opts Options) (*Node, error) {
	if opts.FSM == nil || opts.ID == "" || opts.DataDir == "" || opts.Listen == "" {
		return nil, errors.New("raft: Open needs ID, DataDir, Listen and FSM")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SnapshotThreshold == 0 {
		opts.SnapshotThreshold = 1024
	}
	if opts.TrailingLogs == 0 {
		opts.TrailingLogs = 2048
	}
	if opts.SnapshotInterval == 0 {
		opts.SnapshotInterval = 10 * time.Second
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: data dir: %w", err)
	}
	log := opts.Logger.With("component", "raft")
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(opts.DataDir, 3, newHCLogger(log))
	if err != nil {
		return nil, fmt.Errorf("raft: snapshot store: %w", err)
	}
	store, err := openCommitStore(opts.DataDir, snaps, 128*maxAppendEntries-1)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("raft: listen: %w", err)
	}
	adv := ln.Addr()
	if opts.Advertise != "" && opts.Advertise != opts.Listen {
		a, err := net.ResolveTCPAddr("tcp", opts.Advertise)
		if err != nil {
			ln.Close()
			store.Close()
			return nil, fmt.Errorf("raft: advertise address: %w", err)
		}
		adv = a
	}
	if tcp, ok := adv.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		ln.Close()
		store.Close()
		return nil, fmt.Errorf("raft: listening on %s needs an advertise address others can dial", adv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		opts: opts, fsm: opts.FSM, store: store, log: log, ctx: ctx, cancel: cancel,
		fwd:           &forwarder{tls: opts.TLS},
		leaderChanged: make(chan struct{}),
		contact:       map[string]PeerContact{},
	}
	n.mux = newMux(ln, adv, opts.TLS, log)
	n.mux.forward = n.serveForward
	n.trans = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream:  &streamLayer{m: n.mux},
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  newHCLogger(log),
	})
	go n.mux.serve()

	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(opts.ID)
	rc.Logger = newHCLogger(log)
	rc.HeartbeatTimeout = opts.Timeouts.Heartbeat
	rc.ElectionTimeout = opts.Timeouts.Election
	rc.LeaderLeaseTimeout = opts.Timeouts.LeaderLease
	rc.CommitTimeout = opts.Timeouts.Commit
	rc.SnapshotThreshold = opts.SnapshotThreshold
	rc.TrailingLogs = opts.TrailingLogs
	rc.SnapshotInterval = opts.SnapshotInterval
	rc.MaxAppendEntries = maxAppendEntries
	rc.RestoreCommittedLogs = true
	rc.NoLegacyTelemetry = true
	if err := hraft.ValidateConfig(rc); err != nil {
		n.closeTransport()
		store.Close()
		return nil, fmt.Errorf("raft: config: %w", err)
	}

	has, err := hraft.HasExistingState(store, store, snaps)
	if err != nil {
		n.closeTransport()
		store.Close()
		return nil, fmt.Errorf("raft: read state: %w", err)
	}
	applied := n.fsm.Subscribe()
	r, err := hraft.NewRaft(rc, n.fsm, store, store, snaps, n.trans)
	if err != nil {
		n.closeTransport()
		store.Close()
		return nil, fmt.Errorf("raft: start: %w", err)
	}
	n.raft = r
	// NewRaft queues the replay of committed entries for the FSM
	// goroutine it starts last; wait for it, so that the caller serves the
	// last committed state as soon as Open returns.
	if to := store.replayTo.Load(); to > 0 {
		timeout := time.NewTimer(time.Minute)
	wait:
		for n.fsm.AppliedIndex() < to {
			select {
			case <-applied:
			case <-timeout.C:
				log.Warn("replay of committed entries is slow; serving what is applied", "applied", n.fsm.AppliedIndex(), "want", to)
				break wait
			}
		}
		timeout.Stop()
		log.Info("replayed committed entries", "index", n.fsm.AppliedIndex())
	}
	n.fsm.Unsubscribe(applied)
	n.obsCh = make(chan hraft.Observation, 64)
	n.obs = hraft.NewObserver(n.obsCh, false, func(o *hraft.Observation) bool {
		switch o.Data.(type) {
		case hraft.LeaderObservation, hraft.FailedHeartbeatObservation, hraft.ResumedHeartbeatObservation, hraft.PeerObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(n.obs)
	n.wg.Add(1)
	go n.watch()
	n.wg.Add(1)
	go n.snapshotConfigurations()
	n.wg.Add(1)
	go n.persistApplied()

	if !has && !opts.Join {
		servers := []hraft.Server{{ID: rc.LocalID, Address: hraft.ServerAddress(adv.String()), Suffrage: hraft.Voter}}
		if len(opts.Peers) > 0 {
			servers = servers[:0]
			for _, p := range opts.Peers {
				servers = append(servers, hraft.Server{ID: hraft.ServerID(p.ID), Address: hraft.ServerAddress(p.Addr), Suffrage: hraft.Voter})
			}
		}
		if err := r.BootstrapCluster(hraft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, hraft.ErrCantBootstrap) {
			_ = n.Shutdown()
			return nil, fmt.Errorf("raft: bootstrap: %w", err)
		}
		log.Info("bootstrapped cluster", "servers", len(servers))
	}
	return n, nil
}

func (n *Node) closeTransport() {
	_ = n.trans.Close()
	n.mux.close()
}

// watch follows Raft observations: leader changes wake waiting proposals,
// heartbeat failures and resumptions feed [Node.Contacts].
func (n *Node) watch() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case o := <-n.obsCh:
			switch d := o.Data.(type) {
			case hraft.LeaderObservation:
				n.leaderMu.Lock()
				close(n.leaderChanged)
				n.leaderChanged = make(chan struct{})
				n.leaderMu.Unlock()
				n.log.Info("leader changed", "leader", string(d.LeaderID), "addr", string(d.LeaderAddr))
			case hraft.FailedHeartbeatObservation:
				n.contactMu.Lock()
				n.contact[string(d.PeerID)] = PeerContact{Failing: true, LastContact: d.LastContact}
				n.contactMu.Unlock()
			case hraft.ResumedHeartbeatObservation:
				n.contactMu.Lock()
				n.contact[string(d.PeerID)] = PeerContact{LastContact: time.Now()}
				n.contactMu.Unlock()
			case hraft.PeerObservation:
				if d.Removed {
					n.contactMu.Lock()
					delete(n.contact, string(d.Peer.ID))
					n.contactMu.Unlock()
				}
			}
		}
	}
}

// snapshotConfigurations takes a snapshot whenever the latest membership
// configuration is newer than the latest snapshot and already applied, so
// that a restart replays its committed entries at once (see commitStore for
// why a configuration entry after the snapshot stops the replay).
func (n *Node) snapshotConfigurations() {
	defer n.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		cfg := n.store.LastConfigurationIndex()
		snap, err := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
		if err != nil || cfg <= snap || n.raft.AppliedIndex() <= max(cfg, snap) {
			continue
		}
		if err := n.raft.Snapshot().Error(); err != nil {
			n.log.Debug("snapshot after a configuration change failed", "error", err)
		}
	}
}

// persistApplied keeps the persisted commit index up with what the FSM
// has applied, so that a restart replays every entry this node saw
// committed (see [commitStore.NoteApplied]).
func (n *Node) persistApplied() {
	defer n.wg.Done()
	applied := n.fsm.Subscribe()
	defer n.fsm.Unsubscribe(applied)
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-applied:
			n.store.NoteApplied(n.fsm.AppliedIndex())
		}
	}
}

// Contacts returns the leader's view of heartbeat failures per peer; peers
// without trouble are absent or not Failing.
func (n *Node) Contacts() map[string]PeerContact {
	n.contactMu.Lock()
	defer n.contactMu.Unlock()
	out := make(map[string]PeerContact, len(n.contact))
	for k, v := range n.contact {
		out[k] = v
	}
	return out
}

// LeaderChanged returns a channel closed at the next leader change.
func (n *Node) LeaderChanged() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderChanged
}

// ID returns the node's id.
func (n *Node) ID() string { return n.opts.ID }

// Addr returns the address other nodes dial.
func (n *Node) Addr() string { return n.mux.advertise.String() }

// FSM returns the state machine.
func (n *Node) FSM() *FSM { return n.fsm }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// State returns "leader", "follower", "candidate" or "shutdown".
func (n *Node) State() string {
	switch n.raft.State() {
	case hraft.Leader:
		return "leader"
	case hraft.Follower:
		return "follower"
	case hraft.Candidate:
		return "candidate"
	}
	return "shutdown"
}

// Leader returns the current leader's id and address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// LastContact returns when a follower last heard from the leader.
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }

// AppliedIndex returns the last index applied to the FSM.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// Member is a server in the Raft configuration.
type Member struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
}

// Members returns the current Raft configuration.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft: configuration: %w", err)
	}
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == hraft.Voter})
	}
	return out, nil
}

// VerifyLeader confirms, by a round of heartbeats, that this node is still
// the leader. The reconciler calls it before every provider write.
func (n *Node) VerifyLeader(ctx context.Context) error {
	f := n.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Propose commits a command and returns its log index once it is applied
// on the leader. Followers forward it to the leader over the node channel.
// While there is no leader (an election, a lost quorum) it retries until
// ctx's deadline (10 s when ctx has none), then fails with [ErrNoLeader].
// A command the FSM rejects returns an *[ApplyError] wrapping
// [ErrConflict] or [ErrInvalid], never retried.
func (n *Node) Propose(ctx context.Context, cmd *Command) (uint64, error) {
	return n.retry(ctx, func(ctx context.Context) (uint64, error) {
		if n.IsLeader() {
			return n.applyLocal(ctx, cmd)
		}
		return n.forwardTo(ctx, &fwdRequest{Op: opApply, Command: cmd})
	})
}

// AddServer adds a node to the cluster as a voter or non-voter (an
// observer that adds a vantage point without growing the quorum). Forwarded
// to the leader.
func (n *Node) AddServer(ctx context.Context, id, addr string, voter bool) error {
	_, err := n.retry(ctx, func(ctx context.Context) (uint64, error) {
		if n.IsLeader() {
			return 0, n.addServerLocal(id, addr, voter, timeoutOf(ctx))
		}
		return n.forwardTo(ctx, &fwdRequest{Op: opJoin, ID: id, Addr: addr, Voter: voter})
	})
	return err
}

// RemoveServer removes a node from the cluster. Forwarded to the leader.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	_, err := n.retry(ctx, func(ctx context.Context) (uint64, error) {
		if n.IsLeader() {
			return 0, n.removeServerLocal(id, timeoutOf(ctx))
		}
		return n.forwardTo(ctx, &fwdRequest{Op: opRemove, ID: id})
	})
	return err
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 10 * time.Second
}

// retry runs op until it succeeds, fails with an answer that retrying
// cannot change, or the deadline passes.
func (n *Node) retry(ctx context.Context, op func(context.Context) (uint64, error)) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	backoff := 10 * time.Millisecond
	var last error
	for {
		changed := n.LeaderChanged()
		idx, err := op(ctx)
		if err == nil {
			return idx, nil
		}
		if !retryable(err) {
			return 0, err
		}
		last = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("%w: gave up after the deadline: %w", ErrNoLeader, last)
		case <-n.ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("raft: node shutting down: %w", last)
		case <-changed:
			t.Stop()
		case <-t.C:
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// retryable reports whether an error may go away with a new leader.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrConflict), errors.Is(err, ErrInvalid):
		return false
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, errTransport),
		errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrLeadershipLost),
		errors.Is(err, hraft.ErrLeadershipTransferInProgress), errors.Is(err, hraft.ErrEnqueueTimeout):
		return true
	}
	return false
}

func (n *Node) forwardTo(ctx context.Context, req *fwdRequest) (uint64, error) {
	_, addr := n.Leader()
	if addr == "" {
		return 0, ErrNoLeader
	}
	if addr == n.Addr() {
		return 0, ErrNotLeader // leadership is moving to us; wait
	}
	resp, err := n.fwd.do(ctx, addr, req)
	if err != nil {
		return 0, err
	}
	if resp.Err != nil {
		return 0, resp.Err
	}
	return resp.Index, nil
}

func (n *Node) applyLocal(ctx context.Context, cmd *Command) (uint64, error) {
	data, err := cmd.encode()
	if err != nil {
		return 0, err
	}
	f := n.raft.Apply(data, timeoutOf(ctx))
	if err := f.Error(); err != nil {
		return 0, fmt.Errorf("raft: apply %s: %w", cmd.Type, err)
	}
	if resp, ok := f.Response().(*ApplyError); ok && resp != nil {
		return f.Index(), resp
	}
	return f.Index(), nil
}

func (n *Node) addServerLocal(id, addr string, voter bool, timeout time.Duration) error {
	if id == "" || addr == "" {
		return rejectf("invalid", "join needs an id and an address")
	}
	var f hraft.IndexFuture
	if voter {
		f = n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout)
	} else {
		f = n.raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("raft: add %s: %w", id, err)
	}
	return nil
}

func (n *Node) removeServerLocal(id string, timeout time.Duration) error {
	if id == "" {
		return rejectf("invalid", "remove needs an id")
	}
	if err := n.raft.RemoveServer(hraft.ServerID(id), 0, timeout).Error(); err != nil {
		return fmt.Errorf("raft: remove %s: %w", id, err)
	}
	return nil
}

// Snapshot takes a snapshot now (log compaction on demand).
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("raft: snapshot: %w", err)
	}
	return nil
}

// Stats returns hashicorp/raft's statistics.
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// SnapshotDir returns where snapshots are kept.
func (n *Node) SnapshotDir() string { return filepath.Join(n.opts.DataDir, "snapshots") }

// Shutdown stops Raft and closes the transport and stores.
func (n *Node) Shutdown() error {
	n.cancel()
	var errs []error
	if n.raft != nil {
		n.raft.DeregisterObserver(n.obs)
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, err)
		}
	}
	n.wg.Wait()
	n.store.NoteApplied(n.fsm.AppliedIndex())
	n.fwd.closeAll()
	n.closeTransport()
	if err := n.store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
