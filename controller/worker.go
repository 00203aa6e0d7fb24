package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// Reasons a job stops without writing.
var (
	// errStale: the provider's fence or the committed sync result is
	// newer than the plan; a newer writer exists and this plan must
	// never be applied.
	errStale = errors.New("controller: plan is older than what the provider holds")
	// errNotLeader: leadership was lost before a write.
	errNotLeader = errors.New("controller: not the leader")
	// errSuperseded: a newer job for the same zone arrived; it carries
	// the waiters on.
	errSuperseded = errors.New("controller: superseded by a newer generation")
	// errStepTimeout: a rollout step's deadline passed while retrying.
	errStepTimeout = errors.New("controller: step deadline passed")
)

// job asks a worker to bring one zone of its provider to desired.
type job struct {
	desired *zone.Zone
	policy  uint64
	keys    []zone.Key
	steered map[string]bool
	// deadline, when set, makes the worker give up retrying after it
	// (rollout steps); zero retries until leadership is lost.
	deadline time.Time
	waiters  []chan<- jobResult
}

// jobResult is what a job's waiters receive.
type jobResult struct {
	provider string
	gen      uint64
	policy   uint64
	applied  bool // the provider holds gen's content
	verified bool // its nameservers answer it
	err      error
}

// worker owns one provider: its queue (newest job per zone), rate limit
// and retries. Only it calls the provider, one call at a time.
type worker struct {
	t    *term
	name string
	log  *slog.Logger
	// set holds the provider and its settings; a policy that changes
	// them swaps it, and each job reads it once.
	set atomic.Pointer[workerSettings]

	mu      sync.Mutex
	pending map[string]*job // zone origin → newest job
	wake    chan struct{}
}

// workerSettings is a provider instance with its shared settings.
type workerSettings struct {
	key    string
	p      providers.Provider
	common config.ProviderCommon
	lim    *rate.Limiter
}

func newWorker(t *term, name string, p providers.Provider, common config.ProviderCommon) *worker {
	w := &worker{
		t: t, name: name,
		log:     t.r.log.With("provider", name),
		pending: map[string]*job{},
		wake:    make(chan struct{}, 1),
	}
	w.configure("", p, common)
	return w
}

