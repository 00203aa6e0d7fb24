package raft

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"

	"github.com/switchboard-dns/switchboard/config"
)

// Deriver computes what the cluster serves from the facts. The controller
// implements it; the FSM calls it after every applied command, and once
// after a restore with a nil command.
//
// Derive must be deterministic and pure: the same facts, memory and command
// give the same output and the same memory on every node, so no clock, no
// randomness, no I/O, no iteration order of Go maps leaking into results.
// It may update m (that is how history enters the derivation) and returns
// the value published in [View.Output]. The output must be immutable once
// returned: subscribers read it without locks. Derive runs on Raft's apply
// goroutine, so it should be quick.
type Deriver interface {
	Derive(f *Facts, m *Memory, cmd *Command, index uint64) any
}

// View is what the FSM publishes after each applied entry.
type View struct {
	// Index is the log index the view reflects.
	Index uint64
	// Output is what [Deriver.Derive] returned.
	Output any
}

// FSM applies commands to [Facts]. It implements hashicorp/raft's FSM.
type FSM struct {
	deriver Deriver

	mu    sync.RWMutex
	facts *Facts
	mem   *Memory
	index uint64

	view atomic.Pointer[View]

	subsMu sync.Mutex
	subs   []chan struct{}
}

var _ hraft.FSM = (*FSM)(nil)

// NewFSM returns an empty state machine that derives with d.
func NewFSM(d Deriver) *FSM {
	f := &FSM{deriver: d, facts: NewFacts(), mem: NewMemory()}
	f.view.Store(&View{Output: d.Derive(f.facts, f.mem, nil, 0)})
	return f
}

// View returns the latest published view. It never returns nil.
func (f *FSM) View() *View { return f.view.Load() }

// Subscribe returns a channel that receives a value whenever a new view is
// published. Sends never block: a slow reader sees one pending signal and
// reads the newest [FSM.View]. The channel is never closed.
func (f *FSM) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	f.subsMu.Lock()
	f.subs = append(f.subs, ch)
	f.subsMu.Unlock()
	return ch
}

// Unsubscribe stops signals to a channel from [FSM.Subscribe].
func (f *FSM) Unsubscribe(ch <-chan struct{}) {
	f.subsMu.Lock()
	defer f.subsMu.Unlock()
	for i, c := range f.subs {
		if c == ch {
			f.subs = append(f.subs[:i], f.subs[i+1:]...)
			return
		}
	}
}

// Read calls fn with the facts and memory under a read lock. fn must not
// keep references to them.
func (f *FSM) Read(fn func(facts *Facts, mem *Memory, index uint64)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.facts, f.mem, f.index)
}

// AppliedIndex returns the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.index
}

func (f *FSM) publish(out any, index uint64) {
	f.view.Store(&View{Index: index, Output: out})
	f.notify()
}

// notify signals subscribers; a rejected command signals too, so that a
// waiter on the applied index sees it move.
func (f *FSM) notify() {
	f.subsMu.Lock()
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	f.subsMu.Unlock()
}

// Apply applies one log entry. It returns nil or an *[ApplyError] for a
// rejected command, which leaves the facts unchanged.
func (f *FSM) Apply(l *hraft.Log) any {
	if l.Type != hraft.LogCommand {
		return nil
	}
	cmd, err := decodeCommand(l.Data)
	f.mu.Lock()
	defer f.mu.Unlock()
	// An entry at or below the applied index was applied already: by the
	// node's replay of committed entries at start, or as part of a
	// snapshot taken after that replay (see [Node.replayCommitted]).
	if l.Index <= f.index {
		return nil
	}
	f.index = l.Index
	if err != nil {
		// A command this version cannot decode changes nothing here;
		// refusing the index would stop the node for good.
		f.notify()
		return rejectf("invalid", "%v", err)
	}
	if aerr := f.apply(cmd, l.Index); aerr != nil {
		f.notify()
		return aerr
	}
	out := f.deriver.Derive(f.facts, f.mem, cmd, l.Index)
	f.publish(out, l.Index)
	return nil
}

