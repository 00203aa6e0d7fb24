package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/switchboard-dns/switchboard/config"
)

// Peer is a voter of a static bootstrap.
type Peer struct {
	ID   string
	Addr string // advertised Raft address
}

// Admission says what a node without Raft state does at start.
type Admission int

const (
	// AdmitSingle bootstraps a cluster of this node alone.
	AdmitSingle Admission = iota
	// AdmitStatic bootstraps with Options.Peers once every peer answers,
	// or joins through them if they already run a cluster.
	AdmitStatic
	// AdmitJoin asks Options.JoinAddrs (or, if empty, the address given to
	// [Node.Join]) to be added.
	AdmitJoin
)

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
	// Source, when valid, is the local address of connections this node
	// opens to others.
	Source netip.Addr
	// TLS, when set, is the mutual-TLS configuration for every node
	// connection (server and client sides, see [LoadTLS]); nil means plain
	// TCP.
	TLS *tls.Config
	// Admission, Peers and JoinAddrs decide how a node without state
	// becomes a member.
	Admission Admission
	Peers     []Peer
	JoinAddrs []string
	// Voter is false for an observer node: a Raft non-voter that adds a
	// vantage point without growing the quorum.
	Voter bool
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

// ErrNotStarted: the node has no Raft state yet and waits to be admitted.
var ErrNotStarted = errors.New("raft: not a member yet")

// Node is one member of the Raft cluster.
type Node struct {
	opts   Options
	rc     *hraft.Config
	fsm    *FSM
	store  *commitStore
	snaps  hraft.SnapshotStore
	trans  *hraft.NetworkTransport
	mux    *mux
	fwd    *forwarder
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	// r is nil until the node is admitted and Raft starts.
	r       atomic.Pointer[hraft.Raft]
	startMu sync.Mutex
	started chan struct{} // closed when r is set

	obsCh chan hraft.Observation
	obs   *hraft.Observer

	leaderMu      sync.Mutex
	leaderChanged chan struct{} // closed and replaced on every leader change

	contactMu sync.Mutex
	contact   map[string]PeerContact
	// leadingSince is when this node last became leader (zero while it
	// follows); guarded by contactMu.
	leadingSince time.Time

	joinReq chan string // addresses given to Join while waiting

	wg sync.WaitGroup
}

// PeerContact is what the leader knows of its contact with a follower.
type PeerContact struct {
	// Failing is set while heartbeats to the peer fail.
	Failing bool
	// Since is when contact was last good: the last successful heartbeat,
	// or when this node started to lead if it never reached the peer.
	Since time.Time
}

// Open starts the node. A node with Raft state resumes at once, with its
// committed entries replayed into the FSM before Open returns. A node
// without state is admitted as Options.Admission says: a single node
// bootstraps at once; a static or joining node waits in the background
// until its peers answer, and meanwhile serves the node channel (so peers
// can see it) and reports [ErrNotStarted] for writes.
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
	store, err := openCommitStore(opts.DataDir)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Node, error) {
		_ = store.Close()
		return nil, err
	}
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
	rc.NoLegacyTelemetry = true
	if err := hraft.ValidateConfig(rc); err != nil {
		return fail(fmt.Errorf("raft: config: %w", err))
	}
	has, err := hraft.HasExistingState(store, store, snaps)
	if err != nil {
		return fail(fmt.Errorf("raft: read state: %w", err))
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fail(fmt.Errorf("raft: listen: %w", err))
	}
	adv := ln.Addr()
	if opts.Advertise != "" && opts.Advertise != opts.Listen {
		a, err := net.ResolveTCPAddr("tcp", opts.Advertise)
		if err != nil {
			ln.Close()
			return fail(fmt.Errorf("raft: advertise address: %w", err))
		}
		adv = a
	}
	if tcp, ok := adv.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		ln.Close()
		return fail(fmt.Errorf("raft: listening on %s needs an advertise address others can dial", adv))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		opts: opts, rc: rc, fsm: opts.FSM, store: store, snaps: snaps, log: log, ctx: ctx, cancel: cancel,
		fwd:           &forwarder{tls: opts.TLS, source: opts.Source},
		started:       make(chan struct{}),
		leaderChanged: make(chan struct{}),
		contact:       map[string]PeerContact{},
		joinReq:       make(chan string, 1),
	}
	n.mux = newMux(ln, adv, opts.TLS, opts.Source, log)
	n.mux.forward = n.serveForward
	n.trans = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream:  &streamLayer{m: n.mux},
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  newHCLogger(log),
	})
	go n.mux.serve()

	switch {
	case has:
		if err := n.start(nil); err != nil {
			n.closeTransport()
			return fail(err)
		}
	case opts.Admission == AdmitSingle:
		self := []hraft.Server{{ID: rc.LocalID, Address: hraft.ServerAddress(adv.String()), Suffrage: hraft.Voter}}
		if err := n.start(self); err != nil {
			n.closeTransport()
			return fail(err)
		}
	default:
		n.wg.Add(1)
		go n.admit()
	}
	return n, nil
}

