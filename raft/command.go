package raft

import (
	"encoding/json"
	"errors"
	"fmt"
	hraft "github.com/hashicorp/raft"
	"time"
)

// Command types.
const (
	CmdPolicy   = "policy"   // a new policy version
	CmdVerdicts = "verdicts" // an observer's verdict changes
	CmdObserver = "observer" // an observer joins, restarts, dies or comes back
	CmdOverride = "override" // an operator sets or clears an override
	CmdSync     = "sync"     // a provider sync result
	CmdRelease  = "release"  // an operator releases a record's panic hold
	CmdNode     = "node"     // a node registers itself
	CmdDrill    = "drill"    // a step of a failover drill
)

// Command is one fact proposed for the log. At and By say when and by whom
// it was proposed: the FSM uses At as "now", never its own clock.
type Command struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	By   string    `json:"by"`

	Policy   *SetPolicy      `json:"policy,omitempty"`
	Verdicts *VerdictBatch   `json:"verdicts,omitempty"`
	Observer *ObserverChange `json:"observer,omitempty"`
	Override *SetOverride    `json:"override,omitempty"`
	Sync     *SyncStatus     `json:"sync,omitempty"`
	Release  *Release        `json:"release,omitempty"`
	Node     *NodeInfo       `json:"node,omitempty"`
	Drill    *DrillStep      `json:"drill,omitempty"`
}

// SetPolicy commits a new policy version.
type SetPolicy struct {
	// JSON is the policy as [config.Policy.JSON] prints it.
	JSON json.RawMessage `json:"json"`
	// Expect, when not zero, is the version the proposer planned
	// against: the command is rejected with [ErrConflict] if the current
	// version differs, so that two operators cannot overwrite each other.
	Expect uint64 `json:"expect,omitempty"`
	// IfNone commits the policy only if there is none yet (a node's
	// bootstrap from its config file); otherwise [ErrConflict].
	IfNone bool `json:"if_none,omitempty"`
	// RollbackOf, when not zero, marks the policy as the roll-back of
	// that version after its rollout failed; the version is recorded in
	// [PolicyVersion.RollbackOf].
	RollbackOf uint64 `json:"rollback_of,omitempty"`
}

// VerdictBatch carries one observer's verdict changes; many endpoints in
// one entry.
type VerdictBatch struct {
	Observer string          `json:"observer"`
	Changes  []VerdictChange `json:"changes"`
	// Full replaces all of the observer's votes with Changes (endpoints
	// not listed become "no vote", that is up). An observer sends a full
	// batch when it starts, so that votes from before a restart do not
	// linger.
	Full bool `json:"full,omitempty"`
}

// VerdictChange is one endpoint's new verdict by one observer.
type VerdictChange struct {
	Endpoint string    `json:"endpoint"`
	Up       bool      `json:"up"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason,omitempty"`
}

// ObserverChange records an observer's liveness as the leader sees it.
type ObserverChange struct {
	ID    string `json:"id"`
	Alive bool   `json:"alive"`
	// Remove drops the observer, its votes and its registration (it left
	// the cluster or was removed).
	Remove bool `json:"remove,omitempty"`
}

// SetOverride sets (State "up" or "down") or clears (State "") an
// operator override on an endpoint.
type SetOverride struct {
	Endpoint string `json:"endpoint"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
}

// Release lets a record in a panic hold accept the current health.
type Release struct {
	Record string `json:"record"` // "www.example.com. A"
}

// Errors returned by Apply, carried across forwarding by [ApplyError]
// codes.
var (
	// ErrConflict: the command expected a state that is no longer
	// current (policy version CAS).
	ErrConflict = errors.New("raft: conflict")
	// ErrInvalid: the command is malformed or refers to nothing.
	ErrInvalid = errors.New("raft: invalid command")
	// ErrNotLeader: this node is not the leader and cannot forward.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrNoLeader: no leader is known (an election is under way or the
	// quorum is lost) and the deadline passed.
	ErrNoLeader = errors.New("raft: no leader")
)

// ApplyError is a rejected command: a code that maps back to one of the
// sentinel errors, and a message.
type ApplyError struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

// Error returns the message.
func (e *ApplyError) Error() string { return e.Msg }

// Unwrap maps the code to its sentinel error.
func (e *ApplyError) Unwrap() error {
	switch e.Code {
	case "conflict":
		return ErrConflict
	case "invalid":
		return ErrInvalid
	case "not-leader":
		return ErrNotLeader
	case "no-leader":
		return ErrNoLeader
	}
	return nil
}

func rejectf(code string, format string, args ...any) *ApplyError {
	return &ApplyError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// asApplyError turns any error into one that survives the network.
func asApplyError(err error) *ApplyError {
	var ae *ApplyError
	if errors.As(err, &ae) {
		return ae
	}
	code := ""
	switch {
	case errors.Is(err, ErrConflict):
		code = "conflict"
	case errors.Is(err, ErrInvalid):
		code = "invalid"
	case errors.Is(err, ErrNotLeader), errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrLeadershipLost),
		errors.Is(err, hraft.ErrLeadershipTransferInProgress), errors.Is(err, ErrNotStarted):
		// The leader lost its leadership while handling a forwarded
		// write: the follower retries with the next leader.
		code = "not-leader"
	case errors.Is(err, ErrNoLeader):
		code = "no-leader"
	}
	return &ApplyError{Code: code, Msg: err.Error()}
}

// encode serialises a command for the log.
func (c *Command) encode() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("raft: encode %s command: %w", c.Type, err)
	}
	return b, nil
}

func decodeCommand(data []byte) (*Command, error) {
	var c Command
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("raft: decode command: %w", err)
	}
	return &c, nil
}

// Endpoints returns the endpoints a command touches directly, and whether
// it may touch every endpoint (a policy change, an observer's liveness),
// so that a [Deriver] can recompute only what changed.
func (c *Command) Endpoints() (names []string, all bool) {
	switch c.Type {
	case CmdVerdicts:
		if c.Verdicts.Full {
			return nil, true
		}
		for _, v := range c.Verdicts.Changes {
			names = append(names, v.Endpoint)
		}
		return names, false
	case CmdOverride:
		return []string{c.Override.Endpoint}, false
	case CmdSync, CmdNode:
		return nil, false
	case CmdDrill:
		// Only the steps that switch a failure on or off can change
		// what is derived.
		if c.Drill != nil {
			switch c.Drill.Step {
			case StepInject, StepRestored, StepAborted:
				return nil, true
			}
		}
		return nil, false
	}
	return nil, true
}