// apply changes the facts; f.mu is held.
func (f *FSM) apply(c *Command, index uint64) *ApplyError {
	fa := f.facts
	switch c.Type {
	case CmdPolicy:
		if c.Policy == nil {
			return rejectf("invalid", "policy command without policy")
		}
		cur := uint64(0)
		var curJSON json.RawMessage
		if fa.Policy != nil {
			cur, curJSON = fa.Policy.Version, fa.Policy.JSON
		}
		if c.Policy.IfNone && cur != 0 {
			return rejectf("conflict", "a policy is already committed (version %d)", cur)
		}
		if c.Policy.Expect != 0 && c.Policy.Expect != cur {
			return rejectf("conflict", "policy version is %d, the change was planned against %d", cur, c.Policy.Expect)
		}
		p, err := config.PolicyFromJSON(c.Policy.JSON)
		if err != nil {
			return rejectf("invalid", "policy: %v", err)
		}
		fa.Policy = &PolicyVersion{Version: cur + 1, JSON: c.Policy.JSON, At: c.At, By: c.By, Index: index, Previous: cur, PreviousJSON: curJSON, RollbackOf: c.Policy.RollbackOf, parsed: p}
		f.prune(p)
	case CmdVerdicts:
		v := c.Verdicts
		if v == nil || v.Observer == "" {
			return rejectf("invalid", "verdicts command without observer")
		}
		o := fa.Observers[v.Observer]
		if o == nil {
			o = &Observer{ID: v.Observer}
			fa.Observers[v.Observer] = o
		}
		if !o.Alive {
			// A batch that reached the log came from a live observer.
			o.Alive, o.Since, o.Index = true, c.At, index
		}
		known := f.endpointSet()
		if v.Full {
			for ep, votes := range fa.Votes {
				delete(votes, v.Observer)
				if len(votes) == 0 {
					delete(fa.Votes, ep)
				}
			}
		}
		for _, ch := range v.Changes {
			if !known[ch.Endpoint] {
				continue // the policy changed under the observer
			}
			votes := fa.Votes[ch.Endpoint]
			if votes == nil {
				votes = map[string]Vote{}
				fa.Votes[ch.Endpoint] = votes
			}
			votes[v.Observer] = Vote{Up: ch.Up, At: ch.At, Reason: ch.Reason, Index: index}
		}
	case CmdObserver:
		o := c.Observer
		if o == nil || o.ID == "" {
			return rejectf("invalid", "observer command without id")
		}
		if o.Remove {
			delete(fa.Observers, o.ID)
			delete(fa.Nodes, o.ID)
			for ep, votes := range fa.Votes {
				delete(votes, o.ID)
				if len(votes) == 0 {
					delete(fa.Votes, ep)
				}
			}
			break
		}
		cur := fa.Observers[o.ID]
		if cur == nil {
			cur = &Observer{ID: o.ID}
			fa.Observers[o.ID] = cur
		} else if cur.Alive == o.Alive {
			break
		}
		cur.Alive, cur.Since, cur.Index = o.Alive, c.At, index
	case CmdOverride:
		o := c.Override
		if o == nil || !f.endpointSet()[o.Endpoint] {
			return rejectf("invalid", "override: no endpoint %q in the policy", endpointName(o))
		}
		switch o.State {
		case "":
			delete(fa.Overrides, o.Endpoint)
		case OverrideUp, OverrideDown:
			fa.Overrides[o.Endpoint] = Override{State: o.State, Reason: o.Reason, At: c.At, By: c.By}
		default:
			return rejectf("invalid", "override state %q must be up, down or empty", o.State)
		}
	case CmdSync:
		s := c.Sync
		if s == nil || s.Provider == "" || s.Zone == "" {
			return rejectf("invalid", "sync command without provider and zone")
		}
		fa.Sync[SyncKey(s.Provider, s.Zone)] = *s
	case CmdNode:
		if c.Node == nil || c.Node.ID == "" {
			return rejectf("invalid", "node command without id")
		}
		fa.Nodes[c.Node.ID] = *c.Node
	case CmdRelease:
		if c.Release == nil || c.Release.Record == "" {
			return rejectf("invalid", "release command without record")
		}
		fa.Releases[c.Release.Record] = index
	case CmdDrill:
		return f.applyDrill(c, index)
	default:
		return rejectf("invalid", "unknown command type %q", c.Type)
	}
	return nil
}