// start creates the Raft instance; bootstrap, when not nil, is the initial
// configuration of a new cluster.
func (n *Node) start(bootstrap []hraft.Server) error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.r.Load() != nil {
		return nil
	}
	if n.ctx.Err() != nil {
		return errors.New("raft: node is shutting down")
	}
	r, err := hraft.NewRaft(n.rc, n.fsm, n.store, n.store, n.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("raft: start: %w", err)
	}
	n.replayCommitted()
	n.obsCh = make(chan hraft.Observation, 64)
	n.obs = hraft.NewObserver(n.obsCh, false, func(o *hraft.Observation) bool {
		switch o.Data.(type) {
		case hraft.LeaderObservation, hraft.FailedHeartbeatObservation, hraft.ResumedHeartbeatObservation, hraft.PeerObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(n.obs)
	if bootstrap != nil {
		if err := r.BootstrapCluster(hraft.Configuration{Servers: bootstrap}).Error(); err != nil && !errors.Is(err, hraft.ErrCantBootstrap) {
			_ = r.Shutdown().Error()
			return fmt.Errorf("raft: bootstrap: %w", err)
		}
		n.log.Info("bootstrapped cluster", "servers", len(bootstrap))
	}
	n.r.Store(r)
	close(n.started)
	n.mux.raftReady.Store(true)
	n.wg.Add(2)
	go n.watch(r)
	go n.persistApplied()
	return nil
}

// replayCommitted applies the entries this node knows to be committed
// (up to the persisted commit index) right after NewRaft has restored the
// newest snapshot, so that a restarted node serves its last committed
// state at once, before it hears from a leader. Raft delivers the same
// entries again later; the FSM skips what it has applied. See
// [commitStore].
func (n *Node) replayCommitted() {
	to := n.store.CommitIndex()
	from := n.fsm.AppliedIndex() + 1
	if to < from {
		return
	}
	replayed := 0
	for i := from; i <= to; i++ {
		var l hraft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			n.log.Warn("replay of committed entries stopped early; the rest comes from the leader", "index", i, "error", err)
			break
		}
		if l.Type == hraft.LogCommand {
			n.fsm.Apply(&l)
			replayed++
		}
	}
	n.log.Info("replayed committed entries", "from", from, "to", to, "commands", replayed, "applied", n.fsm.AppliedIndex())
}

// raft returns the Raft instance, or nil before admission.
func (n *Node) raft() *hraft.Raft { return n.r.Load() }

// Started returns a channel closed once the node is a member and Raft runs.
func (n *Node) Started() <-chan struct{} { return n.started }

// admit makes a node without state a member: a static node bootstraps
// with its peers once all of them answer and none runs a cluster yet, and
// otherwise joins through them; a joining node asks its join addresses, or
// waits for [Node.Join].
func (n *Node) admit() {
	defer n.wg.Done()
	backoff := 200 * time.Millisecond
	lastLog := time.Time{}
	for {
		done, err := n.admitOnce()
		if done {
			return
		}
		if err != nil && time.Since(lastLog) > 5*time.Second {
			n.log.Warn("waiting to become a cluster member", "error", err)
			lastLog = time.Now()
		}
		t := time.NewTimer(backoff)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case addr := <-n.joinReq:
			t.Stop()
			n.opts.JoinAddrs = append([]string{addr}, n.opts.JoinAddrs...)
		case <-t.C:
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// admitOnce makes one admission attempt.
func (n *Node) admitOnce() (done bool, err error) {
	switch n.opts.Admission {
	case AdmitStatic:
		var pinged []*pingResponse
		var errs []error
		for _, p := range n.opts.Peers {
			if p.ID == n.opts.ID {
				continue
			}
			pr, err := n.ping(p.Addr)
			if err != nil {
				errs = append(errs, fmt.Errorf("peer %s at %s: %w", p.ID, p.Addr, err))
				continue
			}
			pinged = append(pinged, pr)
		}
		for _, pr := range pinged {
			if pr.Established {
				return n.joinThrough([]string{pr.Addr})
			}
		}
		if len(errs) > 0 {
			return false, fmt.Errorf("static bootstrap waits for every voter: %w", errors.Join(errs...))
		}
		var servers []hraft.Server
		for _, p := range n.opts.Peers {
			servers = append(servers, hraft.Server{ID: hraft.ServerID(p.ID), Address: hraft.ServerAddress(p.Addr), Suffrage: hraft.Voter})
		}
		if err := n.start(servers); err != nil {
			return false, err
		}
		return true, nil
	case AdmitJoin:
		if len(n.opts.JoinAddrs) == 0 {
			return false, errors.New("no join address yet: run `switchboard cluster join ADDR` on this node")
		}
		return n.joinThrough(n.opts.JoinAddrs)
	}
	return true, nil
}

// joinThrough asks the members at addrs (the first that answers) to add
// this node, and starts Raft once the leader has.
func (n *Node) joinThrough(addrs []string) (bool, error) {
	var errs []error
	for _, a := range addrs {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		resp, err := n.fwd.do(ctx, a, &fwdRequest{Op: opJoin, ID: n.opts.ID, Addr: n.Addr(), Voter: n.opts.Voter})
		cancel()
		if err == nil && resp.Err != nil {
			err = resp.Err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("join through %s: %w", a, err))
			continue
		}
		if err := n.start(nil); err != nil {
			return false, err
		}
		n.log.Info("joined the cluster", "through", a, "voter", n.opts.Voter)
		return true, nil
	}
	return false, errors.Join(errs...)
}

// Join asks the member at addr to add this node. It is for a node waiting
// to join (no state, [AdmitJoin]); a node that is already a member gets
// [ErrConflict]. It returns once the node is a member or ctx ends.
func (n *Node) Join(ctx context.Context, addr string) error {
	if n.raft() != nil {
		return rejectf("conflict", "node %s is already a cluster member; to move it to another cluster, stop it and wipe its data dir", n.opts.ID)
	}
	if n.opts.Admission != AdmitJoin {
		return rejectf("conflict", "node %s admits itself by static bootstrap; join applies to nodes configured with cluster.join", n.opts.ID)
	}
	select {
	case n.joinReq <- addr:
	default:
	}
	select {
	case <-n.started:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("raft: join through %s: %w", addr, ctx.Err())
	}
}

// pingResponse tells a node without state what a peer knows.
type pingResponse struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	// Established: the peer runs a cluster with committed entries beyond
	// its bootstrap, or has a leader.
	Established bool   `json:"established"`
	Leader      string `json:"leader,omitempty"`
	LastIndex   uint64 `json:"last_index"`
}

func (n *Node) ping(addr string) (*pingResponse, error) {
	ctx, cancel := context.WithTimeout(n.ctx, 3*time.Second)
	defer cancel()
	resp, err := n.fwd.do(ctx, addr, &fwdRequest{Op: opPing})
	if err != nil {
		return nil, err
	}
	if resp.Err != nil {
		return nil, resp.Err
	}
	if resp.Ping == nil {
		return nil, errors.New("empty ping answer")
	}
	return resp.Ping, nil
}

func (n *Node) pingAnswer() *pingResponse {
	pr := &pingResponse{ID: n.opts.ID, Addr: n.Addr()}
	r := n.raft()
	if r == nil {
		return pr
	}
	pr.LastIndex = r.LastIndex()
	pr.Leader, _ = n.Leader()
	pr.Established = pr.Leader != "" || pr.LastIndex > 1
	return pr
}

func (n *Node) closeTransport() {
	_ = n.trans.Close()
	n.mux.close()
}

// watch follows Raft observations: leader changes wake waiting proposals,
// heartbeat failures and resumptions feed [Node.Contacts].
func (n *Node) watch(r *hraft.Raft) {
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
				n.contactMu.Lock()
				clear(n.contact) // a new leader learns contact afresh
				n.leadingSince = time.Time{}
				if string(d.LeaderID) == n.opts.ID {
					n.leadingSince = time.Now()
				}
				n.contactMu.Unlock()
				n.log.Info("leader changed", "leader", string(d.LeaderID), "addr", string(d.LeaderAddr))
			case hraft.FailedHeartbeatObservation:
				n.contactMu.Lock()
				since := d.LastContact
				if since.Before(n.leadingSince) {
					since = n.leadingSince
				}
				if c, ok := n.contact[string(d.PeerID)]; !ok || !c.Failing {
					n.contact[string(d.PeerID)] = PeerContact{Failing: true, Since: since}
				}
				n.contactMu.Unlock()
			case hraft.ResumedHeartbeatObservation:
				n.contactMu.Lock()
				n.contact[string(d.PeerID)] = PeerContact{Since: time.Now()}
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

// LeadingSince returns when this node became leader, zero while it is
// not the leader.
func (n *Node) LeadingSince() time.Time {
	n.contactMu.Lock()
	defer n.contactMu.Unlock()
	if !n.IsLeader() {
		return time.Time{}
	}
	return n.leadingSince
}

// Contacts returns the leader's view of its contact with each peer that
// has had trouble; peers absent from the map are in good contact.
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

// Voter reports whether the node is configured as a voter.
func (n *Node) Voter() bool { return n.opts.Voter }

// Addr returns the address other nodes dial.
func (n *Node) Addr() string { return n.mux.advertise.String() }

// FSM returns the state machine.
func (n *Node) FSM() *FSM { return n.fsm }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool {
	r := n.raft()
	return r != nil && r.State() == hraft.Leader
}

// State returns "leader", "follower", "candidate", "joining" (waiting to
// be admitted) or "shutdown".
func (n *Node) State() string {
	r := n.raft()
	if r == nil {
		return "joining"
	}
	switch r.State() {
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
	r := n.raft()
	if r == nil {
		return "", ""
	}
	a, i := r.LeaderWithID()
	return string(i), string(a)
}

// LastContact returns when a follower last heard from the leader.
func (n *Node) LastContact() time.Time {
	r := n.raft()
	if r == nil {
		return time.Time{}
	}
	return r.LastContact()
}

// AppliedIndex returns the last index applied to the FSM.
func (n *Node) AppliedIndex() uint64 { return n.fsm.AppliedIndex() }

// Member is a server in the Raft configuration.
type Member struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
}

// Members returns the current Raft configuration.
func (n *Node) Members() ([]Member, error) {
	r := n.raft()
	if r == nil {
		return nil, ErrNotStarted
	}
	f := r.GetConfiguration()
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
	r := n.raft()
	if r == nil {
		return ErrNotLeader
	}
	f := r.VerifyLeader()
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
// While there is no leader (an election, a lost quorum, a node still
// joining) it retries until ctx's deadline (10 s when ctx has none), then
// fails with [ErrNoLeader]. A command the FSM rejects returns an
// *[ApplyError] wrapping [ErrConflict] or [ErrInvalid], never retried.
func (n *Node) Propose(ctx context.Context, cmd *Command) (uint64, error) {
	return n.retry(ctx, func(ctx context.Context) (uint64, error) {
		if n.IsLeader() {
			return n.applyLocal(ctx, cmd)
		}
		return n.forwardTo(ctx, &fwdRequest{Op: opApply, Command: cmd})
	})
}

// Remove takes a node out of the cluster: its Raft membership, its votes
// and its registration. An operator removes a node that is gone for good,
// or one that lost its data dir, so that it can join again as a new
// member. Forwarded to the leader.
func (n *Node) Remove(ctx context.Context, id string) error {
	_, err := n.retry(ctx, func(ctx context.Context) (uint64, error) {
		if n.IsLeader() {
			return 0, n.removeLocal(ctx, id)
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
		case <-n.started:
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
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, errTransport), errors.Is(err, ErrNotStarted),
		errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrLeadershipLost),
		errors.Is(err, hraft.ErrLeadershipTransferInProgress), errors.Is(err, hraft.ErrEnqueueTimeout):
		return true
	}
	return false
}

func (n *Node) forwardTo(ctx context.Context, req *fwdRequest) (uint64, error) {
	if n.raft() == nil {
		return 0, ErrNotStarted
	}
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
	r := n.raft()
	if r == nil {
		return 0, ErrNotStarted
	}
	data, err := cmd.encode()
	if err != nil {
		return 0, err
	}
	f := r.Apply(data, timeoutOf(ctx))
	if err := f.Error(); err != nil {
		return 0, fmt.Errorf("raft: apply %s: %w", cmd.Type, err)
	}
	if resp, ok := f.Response().(*ApplyError); ok && resp != nil {
		return f.Index(), resp
	}
	return f.Index(), nil
}

// addLocal admits a node, on the leader. A node already in the
// configuration is accepted only if it never registered (a static peer
// starting for the first time); one that registered has run before, and
// asking to join means it lost its data: it must be removed first, or it
// could vote twice in a term it had voted in.
func (n *Node) addLocal(id, addr string, voter bool, timeout time.Duration) error {
	r := n.raft()
	if r == nil {
		return ErrNotStarted
	}
	if id == "" || addr == "" {
		return rejectf("invalid", "join needs an id and an address")
	}
	members, err := n.Members()
	if err != nil {
		return err
	}
	var registered bool
	n.fsm.Read(func(f *Facts, _ *Memory, _ uint64) { _, registered = f.Nodes[id] })
	for _, m := range members {
		if m.ID != id {
			continue
		}
		if registered {
			return rejectf("conflict", "node %s is a member that has run before; if it lost its data dir, remove it first (switchboard cluster remove %s), then it joins as a new member", id, id)
		}
		if m.Addr != addr || m.Voter != voter {
			return rejectf("conflict", "node %s is a member at %s (voter %v); it asked to join at %s (voter %v)", id, m.Addr, m.Voter, addr, voter)
		}
		return nil // listed in the bootstrap, starting for the first time
	}
	var f hraft.IndexFuture
	if voter {
		f = r.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout)
	} else {
		f = r.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("raft: add %s: %w", id, err)
	}
	n.log.Info("added a member", "id", id, "addr", addr, "voter", voter)
	return nil
}

// removeLocal removes a node on the leader: membership first, then its
// votes and registration.
func (n *Node) removeLocal(ctx context.Context, id string) error {
	r := n.raft()
	if r == nil {
		return ErrNotStarted
	}
	if id == "" {
		return rejectf("invalid", "remove needs an id")
	}
	members, err := n.Members()
	if err != nil {
		return err
	}
	found := false
	for _, m := range members {
		found = found || m.ID == id
	}
	var known bool
	n.fsm.Read(func(f *Facts, _ *Memory, _ uint64) {
		_, o := f.Observers[id]
		_, r := f.Nodes[id]
		known = o || r
	})
	if !found && !known {
		return rejectf("invalid", "no member %s", id)
	}
	if found {
		if err := r.RemoveServer(hraft.ServerID(id), 0, timeoutOf(ctx)).Error(); err != nil {
			return fmt.Errorf("raft: remove %s: %w", id, err)
		}
		n.log.Info("removed a member", "id", id)
	}
	if id == n.opts.ID {
		return nil // the leader removed itself and steps down; the next leader's view is clean
	}
	_, err = n.applyLocal(ctx, &Command{Type: CmdObserver, At: time.Now(), By: n.opts.ID, Observer: &ObserverChange{ID: id, Remove: true}})
	return err
}

// Snapshot takes a snapshot now (log compaction on demand).
func (n *Node) Snapshot() error {
	r := n.raft()
	if r == nil {
		return ErrNotStarted
	}
	if err := r.Snapshot().Error(); err != nil {
		return fmt.Errorf("raft: snapshot: %w", err)
	}
	return nil
}

// Stats returns hashicorp/raft's statistics.
func (n *Node) Stats() map[string]string {
	r := n.raft()
	if r == nil {
		return map[string]string{"state": "joining"}
	}
	return r.Stats()
}

// SnapshotDir returns where snapshots are kept.
func (n *Node) SnapshotDir() string { return filepath.Join(n.opts.DataDir, "snapshots") }

// Shutdown stops Raft and closes the transport and stores.
func (n *Node) Shutdown() error {
	n.cancel()
	var errs []error
	n.startMu.Lock()
	r := n.raft()
	n.startMu.Unlock()
	if r != nil {
		r.DeregisterObserver(n.obs)
		if err := r.Shutdown().Error(); err != nil {
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