// configure installs the provider and settings known by key, unless they
// are installed already.
func (w *worker) configure(key string, p providers.Provider, common config.ProviderCommon) {
	if cur := w.set.Load(); cur != nil && cur.key == key {
		return
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if common.RateLimit > 0 {
		// No burst: the limit is a sustained rate of calls, reads
		// included, as the providers' API quotas count them.
		lim = rate.NewLimiter(rate.Limit(common.RateLimit), 1)
	}
	w.set.Store(&workerSettings{key: key, p: p, common: common, lim: lim})
}

// submit queues j, replacing (and inheriting the waiters of) an older job
// for the same zone: only the newest wanted generation matters.
func (w *worker) submit(j *job) {
	w.mu.Lock()
	if old := w.pending[j.desired.Origin]; old != nil {
		j.waiters = append(old.waiters, j.waiters...)
	}
	w.pending[j.desired.Origin] = j
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next pops a pending job, zones in canonical order.
func (w *worker) next() *job {
	w.mu.Lock()
	defer w.mu.Unlock()
	var origins []string
	for o := range w.pending {
		origins = append(origins, o)
	}
	if len(origins) == 0 {
		return nil
	}
	slices.SortFunc(origins, zone.CompareNames)
	j := w.pending[origins[0]]
	delete(w.pending, origins[0])
	return j
}

// handOver moves j's waiters to a newer pending job for the same zone and
// reports whether there was one.
func (w *worker) handOver(j *job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.pending[j.desired.Origin]
	if n == nil {
		return false
	}
	n.waiters = append(j.waiters, n.waiters...)
	j.waiters = nil
	return true
}

func (w *worker) run(ctx context.Context) {
	for {
		j := w.next()
		if j == nil {
			select {
			case <-ctx.Done():
				w.failPending(ctx.Err())
				return
			case <-w.wake:
			}
			continue
		}
		res := w.process(ctx, j)
		if errors.Is(res.err, errSuperseded) && w.handOver(j) {
			continue
		}
		for _, ch := range j.waiters {
			ch <- res
		}
	}
}

func (w *worker) failPending(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for o, j := range w.pending {
		for _, ch := range j.waiters {
			ch <- jobResult{provider: w.name, gen: j.desired.Generation, policy: j.policy, err: err}
		}
		delete(w.pending, o)
	}
}

func (w *worker) hasNewer(j *job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending[j.desired.Origin] != nil
}

// process writes, verifies and commits one job.
func (w *worker) process(ctx context.Context, j *job) jobResult {
	r := w.t.r
	origin, gen := j.desired.Origin, j.desired.Generation
	res := jobResult{provider: w.name, gen: gen, policy: j.policy}
	log := w.log.With("zone", origin, "generation", gen)
	attempt, conflicts := 0, 0
	drilled := false
	for {
		err := w.write(ctx, j)
		if err == nil {
			break
		}
		kind := providers.KindOf(err)
		switch {
		case errors.Is(err, errStale):
			log.Warn("not writing: a newer writer exists", "err", err)
			res.err = err
			return res
		case ctx.Err() != nil:
			res.err = fmt.Errorf("%w: %w", errNotLeader, err)
			return res
		}
		var wait time.Duration
		switch {
		case errors.Is(err, providers.ErrConflict):
			conflicts++
			if conflicts > r.opts.MaxConflicts {
				return w.giveUp(ctx, j, res, fmt.Errorf("controller: %s: %d conflicts in a row: %w", w.name, conflicts, err))
			}
			log.Info("write conflicted: re-reading and re-planning", "err", err)
		case errors.Is(err, errNotLeader):
			// The heartbeat round failed but the node still believes
			// it leads: wait and check again. When it learns it lost,
			// the term ends and ctx stops this job.
			attempt++
			wait = r.opts.Backoff(attempt)
			log.Warn("leadership not confirmed; not writing", "err", err)
		case errors.Is(err, providers.ErrInvalid), errors.Is(err, ErrWouldEmpty), errors.Is(err, ErrUnsplittable):
			// A retry will not fix these.
			return w.giveUp(ctx, j, res, err)
		default:
			// Throttled, unavailable, and untyped failures (the
			// contract types every error; an untyped one is treated as
			// transient): back off and retry.
			attempt++
			wait = r.opts.Backoff(attempt)
			if ra, ok := providers.RetryAfter(err); ok {
				wait = max(wait, ra)
			}
			if errors.Is(err, errDrilled) {
				// Record the drill's failure once, and poll for the
				// drill's end instead of backing off for long.
				wait = min(wait, drillRetry)
				if !drilled {
					drilled = true
					w.recordError(ctx, j, err)
				}
			}
			log.Warn("provider failed; retrying", "kind", kind, "attempt", attempt, "wait", wait, "err", err)
		}
		if !j.deadline.IsZero() && r.opts.Now().Add(wait).After(j.deadline) {
			res.err = fmt.Errorf("%w: %w", errStepTimeout, err)
			return res
		}
		if w.hasNewer(j) {
			res.err = errSuperseded
			return res
		}
		if wait > 0 {
			if err := r.opts.Wait(ctx, wait); err != nil {
				res.err = fmt.Errorf("%w: %w", errNotLeader, err)
				return res
			}
		}
	}
	res.applied = true
	appliedAt := r.opts.Now()
	r.metrics.applied(w.name, origin, gen)
	verified, superseded := w.verify(ctx, j)
	res.verified = verified
	if verified {
		r.metrics.verified(w.name, origin, gen)
	} else if !superseded && ctx.Err() == nil {
		log.Warn("nameservers did not answer the new content before the verify deadline", "timeout", w.verifyTimeout())
	}
	if ctx.Err() != nil {
		res.err = ctx.Err()
		return res
	}
	_, syncs := r.opts.Cluster.Snapshot()
	prev := syncs[raft.SyncKey(w.name, origin)]
	s := raft.SyncStatus{Provider: w.name, Zone: origin, Applied: gen, Verified: prev.Verified, At: r.opts.Now(), AppliedAt: appliedAt, Policy: j.policy}
	if verified {
		s.Verified = gen
	} else if !superseded {
		s.Unverified = true
	}
	w.commit(ctx, &s)
	if superseded && !verified {
		res.err = errSuperseded
	}
	return res
}

// giveUp records a failure a retry will not fix.
func (w *worker) giveUp(ctx context.Context, j *job, res jobResult, err error) jobResult {
	w.log.Error("giving up on this generation", "zone", j.desired.Origin, "generation", j.desired.Generation, "err", err)
	res.err = err
	_, syncs := w.t.r.opts.Cluster.Snapshot()
	s := syncs[raft.SyncKey(w.name, j.desired.Origin)]
	s.Provider, s.Zone, s.At, s.Error = w.name, j.desired.Origin, w.t.r.opts.Now(), err.Error()
	w.commit(ctx, &s)
	return res
}

// drillRetry bounds the wait between retries of a provider a drill makes
// unavailable, so that it catches up soon after the drill ends.
const drillRetry = 500 * time.Millisecond

// recordError commits the provider's last sync result with err, keeping
// its generations.
func (w *worker) recordError(ctx context.Context, j *job, err error) {
	_, syncs := w.t.r.opts.Cluster.Snapshot()
	s := syncs[raft.SyncKey(w.name, j.desired.Origin)]
	s.Provider, s.Zone, s.At, s.Error = w.name, j.desired.Origin, w.t.r.opts.Now(), err.Error()
	w.commit(ctx, &s)
}

func (w *worker) commit(ctx context.Context, s *raft.SyncStatus) {
	r := w.t.r
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.opts.Cluster.Propose(pctx, &raft.Command{Type: raft.CmdSync, At: s.At, By: r.opts.Node, Sync: s}); err != nil && ctx.Err() == nil {
		w.log.Warn("cannot commit the sync result", "zone", s.Zone, "err", err)
	}
}

// call bounds one provider call by the call timeout; a call cut off by
// it (a hanging provider) counts as unavailable.
func call[T any](ctx context.Context, w *worker, op string, f func(context.Context) (T, error)) (T, error) {
	if st, _ := w.t.r.opts.Cluster.Snapshot(); st != nil && st.DrillProviders[w.name] != "" {
		// A provider drill: the call fails as if the provider were
		// down, so the worker backs off while the others converge.
		var zero T
		err := providers.Unavailable(fmt.Errorf("controller: %s: %s: drill %s treats the provider as unavailable: %w", w.name, op, st.DrillProviders[w.name], errDrilled))
		w.t.r.metrics.writeError(w.name, providers.KindOf(err))
		return zero, err
	}
	cctx, cancel := context.WithTimeout(ctx, w.t.r.opts.CallTimeout)
	defer cancel()
	v, err := f(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil && !errors.Is(err, providers.ErrUnavailable) {
		err = providers.Unavailable(fmt.Errorf("controller: %s: %s timed out after %s: %w", w.name, op, w.t.r.opts.CallTimeout, err))
	}
	if err != nil && ctx.Err() == nil {
		w.t.r.metrics.writeError(w.name, providers.KindOf(err))
	}
	return v, err
}

// write brings the provider to j's content: read, check that the plan is
// not stale, plan, and apply part by part, each part checked never-empty
// and preceded by a leadership check. It returns nil when the provider
// holds the content.
func (w *worker) write(ctx context.Context, j *job) error {
	r := w.t.r
	origin, gen := j.desired.Origin, j.desired.Generation
	set := w.set.Load()
	if err := set.lim.Wait(ctx); err != nil {
		return err
	}
	cur, err := call(ctx, w, "read", func(c context.Context) (*providers.Content, error) { return set.p.Read(c, origin, j.keys) })
	if err != nil {
		return err
	}
	if err := w.checkFresh(origin, gen, cur.Fence); err != nil {
		return err
	}
	cs := Plan(j.desired, cur)
	if len(cs.Changes) == 0 {
		return nil
	}
	parts, err := Split(cs, set.p.Capabilities().MaxChanges)
	if err != nil {
		return err
	}
	steered := func(n string) bool { return j.steered[n] }
	sim := cur
	for _, part := range parts {
		if err := CheckNeverEmpty(part, sim, steered); err != nil {
			return err
		}
		if err := set.lim.Wait(ctx); err != nil {
			return err
		}
		if err := r.opts.Cluster.VerifyLeader(ctx); err != nil {
			return fmt.Errorf("%w: %w", errNotLeader, err)
		}
		if err := w.checkFresh(origin, gen, 0); err != nil {
			return err
		}
		if _, err := call(ctx, w, "apply", func(c context.Context) (struct{}, error) { return struct{}{}, set.p.Apply(c, part) }); err != nil {
			return err
		}
		w.log.Info("applied", "zone", origin, "generation", gen, "changes", len(part.Changes))
		sim = applyChanges(sim, part)
	}
	return nil
}

// checkFresh refuses a plan older than the provider's fence or than the
// generation committed as applied to this provider. An equal generation
// passes: it completes or re-asserts the same content.
func (w *worker) checkFresh(origin string, gen, fence uint64) error {
	if fence > gen {
		return fmt.Errorf("%w: %s fence holds generation %d, the plan is %d", errStale, w.name, fence, gen)
	}
	_, syncs := w.t.r.opts.Cluster.Snapshot()
	if s := syncs[raft.SyncKey(w.name, origin)]; s.Applied > gen {
		return fmt.Errorf("%w: generation %d is committed as applied to %s, the plan is %d", errStale, s.Applied, w.name, gen)
	}
	return nil
}

func (w *worker) verifyTimeout() time.Duration {
	if d := time.Duration(w.set.Load().common.VerifyTimeout); d > 0 {
		return d
	}
	return config.DefaultVerifyTimeout
}