func endpointName(o *SetOverride) string {
	if o == nil {
		return ""
	}
	return o.Endpoint
}

// endpointSet returns the endpoints of the current policy.
func (f *FSM) endpointSet() map[string]bool {
	out := map[string]bool{}
	if f.facts.Policy == nil {
		return out
	}
	for _, e := range f.facts.Policy.parsed.Endpoints {
		out[e.Name] = true
	}
	return out
}

// prune drops votes and overrides of endpoints the policy no longer has.
func (f *FSM) prune(p *config.Policy) {
	known := map[string]bool{}
	for _, e := range p.Endpoints {
		known[e.Name] = true
	}
	for ep := range f.facts.Votes {
		if !known[ep] {
			delete(f.facts.Votes, ep)
		}
	}
	for ep := range f.facts.Overrides {
		if !known[ep] {
			delete(f.facts.Overrides, ep)
		}
	}
}

// snapshotData is the serialised form of the state: facts and memory only,
// so its size follows the state, not the history.
type snapshotData struct {
	Index  uint64  `json:"index"`
	Facts  *Facts  `json:"facts"`
	Memory *Memory `json:"memory"`
}

// Snapshot captures the state for log compaction.
func (f *FSM) Snapshot() (hraft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(snapshotData{Index: f.index, Facts: f.facts, Memory: f.mem})
	if err != nil {
		return nil, fmt.Errorf("raft: snapshot: %w", err)
	}
	return &fsmSnapshot{data: b}, nil
}

// Restore replaces the state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotData
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("raft: restore: %w", err)
	}
	facts, mem := NewFacts(), NewMemory()
	if s.Facts != nil {
		facts = s.Facts
		fill(facts)
	}
	if s.Memory != nil {
		mem = s.Memory
		if mem.Zones == nil {
			mem.Zones = map[string]ZoneMemory{}
		}
		if mem.Health == nil {
			mem.Health = map[string]HealthMemory{}
		}
		if mem.Records == nil {
			mem.Records = map[string]RecordMemory{}
		}
	}
	if facts.Policy != nil {
		p, err := config.PolicyFromJSON(facts.Policy.JSON)
		if err != nil {
			return fmt.Errorf("raft: restore: policy version %d: %w", facts.Policy.Version, err)
		}
		facts.Policy.parsed = p
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.facts, f.mem, f.index = facts, mem, s.Index
	f.publish(f.deriver.Derive(f.facts, f.mem, nil, f.index), f.index)
	return nil
}

// fill replaces nil maps from old or partial snapshots.
func fill(fa *Facts) {
	if fa.Observers == nil {
		fa.Observers = map[string]*Observer{}
	}
	if fa.Votes == nil {
		fa.Votes = map[string]map[string]Vote{}
	}
	if fa.Overrides == nil {
		fa.Overrides = map[string]Override{}
	}
	if fa.Sync == nil {
		fa.Sync = map[string]SyncStatus{}
	}
	if fa.Releases == nil {
		fa.Releases = map[string]uint64{}
	}
	if fa.Nodes == nil {
		fa.Nodes = map[string]NodeInfo{}
	}
	if fa.Drills == nil {
		fa.Drills = map[string]*Drill{}
	}
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return fmt.Errorf("raft: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
