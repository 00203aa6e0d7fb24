package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/health"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// ZoneSink receives every new set of desired zones, in order. The embedded
// DNS server is one; Load must not keep the slice beyond the next call
// (the zones themselves are immutable and may be kept).
type ZoneSink interface {
	Load(zones []*zone.Zone) error
}

// NodeOptions configure a [Node].
type NodeOptions struct {
	// ID is this node's id, which is also its observer id.
	ID string
	// Raft is the opened Raft node; its FSM must derive with a [Deriver].
	Raft *raft.Node
	// Monitor probes endpoints; the Node feeds it the committed policy's
	// targets and turns its verdict changes into proposals.
	Monitor *health.Monitor
	// Sinks receive the desired zones after every change.
	Sinks []ZoneSink
	// BootstrapPolicy, when set, is committed if the cluster has no policy
	// yet (the policy in the serve config file).
	BootstrapPolicy *config.Policy
	// PolicySource names where BootstrapPolicy came from, for logs.
	PolicySource string
	// Source is the local address health probes leave from (zero: the
	// kernel's choice).
	Source netip.Addr
	// Now is the clock for proposals' timestamps; default time.Now.
	Now func() time.Time
	// Logger is the base logger.
	Logger *slog.Logger
	// Info, when set, is what this node registers about itself in the
	// cluster (API address, location); its ID is set from ID.
	Info *raft.NodeInfo
	// OnState, when set, is called after each published state has reached
	// the sinks (for demo output and metrics).
	OnState func(*State)
}

// Node runs one switchboard node around its Raft node: it follows the
// committed state (zones to the sinks, endpoints to the monitor) and
// commits this observer's verdict changes.
type Node struct {
	opts NodeOptions
	log  *slog.Logger

	mu       sync.Mutex
	state    *State
	loadedAt time.Time
	loadErr  error
}

// NewNode returns a node; [Node.Run] starts it.
func NewNode(opts NodeOptions) *Node {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Node{opts: opts, log: opts.Logger.With("component", "controller")}
}

// State returns the state the sinks last received.
func (n *Node) State() *State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

// Raft returns the node's Raft node.
func (n *Node) Raft() *raft.Node { return n.opts.Raft }

// Monitor returns the node's health monitor.
func (n *Node) Monitor() *health.Monitor { return n.opts.Monitor }

// ID returns the node's id.
func (n *Node) ID() string { return n.opts.ID }

// Sync pushes the FSM's current state to the sinks now. Serve calls it
// before the DNS server starts listening, so that a restarted node answers
// from its last committed state from the first query.
func (n *Node) Sync() error {
	v := n.opts.Raft.FSM().View()
	st, _ := v.Output.(*State)
	if st == nil {
		return errors.New("controller: FSM does not derive a controller State")
	}
	return n.publish(st, nil)
}

// Run follows the log and runs the health checks until ctx is done.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("controller: %s: %w", name, err)
			}
		}()
	}
	// The first publish hands the monitor its targets, seeded with this
	// observer's committed votes, before the verdicts loop builds its
	// first (full) batch from the monitor's status: built earlier, that
	// batch would restate no verdict or the default "up" and undo the
	// votes of this observer from before a restart.
	sub := n.opts.Raft.FSM().Subscribe()
	var lastPolicy *raft.PolicyVersion
	n.applyState(&lastPolicy)
	run("follow", func(ctx context.Context) error { return n.follow(ctx, sub, &lastPolicy) })
	run("monitor", n.opts.Monitor.Run)
	run("verdicts", n.verdicts)
	run("liveness", n.liveness)
	run("drills", n.drills)
	run("register", n.register)
	if n.opts.BootstrapPolicy != nil {
		run("bootstrap", n.bootstrap)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// follow pushes every new state to the sinks and the monitor.
func (n *Node) follow(ctx context.Context, sub <-chan struct{}, lastPolicy **raft.PolicyVersion) error {
	defer n.opts.Raft.FSM().Unsubscribe(sub)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub:
			n.applyState(lastPolicy)
		}
	}
}

// applyState publishes the FSM's current state.
func (n *Node) applyState(lastPolicy **raft.PolicyVersion) {
	st, _ := n.opts.Raft.FSM().View().Output.(*State)
	if st == nil {
		return
	}
	if err := n.publish(st, lastPolicy); err != nil {
		n.log.Error("cannot publish state", "index", st.Index, "error", err)
	}
}

// publish hands st to the sinks (when its zones differ from the last ones)
// and, when the policy changed, the new targets to the monitor.
func (n *Node) publish(st *State, lastPolicy **raft.PolicyVersion) error {
	n.mu.Lock()
	prev := n.state
	n.state = st
	n.mu.Unlock()
	var errs []error
	if prev == nil || !sameZones(prev.Zones, st.Zones) {
		for _, s := range n.opts.Sinks {
			if err := s.Load(st.Zones); err != nil {
				errs = append(errs, err)
			}
		}
	}
	var since uint64
	if prev != nil {
		since = prev.EventSeq
	}
	for _, ev := range st.Events {
		if ev.Seq > since {
			n.logEvent(ev)
		}
	}
	if lastPolicy != nil && st.Policy != *lastPolicy {
		*lastPolicy = st.Policy
		if st.Policy != nil {
			// Endpoints this observer had judged down before a restart
			// start down, so that it never vouches for them before a
			// probe has.
			down := map[string]bool{}
			n.opts.Raft.FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
				for ep, votes := range f.Votes {
					if v, ok := votes[n.opts.ID]; ok && !v.Up {
						down[ep] = true
					}
				}
			})
			if err := n.opts.Monitor.Update(Targets(st.Policy.Parsed(), n.opts.Source, down)); err != nil {
				errs = append(errs, fmt.Errorf("health targets: %w", err))
			}
		}
	}
	if n.opts.OnState != nil {
		n.opts.OnState(st)
	}
	return errors.Join(errs...)
}

