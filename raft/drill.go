package raft

import (
	"slices"
	"time"
)

// Drill modes.
const (
	// DrillSimulated injects the failure: the scoped endpoints count as
	// down in the derivation, or the scoped provider as unavailable to
	// the reconciler.
	DrillSimulated = "simulated"
	// DrillLive injects nothing: the operator causes the failure and
	// the drill measures what the cluster does about it.
	DrillLive = "live"
)

// Drill step kinds, in the order a drill usually records them.
const (
	StepStart    = "start"    // an operator starts the drill
	StepInject   = "inject"   // the leader activates the failure (simulated)
	StepObserved = "observed" // the leader saw a stage of the pipeline happen
	StepRestored = "restored" // the leader ended the failure at the deadline
	StepAborted  = "aborted"  // an operator ended the drill early
	StepEnded    = "ended"    // the leader closed the drill's measurements
)

// maxEndedDrills bounds how many finished drills the facts keep, so that
// snapshots follow the state, not the history.
const maxEndedDrills = 50

// DrillStep is the payload of a [CmdDrill] command: one step of one drill.
type DrillStep struct {
	ID   string `json:"id"`
	Step string `json:"step"`
	// Start only: the scope ("region:aws/us-east-1"), the mode, the
	// absolute deadline by the proposer's clock, and force (skip the
	// "no healthy pool left" guard rail).
	Scope    string    `json:"scope,omitempty"`
	Mode     string    `json:"mode,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
	Force    bool      `json:"force,omitempty"`
	// Endpoints and Provider are what the scope resolved to; a start
	// command may carry them, the FSM replaces them with the [DrillGuard]'s
	// resolution when the deriver has one.
	Endpoints []string `json:"endpoints,omitempty"`
	Provider  string   `json:"provider,omitempty"`
	// Observed only: which stage was seen (see the controller's
	// Observe* constants), when it happened by the fact that shows it,
	// and what it refers to (a provider, a generation).
	Phase   string    `json:"phase,omitempty"`
	What    string    `json:"what,omitempty"`
	Subject string    `json:"subject,omitempty"`
	When    time.Time `json:"when,omitzero"`
	Index   uint64    `json:"index,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// DrillGuard is implemented by a [Deriver] that can judge a drill before
// it starts: it resolves the scope against the current policy and checks
// the guard rails (no record left without a healthy pool unless forced,
// one drill per scope). It must be deterministic like Derive. The FSM
// calls it when it applies a start step; a non-nil error rejects the
// command with [ErrConflict] (guard rail) or [ErrInvalid] (bad scope), as
// the error wraps.
type DrillGuard interface {
	CheckDrill(f *Facts, start *DrillStep) (endpoints []string, provider string, err error)
}

// Drill is one drill as the log recorded it.
type Drill struct {
	ID        string        `json:"id"`
	Scope     string        `json:"scope"`
	Mode      string        `json:"mode"`
	Endpoints []string      `json:"endpoints,omitempty"`
	Provider  string        `json:"provider,omitempty"`
	Deadline  time.Time     `json:"deadline"`
	Force     bool          `json:"force,omitempty"`
	By        string        `json:"by"`
	Steps     []DrillRecord `json:"steps"`
}

// DrillRecord is one committed step with the command's time, proposer and
// log index.
type DrillRecord struct {
	Step    string    `json:"step"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Index   uint64    `json:"index"`
	Phase   string    `json:"phase,omitempty"`
	What    string    `json:"what,omitempty"`
	Subject string    `json:"subject,omitempty"`
	When    time.Time `json:"when,omitzero"`
	Ref     uint64    `json:"ref,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Has reports whether the drill recorded a step of that kind.
func (d *Drill) Has(step string) bool {
	return slices.ContainsFunc(d.Steps, func(r DrillRecord) bool { return r.Step == step })
}

// Step returns the first record of that kind.
func (d *Drill) Step(step string) (DrillRecord, bool) {
	for _, r := range d.Steps {
		if r.Step == step {
			return r, true
		}
	}
	return DrillRecord{}, false
}

// Observed reports whether an observed step for phase, what and subject
// was recorded.
func (d *Drill) Observed(phase, what, subject string) bool {
	return slices.ContainsFunc(d.Steps, func(r DrillRecord) bool {
		return r.Step == StepObserved && r.Phase == phase && r.What == what && r.Subject == subject
	})
}

// Stopped reports whether the failure is over (restored or aborted).
func (d *Drill) Stopped() bool { return d.Has(StepRestored) || d.Has(StepAborted) }

// Ended reports whether the drill is closed.
func (d *Drill) Ended() bool { return d.Has(StepEnded) }

// Injecting reports whether the drill's failure is in force: injected
// and neither restored nor aborted.
func (d *Drill) Injecting() bool { return d.Has(StepInject) && !d.Stopped() }

// Clone returns a deep copy.
func (d *Drill) Clone() *Drill {
	c := *d
	c.Endpoints = slices.Clone(d.Endpoints)
	c.Steps = slices.Clone(d.Steps)
	return &c
}

// ActiveDrills returns the drills not yet ended, sorted by id.
func (f *Facts) ActiveDrills() []*Drill {
	var out []*Drill
	for _, d := range f.Drills {
		if !d.Ended() {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *Drill) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// applyDrill records a drill step; f.mu is held.
func (f *FSM) applyDrill(c *Command, index uint64) *ApplyError {
	s := c.Drill
	if s == nil || s.ID == "" {
		return rejectf("invalid", "drill command without id")
	}
	fa := f.facts
	d := fa.Drills[s.ID]
	if s.Step == StepStart {
		if d != nil {
			return rejectf("conflict", "drill %s exists already", s.ID)
		}
		if s.Mode != DrillSimulated && s.Mode != DrillLive {
			return rejectf("invalid", "drill mode %q must be simulated or live", s.Mode)
		}
		if s.Deadline.IsZero() || !s.Deadline.After(c.At) {
			return rejectf("invalid", "drill deadline %s must be after its start %s", s.Deadline, c.At)
		}
		eps, prov := slices.Clone(s.Endpoints), s.Provider
		if g, ok := f.deriver.(DrillGuard); ok {
			var err error
			eps, prov, err = g.CheckDrill(fa, s)
			if err != nil {
				return asApplyError(err)
			}
		}
		fa.Drills[s.ID] = &Drill{ID: s.ID, Scope: s.Scope, Mode: s.Mode, Endpoints: eps, Provider: prov, Deadline: s.Deadline, Force: s.Force, By: c.By,
			Steps: []DrillRecord{{Step: StepStart, At: c.At, By: c.By, Index: index}}}
		return nil
	}
	if d == nil {
		return rejectf("invalid", "no drill %s", s.ID)
	}
	if d.Ended() && s.Step != StepObserved {
		// Measurements made outside the cluster (DNS answers seen by
		// the CLI) may arrive after the end; nothing else may.
		return rejectf("conflict", "drill %s has ended", s.ID)
	}
	rec := DrillRecord{Step: s.Step, At: c.At, By: c.By, Index: index}
	switch s.Step {
	case StepInject:
		if d.Has(StepInject) || d.Stopped() {
			return rejectf("conflict", "drill %s: cannot inject now", s.ID)
		}
	case StepObserved:
		if s.Phase == "" || s.What == "" {
			return rejectf("invalid", "drill %s: observed step without phase and stage", s.ID)
		}
		if d.Observed(s.Phase, s.What, s.Subject) {
			return rejectf("conflict", "drill %s: %s %s %s observed already", s.ID, s.Phase, s.What, s.Subject)
		}
		rec.Phase, rec.What, rec.Subject, rec.When, rec.Ref, rec.Detail = s.Phase, s.What, s.Subject, s.When, s.Index, s.Detail
	case StepRestored, StepAborted:
		if d.Stopped() {
			return rejectf("conflict", "drill %s is over already", s.ID)
		}
		rec.Detail = s.Detail
	case StepEnded:
		if !d.Stopped() {
			return rejectf("conflict", "drill %s: end before restore or abort", s.ID)
		}
	default:
		return rejectf("invalid", "drill step %q", s.Step)
	}
	d = d.Clone()
	d.Steps = append(d.Steps, rec)
	fa.Drills[s.ID] = d
	if s.Step == StepEnded {
		f.pruneDrills()
	}
	return nil
}

// pruneDrills keeps the last [maxEndedDrills] ended drills (by the index
// of their end step).
func (f *FSM) pruneDrills() {
	type ended struct {
		id    string
		index uint64
	}
	var es []ended
	for id, d := range f.facts.Drills {
		if r, ok := d.Step(StepEnded); ok {
			es = append(es, ended{id, r.Index})
		}
	}
	if len(es) <= maxEndedDrills {
		return
	}
	slices.SortFunc(es, func(a, b ended) int {
		switch {
		case a.index < b.index:
			return -1
		case a.index > b.index:
			return 1
		}
		return 0
	})
	for _, e := range es[:len(es)-maxEndedDrills] {
		delete(f.facts.Drills, e.id)
	}
}
