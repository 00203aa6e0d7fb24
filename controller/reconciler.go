package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// Cluster is what the reconciler needs of Raft. [NewRaftCluster] adapts a
// [raft.Node]; tests use a fake.
type Cluster interface {
	// IsLeader reports whether this node believes it leads now.
	IsLeader() bool
	// VerifyLeader confirms leadership with a round of heartbeats; the
	// reconciler calls it before every provider write.
	VerifyLeader(ctx context.Context) error
	// Propose commits a command (sync results, roll-backs).
	Propose(ctx context.Context, cmd *raft.Command) (uint64, error)
	// Subscribe returns a channel signalled after each applied entry;
	// Unsubscribe stops it.
	Subscribe() <-chan struct{}
	Unsubscribe(<-chan struct{})
	// Snapshot returns the derived state and a copy of the committed sync
	// results (keyed by [raft.SyncKey]).
	Snapshot() (*State, map[string]raft.SyncStatus)
}

// ProviderFactory builds the provider called name from its settings. Serve
// passes one backed by a [providers.Registry]; the reconciler calls it
// once per name and settings.
type ProviderFactory func(name string, cfg *config.Provider) (providers.Provider, error)

// ReconcilerOptions configure a [Reconciler].
type ReconcilerOptions struct {
	// Node is this node's id; it signs the commands the reconciler
	// proposes.
	Node string
	// Cluster is the Raft dependency.
	Cluster Cluster
	// Providers builds providers by name. Providers of type embedded are
	// never built: the embedded server follows the log by itself.
	Providers ProviderFactory
	// Registry receives the reconciler's metrics; nil registers nothing.
	Registry *prometheus.Registry
	// Logger is the base logger; the reconciler adds component=reconciler.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Wait sleeps d or until ctx is done (default: a timer); it paces
	// retries and verification rounds.
	Wait func(ctx context.Context, d time.Duration) error
	// Backoff returns the wait before retry number attempt (1, 2, ...)
	// of a throttled or unavailable provider (a provider's retry-after
	// is honoured when longer); default [DefaultBackoff].
	Backoff func(attempt int) time.Duration
	// CallTimeout bounds one Read or Apply (default 30s); a provider that
	// hangs is cut off after it and the call counts as unavailable.
	CallTimeout time.Duration
	// VerifyInterval is the pause between two rounds of nameserver
	// queries (default 1s).
	VerifyInterval time.Duration
	// QueryTimeout bounds one DNS query during verification (default 2s).
	QueryTimeout time.Duration
	// StepTimeout bounds one provider's step in a staged policy rollout,
	// apply and verification together (default: the provider's
	// VerifyTimeout plus 2×CallTimeout).
	StepTimeout time.Duration
	// MaxConflicts is how many times a write that conflicts is re-read
	// and re-planned before the job gives up (default 5).
	MaxConflicts int
	// Resync is how often every provider is reconciled again even when
	// nothing changed, to repair drift (default 10m; negative: never).
	Resync time.Duration
	// LeaderPoll is how often leadership is re-checked when no entry is
	// applied (default 100ms): a node that wins an election starts
	// writing within it.
	LeaderPoll time.Duration
}

// Reconciler writes the desired zones to the providers while this node
// leads (invariants 2, 4 and 5). Each provider has its own worker, queue,
// rate limit and backoff, so one slow provider delays no other; every
// write is preceded by a leadership check and a generation check and is
// compare-and-swap against the provider's content and fence; every write
// is verified at the provider's nameservers and its result committed to
// Raft. Policy changes roll out one provider at a time in the zone's
// provider order and roll back on the first failure; health-driven
// changes go to all providers at once.
type Reconciler struct {
	opts    ReconcilerOptions
	log     *slog.Logger
	metrics *reconcilerMetrics

	leading atomic.Bool

	mu    sync.Mutex
	built map[string]builtProvider // provider name → instance, across terms
}

