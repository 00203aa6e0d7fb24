// Package raft is switchboard's replicated log: hashicorp/raft wired to
// raft-boltdb and file snapshots, the commands that carry facts into the
// log, the finite-state machine that applies them, and the transport that
// carries Raft and forwarded writes between nodes.
//
// Only facts go into the log: policy versions, observers' verdict changes,
// observer liveness, operator overrides, drill steps, provider sync
// results. Applying a command is deterministic: no clock (commands carry
// the proposer's timestamps), no randomness, no I/O. What the cluster serves is derived
// from the facts by a [Deriver] that the controller supplies; the FSM calls
// it after every command, so every node derives the same answers at the same
// log index. The package never calls out to the network or to providers.
package raft

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

// Facts is everything the log has established, as of one index.
//
// The FSM owns it; readers get it through [FSM.Read], under a read lock,
// and must not keep references to its maps after the callback returns.
type Facts struct {
	// Policy is the current policy version, nil before the first one.
	Policy *PolicyVersion `json:"policy,omitempty"`
	// Observers are the nodes whose verdicts count, by node id.
	Observers map[string]*Observer `json:"observers"`
	// Votes holds each observer's latest verdict per endpoint:
	// endpoint → observer → vote. An observer without a vote for an
	// endpoint considers it up (a new endpoint starts up).
	Votes map[string]map[string]Vote `json:"votes"`
	// Overrides are operator decisions that beat consensus, by endpoint.
	Overrides map[string]Override `json:"overrides"`
	// Sync holds the last sync result per provider and zone, keyed by
	// [SyncKey].
	Sync map[string]SyncStatus `json:"sync"`
	// Releases records, per record key ("name TYPE"), the index of the
	// last operator release of a panic hold.
	Releases map[string]uint64 `json:"releases"`
	// Nodes holds what each node registered about itself once it had run
	// as a member: where its API is, where it runs. A node that asks to
	// join under an id registered here has run before; if it comes back
	// without its data, it must be removed first.
	Nodes map[string]NodeInfo `json:"nodes"`
	// Drills are the active drills and the last ended ones, by id. A
	// drill is replaced, never modified, when a step is added.
	Drills map[string]*Drill `json:"drills"`
}

// NodeInfo is a node's registration.
type NodeInfo struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	API  string `json:"api"`
	// DNS is where the node's embedded DNS server answers (host:port),
	// empty when it runs none.
	DNS    string `json:"dns,omitempty"`
	Cloud  string `json:"cloud,omitempty"`
	Region string `json:"region,omitempty"`
	Voter  bool   `json:"voter"`
}

// PolicyVersion is one committed version of the policy.
type PolicyVersion struct {
	Version uint64          `json:"version"`
	JSON    json.RawMessage `json:"json"`
	At      time.Time       `json:"at"`
	By      string          `json:"by"`
	Index   uint64          `json:"index"`
	// Previous is the version this one replaced (0 for the first), for
	// rollbacks.
	Previous uint64 `json:"previous"`
	// PreviousJSON is the policy of version Previous (nil for the
	// first), so that a failed rollout can be rolled back on any node.
	PreviousJSON json.RawMessage `json:"previous_json,omitempty"`
	// RollbackOf, when not zero, says this version was committed by the
	// reconciler to roll back that version after its rollout failed.
	RollbackOf uint64 `json:"rollback_of,omitempty"`

	parsed *config.Policy
}

// Parsed returns the decoded policy. It is shared: do not modify it.
func (p *PolicyVersion) Parsed() *config.Policy { return p.parsed }

// Observer is a node that health checks endpoints.
type Observer struct {
	ID string `json:"id"`
	// Alive is false once the leader lost contact with it for longer than
	// the policy's observer_timeout; its votes then stop counting.
	Alive bool      `json:"alive"`
	Since time.Time `json:"since"`
	Index uint64    `json:"index"`
}

// Vote is one observer's verdict on one endpoint.
type Vote struct {
	Up     bool      `json:"up"`
	At     time.Time `json:"at"` // when the observer decided, by its clock
	Reason string    `json:"reason,omitempty"`
	Index  uint64    `json:"index"` // log index that recorded it
}

// Override states.
const (
	OverrideUp   = "up"
	OverrideDown = "down"
)

// Override is an operator's decision about an endpoint (a drain, or a
// forced up), which beats the observers' consensus.
type Override struct {
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
}

