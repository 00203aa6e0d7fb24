package controller

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/switchboard-dns/switchboard/raft"
)

// LivenessInput is what the leader knows when it judges its observers.
type LivenessInput struct {
	// Self is the leader's id; it is alive by definition.
	Self string
	// Observers are the committed observers.
	Observers map[string]*raft.Observer
	// Members are the ids in the Raft configuration (voters and
	// non-voters); an observer outside it is left to removal.
	Members map[string]bool
	// Contacts is the leader's record of peers that had heartbeat
	// trouble since it became leader (see [raft.Node.Contacts]).
	Contacts map[string]raft.PeerContact
	// LeaderSince is when this node became leader.
	LeaderSince time.Time
	// Now is the current time; Timeout the policy's observer_timeout.
	Now     time.Time
	Timeout time.Duration
}

// Liveness returns the observer liveness changes the leader should
// commit. It is pure.
//
// Decision table, per committed observer other than the leader:
//
//	not a Raft member                                   → nothing (removal handles it)
//	alive, heartbeats failing for longer than timeout    → dead
//	dead, heartbeats resumed more than timeout ago       → alive
//	dead, no trouble recorded and leader for > timeout   → alive
//	otherwise                                           → nothing
//
// The leader itself is alive: a dead entry for it (left by an earlier
// leader) is revived. Contact must hold for the whole timeout before an
// observer comes back, so a flapping link does not flap its votes.
func Liveness(in LivenessInput) []raft.ObserverChange {
	var out []raft.ObserverChange
	for _, id := range slices.Sorted(maps.Keys(in.Observers)) {
		o := in.Observers[id]
		if id == in.Self {
			if !o.Alive {
				out = append(out, raft.ObserverChange{ID: id, Alive: true})
			}
			continue
		}
		if !in.Members[id] {
			continue
		}
		c, trouble := in.Contacts[id]
		switch {
		case o.Alive && trouble && c.Failing && in.Now.Sub(c.Since) > in.Timeout:
			out = append(out, raft.ObserverChange{ID: id, Alive: false})
		case !o.Alive && trouble && !c.Failing && in.Now.Sub(c.Since) > in.Timeout:
			out = append(out, raft.ObserverChange{ID: id, Alive: true})
		case !o.Alive && !trouble && !in.LeaderSince.IsZero() && in.Now.Sub(in.LeaderSince) > in.Timeout:
			out = append(out, raft.ObserverChange{ID: id, Alive: true})
		}
	}
	return out
}

// livenessEvery is how often the leader judges its observers.
const livenessEvery = 250 * time.Millisecond

// liveness runs on every node and acts while it leads: it commits
// observer liveness changes as [Liveness] decides.
func (n *Node) liveness(ctx context.Context) error {
	t := time.NewTicker(livenessEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		rn := n.opts.Raft
		leaderSince := rn.LeadingSince()
		if leaderSince.IsZero() {
			continue // not the leader
		}
		now := n.opts.Now()
		in := LivenessInput{Self: n.opts.ID, Contacts: rn.Contacts(), LeaderSince: leaderSince, Now: now, Members: map[string]bool{}}
		members, err := rn.Members()
		if err != nil {
			continue
		}
		for _, m := range members {
			in.Members[m.ID] = true
		}
		rn.FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
			in.Observers = map[string]*raft.Observer{}
			for id, o := range f.Observers {
				c := *o
				in.Observers[id] = &c
			}
			if f.Policy != nil {
				in.Timeout = f.Policy.Parsed().Consensus.ObserverTimeout.D()
			}
		})
		if in.Timeout <= 0 {
			continue // no policy yet
		}
		for _, ch := range Liveness(in) {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := rn.Propose(pctx, &raft.Command{Type: raft.CmdObserver, At: now, By: n.opts.ID, Observer: &ch})
			cancel()
			if err != nil {
				n.log.Warn("cannot commit an observer's liveness", "observer", ch.ID, "alive", ch.Alive, "error", err)
				break
			}
			n.log.Info("observer liveness changed", "observer", ch.ID, "alive", ch.Alive)
		}
	}
}

// register commits this node's registration (where its API is, where it
// runs) once it is a member, and again whenever it differs from what is
// committed.
func (n *Node) register(ctx context.Context) error {
	if n.opts.Info == nil {
		return nil
	}
	rn := n.opts.Raft
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-rn.Started():
	}
	want := *n.opts.Info
	want.ID = n.opts.ID
	backoff := 100 * time.Millisecond
	for {
		var cur raft.NodeInfo
		var ok bool
		rn.FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) { cur, ok = f.Nodes[want.ID] })
		if ok && cur == want {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := rn.Propose(pctx, &raft.Command{Type: raft.CmdNode, At: n.opts.Now(), By: n.opts.ID, Node: &want})
		cancel()
		if err == nil {
			n.log.Info("registered this node", "api", want.API, "raft", want.Raft, "voter", want.Voter)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n.log.Warn("cannot register this node yet; will retry", "error", err)
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