func (n *Node) logEvent(ev Event) {
	level := slog.LevelInfo
	switch ev.Kind {
	case EventPanicHold, EventEndpointDown:
		level = slog.LevelWarn
	}
	n.log.Log(context.Background(), level, "event", "kind", ev.Kind, "subject", ev.Subject, "detail", ev.Detail, "index", ev.Index)
}

func sameZones(a, b []*zone.Zone) bool {
	return slices.Equal(a, b) // pointers: a rebuilt zone is a new value
}

// Targets returns the health targets of a policy, sorted by endpoint,
// probing from source (zero: the kernel's choice). Endpoints in startDown
// start down when they are new to the monitor.
func Targets(p *config.Policy, source netip.Addr, startDown map[string]bool) []health.Target {
	out := make([]health.Target, 0, len(p.Endpoints))
	for _, e := range p.Endpoints {
		c := p.Checks[e.Check]
		if c == nil {
			continue
		}
		out = append(out, health.Target{Endpoint: e.Name, Address: e.Address, Port: e.Port, Check: *c, Source: source, StartDown: startDown[e.Name]})
	}
	slices.SortFunc(out, func(a, b health.Target) int {
		if a.Endpoint < b.Endpoint {
			return -1
		}
		if a.Endpoint > b.Endpoint {
			return 1
		}
		return 0
	})
	return out
}

// verdicts commits this observer's verdict changes. The first proposal is
// a full batch, so that votes from before a restart do not linger. Changes
// that cannot be committed (no leader) are kept, merged per endpoint, and
// retried; none is lost.
func (n *Node) verdicts(ctx context.Context) error {
	pending := map[string]raft.VerdictChange{}
	merge := func(batch []health.Verdict) {
		for _, v := range batch {
			pending[v.Endpoint] = raft.VerdictChange{Endpoint: v.Endpoint, Up: v.Up, At: v.At, Reason: v.Reason}
		}
	}
	full := true
	changes := n.opts.Monitor.Changes()
	var retry <-chan time.Time // set while waiting to retry a failed proposal
	backoff := 50 * time.Millisecond
	for {
		if retry == nil && (full || len(pending) > 0) {
			if err := n.proposeVerdicts(ctx, pending, full); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				n.log.Warn("cannot commit verdicts yet; will retry", "pending", len(pending), "error", err)
				retry = time.After(backoff)
				backoff = min(backoff*2, 2*time.Second)
			} else {
				full, backoff = false, 50*time.Millisecond
				clear(pending)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case batch, ok := <-changes:
			if !ok {
				return errors.New("health monitor closed its changes")
			}
			merge(batch)
			// Take what else is ready now: changes detected together
			// commit together, with no wait for more.
			for more := true; more; {
				select {
				case batch, ok := <-changes:
					if !ok {
						return errors.New("health monitor closed its changes")
					}
					merge(batch)
				default:
					more = false
				}
			}
		case <-retry:
			retry = nil
		}
	}
}

func (n *Node) proposeVerdicts(ctx context.Context, pending map[string]raft.VerdictChange, full bool) error {
	batch := &raft.VerdictBatch{Observer: n.opts.ID, Full: full}
	for _, k := range sortedKeys(pending) {
		batch.Changes = append(batch.Changes, pending[k])
	}
	if full {
		// A full batch restates every current verdict.
		batch.Changes = batch.Changes[:0]
		for _, s := range n.opts.Monitor.Status() {
			batch.Changes = append(batch.Changes, raft.VerdictChange{Endpoint: s.Endpoint, Up: s.Up, At: s.Since, Reason: s.LastErr})
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := n.opts.Raft.Propose(pctx, &raft.Command{Type: raft.CmdVerdicts, At: n.opts.Now(), By: n.opts.ID, Verdicts: batch})
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// bootstrap commits the config file's policy if the cluster has none, and
// otherwise says whether the file differs from what is committed.
func (n *Node) bootstrap(ctx context.Context) error {
	want := n.opts.BootstrapPolicy.JSON()
	backoff := 100 * time.Millisecond
	for {
		var cur *raft.PolicyVersion
		n.opts.Raft.FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) { cur = f.Policy })
		if cur != nil {
			if !bytes.Equal(cur.JSON, want) {
				n.log.Warn("the policy in the config file differs from the committed one; the committed one stays in force",
					"file", n.opts.PolicySource, "committed_version", cur.Version, "hint", "switchboard apply -f "+n.opts.PolicySource)
			}
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := n.opts.Raft.Propose(pctx, &raft.Command{Type: raft.CmdPolicy, At: n.opts.Now(), By: n.opts.ID,
			Policy: &raft.SetPolicy{JSON: want, IfNone: true}})
		cancel()
		switch {
		case err == nil:
			n.log.Info("committed the config file's policy", "file", n.opts.PolicySource)
			return nil
		case errors.Is(err, raft.ErrConflict):
			continue // someone else bootstrapped; compare with theirs
		case ctx.Err() != nil:
			return ctx.Err()
		}
		n.log.Warn("cannot commit the bootstrap policy yet; will retry", "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