// SyncStatus is the last reported state of one provider for one zone.
type SyncStatus struct {
	Provider string `json:"provider"`
	Zone     string `json:"zone"`
	// Applied and Verified are generations: written to the provider, and
	// seen answered by its nameservers.
	Applied  uint64 `json:"applied"`
	Verified uint64 `json:"verified"`
	// At is when the result was reported (after verification).
	At time.Time `json:"at"`
	// AppliedAt is when the provider accepted the write of Applied,
	// before verification (zero in results from older versions).
	AppliedAt time.Time `json:"applied_at,omitzero"`
	Error     string    `json:"error,omitempty"`
	// Unverified is set when the nameservers did not answer the applied
	// generation before the verify deadline.
	Unverified bool `json:"unverified,omitempty"`
	// Policy is the policy version the applied content was derived from.
	Policy uint64 `json:"policy,omitempty"`
}

// SyncKey names a provider and zone pair in [Facts.Sync].
func SyncKey(provider, zone string) string { return provider + " " + zone }

// NewFacts returns empty facts.
func NewFacts() *Facts {
	return &Facts{
		Observers: map[string]*Observer{},
		Votes:     map[string]map[string]Vote{},
		Overrides: map[string]Override{},
		Sync:      map[string]SyncStatus{},
		Releases:  map[string]uint64{},
		Nodes:     map[string]NodeInfo{},
		Drills:    map[string]*Drill{},
	}
}

// Memory is derived state that depends on history rather than only on the
// current facts: the generation counter of each zone, the consensus of each
// endpoint with the moment it last changed, and each record's panic hold.
// The [Deriver] keeps it; the FSM stores it in snapshots so that a node that
// restores a snapshot derives exactly what a node that applied every entry
// did.
type Memory struct {
	Zones   map[string]ZoneMemory   `json:"zones"`
	Health  map[string]HealthMemory `json:"health"`
	Records map[string]RecordMemory `json:"records"`
}

// ZoneMemory is a zone's current generation and the digest of the content
// it was minted for.
type ZoneMemory struct {
	Generation uint64    `json:"generation"`
	Hash       string    `json:"hash"`
	Since      time.Time `json:"since"`
	Index      uint64    `json:"index"`
}

// HealthMemory is an endpoint's consensus and when it last changed.
type HealthMemory struct {
	Up    bool      `json:"up"`
	Since time.Time `json:"since"`
	Index uint64    `json:"index"`
}

// RecordMemory is the state of a record's panic guard: the endpoints it
// last accepted as healthy, and whether it is holding.
type RecordMemory struct {
	// Endpoints are the record's endpoints when the memory was written;
	// an endpoint not among them is new to the record.
	Endpoints []string `json:"endpoints"`
	// Baseline holds the endpoints last accepted as healthy; BaselineAt
	// is when it was last reset to the healthy set (see
	// controller.Guard's window).
	Baseline   []string  `json:"baseline"`
	BaselineAt time.Time `json:"baseline_at,omitzero"`
	Panic      bool      `json:"panic"`
	Since      time.Time `json:"since,omitzero"`
	// Released is the index of the last operator release consumed.
	Released uint64 `json:"released,omitempty"`
}

// NewMemory returns empty memory.
func NewMemory() *Memory {
	return &Memory{
		Zones:   map[string]ZoneMemory{},
		Health:  map[string]HealthMemory{},
		Records: map[string]RecordMemory{},
	}
}

// Clone returns a deep copy of the facts.
func (f *Facts) Clone() *Facts {
	c := &Facts{
		Observers: make(map[string]*Observer, len(f.Observers)),
		Votes:     make(map[string]map[string]Vote, len(f.Votes)),
		Overrides: maps.Clone(f.Overrides),
		Sync:      maps.Clone(f.Sync),
		Releases:  maps.Clone(f.Releases),
		Nodes:     maps.Clone(f.Nodes),
		Drills:    make(map[string]*Drill, len(f.Drills)),
	}
	for k, d := range f.Drills {
		c.Drills[k] = d.Clone()
	}
	if f.Policy != nil {
		p := *f.Policy
		c.Policy = &p
	}
	for k, o := range f.Observers {
		oc := *o
		c.Observers[k] = &oc
	}
	for k, v := range f.Votes {
		c.Votes[k] = maps.Clone(v)
	}
	return c
}
