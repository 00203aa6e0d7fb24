package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-dns/switchboard/raft"
)

// Rollout phases.
const (
	rolloutRunning = iota
	rolloutDone
	rolloutFailed
	rolloutStopped // superseded by a newer policy, or the term ended
)

// rollout is a policy version's staged rollout to the providers of one
// zone: one provider at a time, in the zone's provider order, each
// applied and verified at its nameservers before the next is touched.
// Health changes do not wait for it: the providers already done get the
// new version's content at once, and those not reached yet get the
// previous version's content under the new health ([PreviousZone]). On
// the first failure it stops and rolls back: it commits the previous
// policy again as a new version marked [raft.PolicyVersion.RollbackOf],
// whose content (the previous policy under the current health, at a new
// generation) goes to every provider at once.
type rollout struct {
	version uint64
	origin  string
	order   []string
	cancel  context.CancelFunc

	// guarded by term.mu
	phase   int
	reached map[string]bool
	current string // the provider of the step under way
}

func (ro *rollout) running() bool { return ro.phase == rolloutRunning }

// decide says what provider name may be given outside the rollout's own
// steps: the rollout's version (cur), the previous version under the
// current health (prev), or nothing (the provider of the step under way,
// whose queue the step owns, and everyone once the rollout failed, until
// the roll-back is committed). term.mu is held.
func (ro *rollout) decide(name string) (cur, prev bool) {
	switch ro.phase {
	case rolloutDone, rolloutStopped:
		return true, false
	case rolloutFailed:
		return false, false
	}
	switch {
	case ro.reached[name]:
		return true, false
	case ro.current == name:
		return false, false
	}
	return false, true
}

// startRollout starts version's rollout to the zone's providers; term.mu
// is held. Providers whose committed sync says they hold version, applied
// and verified without error (a rollout an earlier term left half way),
// count as reached from the start: health changes reach them with the new
// version, and their step only confirms it.
func (t *term) startRollout(version uint64, origin string, names []string, syncs map[string]raft.SyncStatus) *rollout {
	ctx, cancel := context.WithCancel(t.ctx)
	ro := &rollout{version: version, origin: origin, order: append([]string(nil), names...), cancel: cancel, reached: map[string]bool{}}
	for _, n := range names {
		s, ok := syncs[raft.SyncKey(n, origin)]
		if ok && s.Policy == version && s.Error == "" && !s.Unverified && s.Verified == s.Applied {
			ro.reached[n] = true
		} else if ro.current == "" {
			// The first step's provider is not given the previous
			// version meanwhile.
			ro.current = n
		}
	}
	if old := t.rollouts[origin]; old != nil {
		old.cancel()
	}
	t.rollouts[origin] = ro
	t.r.log.Info("policy rollout starting", "zone", origin, "version", version, "order", ro.order)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer cancel()
		t.runRollout(ctx, ro)
	}()
	return ro
}

func (t *term) runRollout(ctx context.Context, ro *rollout) {
	r := t.r
	log := r.log.With("zone", ro.origin, "version", ro.version)
	start := r.opts.Now()
	for _, name := range ro.order {
		st, _ := r.opts.Cluster.Snapshot()
		z := st.Zone(ro.origin)
		if st.Policy == nil || st.Policy.Version != ro.version || z == nil || ctx.Err() != nil {
			t.setPhase(ro, rolloutStopped)
			log.Info("policy rollout stopped: superseded")
			return
		}
		w := t.workerByName(name)
		if w == nil {
			t.setPhase(ro, rolloutStopped)
			return
		}
		step := r.opts.StepTimeout
		if step <= 0 {
			step = w.verifyTimeout() + 2*r.opts.CallTimeout
		}
		deadline := r.opts.Now().Add(step)
		done := make(chan jobResult, 4)
		t.mu.Lock()
		ro.current = name
		t.dispatchJob(name, st, z, done, deadline)
		t.mu.Unlock()
		var res jobResult
		wctx, cancel := context.WithTimeout(ctx, step+r.opts.CallTimeout)
		select {
		case res = <-done:
		case <-wctx.Done():
			res = jobResult{provider: name, gen: z.Generation, policy: ro.version, err: fmt.Errorf("%w: %w", errStepTimeout, wctx.Err())}
		}
		cancel()
		if ctx.Err() != nil {
			t.setPhase(ro, rolloutStopped)
			return
		}
		if res.policy != ro.version {
			t.setPhase(ro, rolloutStopped)
			log.Info("policy rollout stopped: superseded")
			return
		}
		if res.err == nil && res.verified {
			t.mu.Lock()
			ro.reached[name] = true
			ro.current = ""
			t.mu.Unlock()
			log.Info("policy rollout: provider done", "provider", name, "generation", res.gen)
			continue
		}
		cause := res.err
		if cause == nil {
			cause = errors.New("nameservers did not answer the new content before the verify deadline")
		}
		t.setPhase(ro, rolloutFailed)
		log.Error("policy rollout failed; rolling back", "provider", name, "err", cause)
		t.rollback(ctx, ro, name, cause)
		return
	}
	t.setPhase(ro, rolloutDone)
	log.Info("policy rollout done", "providers", len(ro.order), "took", r.opts.Now().Sub(start))
}

func (t *term) setPhase(ro *rollout, phase int) {
	t.mu.Lock()
	ro.phase = phase
	t.mu.Unlock()
}

func (t *term) workerByName(name string) *worker {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.workers[name]
}

// rollback records why the rollout stopped on the failed provider's sync
// status and commits the previous policy again as a roll-back of
// ro.version. The policy version CAS makes it a no-op if an operator
// committed a newer policy meanwhile.
func (t *term) rollback(ctx context.Context, ro *rollout, failed string, cause error) {
	r := t.r
	st, syncs := r.opts.Cluster.Snapshot()
	if st.Policy == nil || st.Policy.Version != ro.version {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s := syncs[raft.SyncKey(failed, ro.origin)]
	s.Provider, s.Zone, s.At = failed, ro.origin, r.opts.Now()
	s.Error = fmt.Sprintf("rollout of policy version %d stopped here and rolled back: %v", ro.version, cause)
	if _, err := r.opts.Cluster.Propose(pctx, &raft.Command{Type: raft.CmdSync, At: s.At, By: r.opts.Node, Sync: &s}); err != nil {
		r.log.Warn("cannot record the failed rollout step", "provider", failed, "err", err)
	}
	if len(st.Policy.PreviousJSON) == 0 {
		r.log.Error("cannot roll back: the previous policy is not in the log", "version", ro.version)
		return
	}
	_, err := r.opts.Cluster.Propose(pctx, &raft.Command{
		Type: raft.CmdPolicy, At: r.opts.Now(), By: r.opts.Node,
		Policy: &raft.SetPolicy{JSON: st.Policy.PreviousJSON, Expect: ro.version, RollbackOf: ro.version},
	})
	switch {
	case errors.Is(err, raft.ErrConflict):
		r.log.Info("not rolling back: a newer policy was committed", "version", ro.version)
	case err != nil:
		r.log.Error("cannot commit the roll-back", "version", ro.version, "err", err)
	default:
		r.log.Warn("rolled back", "version", ro.version, "to", st.Policy.Previous, "failed_provider", failed)
	}
}