// Leading reports whether the reconciler is in a leadership term: its
// workers may write. It turns false only once every worker has stopped.
func (r *Reconciler) Leading() bool { return r.leading.Load() }

type builtProvider struct {
	json string
	p    providers.Provider
}

// NewReconciler returns a reconciler; [Reconciler.Run] starts it. It
// registers its metrics on opts.Registry and fails if they clash.
func NewReconciler(opts ReconcilerOptions) (*Reconciler, error) {
	if opts.Cluster == nil || opts.Providers == nil {
		return nil, errors.New("controller: reconciler needs a cluster and a provider factory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Wait == nil {
		opts.Wait = sleepCtx
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.VerifyInterval <= 0 {
		opts.VerifyInterval = time.Second
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 2 * time.Second
	}
	if opts.MaxConflicts <= 0 {
		opts.MaxConflicts = 5
	}
	if opts.Resync == 0 {
		opts.Resync = 10 * time.Minute
	}
	if opts.LeaderPoll <= 0 {
		opts.LeaderPoll = 100 * time.Millisecond
	}
	m, err := newReconcilerMetrics(opts.Registry, opts.Now)
	if err != nil {
		return nil, err
	}
	return &Reconciler{opts: opts, log: opts.Logger.With("component", "reconciler"), metrics: m, built: map[string]builtProvider{}}, nil
}

// DefaultBackoff is exponential from 200ms, doubling per attempt, capped
// at 30s, with jitter: the wait is uniform over the upper half of the
// step, so that workers retrying together spread out.
func DefaultBackoff(attempt int) time.Duration {
	d := 200 * time.Millisecond
	for i := 1; i < attempt && d < 30*time.Second; i++ {
		d *= 2
	}
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run reconciles while this node is the leader, and waits while it is
// not, until ctx is done; it then returns ctx.Err(). Leadership lost stops
// every worker at once: an in-flight call is cancelled and no further
// write starts. Each term starts by reconciling every provider of every
// zone once, so a new leader repairs what an old one left half done.
func (r *Reconciler) Run(ctx context.Context) error {
	sub := r.opts.Cluster.Subscribe()
	defer r.opts.Cluster.Unsubscribe(sub)
	tick := time.NewTicker(r.opts.LeaderPoll)
	defer tick.Stop()
	for {
		if r.opts.Cluster.IsLeader() {
			r.log.Info("leading: reconciling providers")
			r.lead(ctx, sub, tick.C)
			r.log.Info("not leading: provider writes stopped")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub:
		case <-tick.C:
		}
	}
}

// term is the reconciler's state during one leadership term.
type term struct {
	r   *Reconciler
	ctx context.Context
	wg  sync.WaitGroup

	// mu guards everything below, and the rollouts' phase and reached
	// sets.
	mu      sync.Mutex
	workers map[string]*worker
	// sent is what each provider's worker was last given, per zone, so
	// that an unchanged state is not queued again.
	sent     map[string]map[string]sentKey
	rollouts map[string]*rollout // zone origin → the latest rollout
	prevKeys map[uint64]*config.Policy
}

type sentKey struct {
	gen, policy uint64
}

func (r *Reconciler) lead(ctx context.Context, sub <-chan struct{}, tick <-chan time.Time) {
	ctx, cancel := context.WithCancel(ctx)
	r.leading.Store(true)
	t := &term{r: r, ctx: ctx, workers: map[string]*worker{}, sent: map[string]map[string]sentKey{}, rollouts: map[string]*rollout{}, prevKeys: map[uint64]*config.Policy{}}
	defer func() {
		cancel()
		t.wg.Wait()
		// Progress and lag are the leader's to report; a follower
		// exports none rather than a lag that grows forever.
		r.metrics.reset()
		r.leading.Store(false)
	}()
	var resync <-chan time.Time
	if r.opts.Resync > 0 {
		rt := time.NewTicker(r.opts.Resync)
		defer rt.Stop()
		resync = rt.C
	}
	for {
		if !r.opts.Cluster.IsLeader() {
			return
		}
		t.step()
		select {
		case <-ctx.Done():
			return
		case <-sub:
		case <-tick:
		case <-resync:
			t.mu.Lock()
			t.sent = map[string]map[string]sentKey{}
			t.mu.Unlock()
		}
	}
}

// step dispatches the newest state to the workers.
func (t *term) step() {
	st, syncs := t.r.opts.Cluster.Snapshot()
	if st == nil || st.Policy == nil {
		return
	}
	pol := st.Policy.Parsed()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, z := range st.Zones {
		zc := zoneConfig(pol, z.Origin)
		if zc == nil {
			continue
		}
		var names []string
		for _, name := range zc.Providers {
			pc := pol.Providers[name]
			if pc == nil || pc.Type == config.ProviderEmbedded {
				continue
			}
			if _, err := t.worker(name, pc); err != nil {
				t.r.log.Error("cannot build provider", "provider", name, "err", err)
				continue
			}
			names = append(names, name)
			if s, ok := syncs[raft.SyncKey(name, z.Origin)]; ok {
				t.r.metrics.seed(name, z.Origin, s.Applied, s.Verified)
			}
		}
		ro := t.rollouts[z.Origin]
		if ro != nil && ro.version != st.Policy.Version && ro.running() {
			// A newer policy superseded the rollout; it stops at its
			// next step and the newer policy starts its own.
			ro.cancel()
		}
		if (ro == nil || ro.version != st.Policy.Version) && needsRollout(st, syncs, z.Origin, names) {
			ro = t.startRollout(st.Policy.Version, z.Origin, names, syncs)
		}
		for _, name := range names {
			if ro != nil && ro.version == st.Policy.Version {
				cur, prev := ro.decide(name)
				if prev {
					t.dispatchPrevious(name, st, z)
				}
				if !cur {
					continue
				}
			}
			t.dispatch(name, st, z)
		}
	}
}

// needsRollout reports whether the policy in st is new to some provider of
// the zone (its committed sync names an older version), which makes the
// change careful: one provider at a time. A roll-back and the first policy
// are not staged; a provider never synced does not count, since there is
// nothing to roll back to.
func needsRollout(st *State, syncs map[string]raft.SyncStatus, origin string, names []string) bool {
	if st.Policy.Previous == 0 || st.Policy.RollbackOf != 0 {
		return false
	}
	for _, n := range names {
		s, ok := syncs[raft.SyncKey(n, origin)]
		if ok && s.Policy != 0 && s.Policy < st.Policy.Version {
			return true
		}
	}
	return false
}

func zoneConfig(p *config.Policy, origin string) *config.Zone {
	for i := range p.Zones {
		if p.Zones[i].Name == origin {
			return &p.Zones[i]
		}
	}
	return nil
}

// worker returns the worker for provider name, starting it on first use,
// with the provider and settings of pc.
func (t *term) worker(name string, pc *config.Provider) (*worker, error) {
	key, p, err := t.r.provider(name, pc)
	if err != nil {
		return nil, err
	}
	if w, ok := t.workers[name]; ok {
		w.configure(key, p, pc.Common)
		return w, nil
	}
	w := newWorker(t, name, p, pc.Common)
	w.configure(key, p, pc.Common)
	t.workers[name] = w
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		w.run(t.ctx)
	}()
	return w, nil
}

// provider builds the provider called name, or reuses the instance built
// from the same settings.
func (r *Reconciler) provider(name string, pc *config.Provider) (string, providers.Provider, error) {
	b, err := json.Marshal(pc)
	if err != nil {
		return "", nil, fmt.Errorf("controller: provider %s: %w", name, err)
	}
	key := string(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.built[name]; ok && b.json == key {
		return key, b.p, nil
	}
	p, err := r.opts.Providers(name, pc)
	if err != nil {
		return "", nil, fmt.Errorf("controller: provider %s: %w", name, err)
	}
	r.built[name] = builtProvider{json: key, p: p}
	return key, p, nil
}

// dispatch queues the zone for the provider unless it was already given
// this generation under this policy; t.mu is held.
func (t *term) dispatch(name string, st *State, z *zone.Zone) {
	if t.sent[name][z.Origin] == (sentKey{gen: z.Generation, policy: st.Policy.Version}) {
		return
	}
	t.dispatchJob(name, st, z, nil, time.Time{})
}

// dispatchPrevious queues, for a provider a rollout has not reached, the
// previous policy's content under the current health, at the current
// generation; t.mu is held.
func (t *term) dispatchPrevious(name string, st *State, z *zone.Zone) {
	prev := t.previousPolicy(st.Policy)
	if prev == nil {
		return
	}
	sk := sentKey{gen: z.Generation, policy: st.Policy.Previous}
	if t.sent[name][z.Origin] == sk {
		return
	}
	if t.sent[name] == nil {
		t.sent[name] = map[string]sentKey{}
	}
	t.sent[name][z.Origin] = sk
	t.r.metrics.want(name, z.Origin, z.Generation)
	steered := steeredNames(st.Policy.Parsed(), z.Origin)
	for n := range steeredNames(prev, z.Origin) {
		steered[n] = true
	}
	t.workers[name].submit(&job{
		desired: PreviousZone(prev, st, z),
		policy:  st.Policy.Previous,
		keys:    t.keysFor(st, z.Origin),
		steered: steered,
	})
}

// dispatchJob queues the zone for the provider; done, when set, receives
// the result; deadline, when set, bounds the retries. t.mu is held.
func (t *term) dispatchJob(name string, st *State, z *zone.Zone, done chan<- jobResult, deadline time.Time) {
	m := t.sent[name]
	if m == nil {
		m = map[string]sentKey{}
		t.sent[name] = m
	}
	m[z.Origin] = sentKey{gen: z.Generation, policy: st.Policy.Version}
	t.r.metrics.want(name, z.Origin, z.Generation)
	j := &job{
		desired:  z,
		policy:   st.Policy.Version,
		keys:     t.keysFor(st, z.Origin),
		steered:  steeredNames(st.Policy.Parsed(), z.Origin),
		deadline: deadline,
	}
	if done != nil {
		j.waiters = []chan<- jobResult{done}
	}
	t.workers[name].submit(j)
}

// keysFor returns the keys the current and previous policy steer in the
// zone: what the worker reads, so that a key the policy stopped steering
// is seen and deleted, and nothing else is touched.
func (t *term) keysFor(st *State, origin string) []zone.Key {
	seen := map[zone.Key]bool{}
	add := func(p *config.Policy) {
		for _, rec := range p.Records {
			if p.ClosestZone(rec.Name) != origin {
				continue
			}
			typ, _ := zone.ParseType(rec.Type)
			seen[zone.Key{Name: rec.Name, Type: typ}] = true
		}
	}
	add(st.Policy.Parsed())
	if prev := t.previousPolicy(st.Policy); prev != nil {
		add(prev)
	}
	keys := make([]zone.Key, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	zone.SortKeys(keys)
	return keys
}

func (t *term) previousPolicy(pv *raft.PolicyVersion) *config.Policy {
	if len(pv.PreviousJSON) == 0 {
		return nil
	}
	if p, ok := t.prevKeys[pv.Version]; ok {
		return p
	}
	p, err := config.PolicyFromJSON(pv.PreviousJSON)
	if err != nil {
		t.r.log.Warn("previous policy does not decode; its records will not be cleaned up", "version", pv.Previous, "err", err)
		p = nil
	}
	t.prevKeys[pv.Version] = p
	return p
}

// steeredNames returns the names the policy steers in the zone.
func steeredNames(p *config.Policy, origin string) map[string]bool {
	out := map[string]bool{}
	for _, rec := range p.Records {
		if p.ClosestZone(rec.Name) == origin {
			n, err := zone.CanonicalName(rec.Name)
			if err == nil {
				out[n] = true
			}
		}
	}
	return out
}
