// Package controller turns the facts in the Raft log into what the cluster
// serves (consensus health, steering, desired zones with generations), and
// runs a node: health checks in, proposals to Raft, answers out to the DNS
// server.
//
// The core is pure: [Decide], [Steer], [Guard] and the [Deriver] take their
// inputs (time included) as parameters and do no I/O, so the FSM can run
// them on every node and every node derives the same answers at the same
// log index.
package controller

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/switchboard-dns/switchboard/raft"
)

// Quorum says how many live observers must say down for an endpoint to be
// down.
type Quorum struct {
	kind string // "majority", "any", "all" or "n"
	n    int
}

// ParseQuorum parses "majority", "any", "all" or a positive number.
func ParseQuorum(s string) (Quorum, error) {
	switch s {
	case "", "majority":
		return Quorum{kind: "majority"}, nil
	case "any", "all":
		return Quorum{kind: s}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return Quorum{}, fmt.Errorf("controller: quorum %q must be majority, any, all or a positive number", s)
	}
	return Quorum{kind: "n", n: n}, nil
}

// Need returns how many down votes are needed among live observers. A
// number larger than the live observers cannot be reached, so such an
// endpoint stays up: one observer alone never fails the world.
func (q Quorum) Need(live int) int {
	switch q.kind {
	case "any":
		return 1
	case "all":
		return max(live, 1)
	case "n":
		return q.n
	}
	return live/2 + 1
}

// String prints the quorum as written in the policy.
func (q Quorum) String() string {
	if q.kind == "n" {
		return strconv.Itoa(q.n)
	}
	return q.kind
}

// VoteInfo is one observer's part in a decision.
type VoteInfo struct {
	Observer string    `json:"observer"`
	Up       bool      `json:"up"`
	At       time.Time `json:"at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	// NoVote: the observer never reported this endpoint (it counts as up).
	NoVote bool `json:"no_vote,omitempty"`
	// Counted is false for a dead observer, whose vote is ignored.
	Counted bool `json:"counted"`
}

// Decision is the cluster's verdict on one endpoint with the votes behind
// it.
type Decision struct {
	Endpoint string     `json:"endpoint"`
	Up       bool       `json:"up"`
	Live     int        `json:"live"` // live observers
	Down     int        `json:"down"` // live observers saying down
	Need     int        `json:"need"` // down votes needed
	Votes    []VoteInfo `json:"votes"`
	// Override is the operator override that decided, if any.
	Override string `json:"override,omitempty"`
	// Drill is the simulated drill that holds the endpoint down, if any.
	Drill string `json:"drill,omitempty"`
}

// Decide computes an endpoint's consensus from the observers, their votes
// and an optional override. It is pure.
//
// Decision table:
//
//	override down                         → down
//	override up                           → up
//	down votes of live observers ≥ need    → down
//	otherwise (including no live observer) → up
func Decide(endpoint string, observers map[string]*raft.Observer, votes map[string]raft.Vote, override *raft.Override, q Quorum) Decision {
	d := Decision{Endpoint: endpoint, Up: true}
	ids := make([]string, 0, len(observers))
	for id := range observers {
		ids = append(ids, id)
	}
	for id := range votes {
		if observers[id] == nil {
			ids = append(ids, id) // a vote from an observer no longer known
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		o := observers[id]
		alive := o != nil && o.Alive
		v, ok := votes[id]
		vi := VoteInfo{Observer: id, Up: true, Counted: alive, NoVote: !ok}
		if ok {
			vi.Up, vi.At, vi.Reason = v.Up, v.At, v.Reason
		}
		if alive {
			d.Live++
			if !vi.Up {
				d.Down++
			}
		}
		d.Votes = append(d.Votes, vi)
	}
	d.Need = q.Need(d.Live)
	if d.Live > 0 && d.Down >= d.Need {
		d.Up = false
	}
	if override != nil {
		d.Override = override.State
		d.Up = override.State == raft.OverrideUp
	}
	return d
}
