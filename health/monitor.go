package health

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

// Verdict is a change of this observer's opinion of one endpoint. Only
// changes leave the package, through [Monitor.Changes].
type Verdict struct {
	// Endpoint names the endpoint.
	Endpoint string
	// Up is the new verdict.
	Up bool
	// At is when the probe that decided it finished, on the Monitor's
	// clock.
	At time.Time
	// Reason is the error of the deciding probe when Up is false, "" when
	// Up is true.
	Reason string
}

// Status is a snapshot of one endpoint for status tables and the API.
type Status struct {
	// Endpoint names the endpoint.
	Endpoint string
	// Up is the current verdict.
	Up bool
	// Since is when the verdict last changed, or when the endpoint was
	// added if it never did.
	Since time.Time
	// LastProbe is when the last probe started; zero before the first.
	LastProbe time.Time
	// LastErr is the last probe's error text, "" if it succeeded.
	LastErr string
	// LastRTT is how long the last probe took.
	LastRTT time.Duration
	// Streak counts the latest consecutive probe results that disagree with
	// Up: failures while up, successes while down. The verdict flips when
	// it reaches fall (or rise); while it is above zero, probes run every
	// recheck_interval.
	Streak int
	// Watching reports whether a watch connection is open right now.
	Watching bool
}

// Options configure a [Monitor]. The zero value is ready to use.
type Options struct {
	// Clock drives scheduling; default [RealClock].
	Clock Clock
	// MaxConcurrent bounds the probes in flight at once across all
	// endpoints; default 64.
	MaxConcurrent int
	// Logger receives verdict changes and watch events; default: discard.
	// A "component" attribute of "health" is added.
	Logger *slog.Logger
	// Rand is the source of scheduling jitter; default: randomly seeded.
	// Tests pass a seeded one. The Monitor serialises its use.
	Rand *rand.Rand
	// NewChecker builds the [Checker] of a target; default [NewChecker].
	// It receives the target with the check's defaults filled in.
	NewChecker func(Target) (Checker, error)
}

// DefaultMaxConcurrent is the default of [Options.MaxConcurrent].
const DefaultMaxConcurrent = 64

// Monitor probes a set of targets on a schedule, keeps this observer's
// verdict on each with rise/fall hysteresis, and emits verdict changes. See
// the package documentation for the schedule and the watch.
//
// Methods are safe for concurrent use. [Monitor.Run] may be called once.
type Monitor struct {
	clock      Clock
	log        *slog.Logger
	newChecker func(Target) (Checker, error) // nil: the built-in checkers
	sem        chan struct{}

	rndMu sync.Mutex
	rnd   *rand.Rand

	changes chan []Verdict
	notify  chan struct{} // capacity 1: pending has news for deliver

	updateMu sync.Mutex // serialises Update

	mu      sync.Mutex
	eps     map[string]*endpoint
	pending map[string]pendingVerdict
	offered []Verdict // the batch deliver is offering (for tests)
	runCtx  context.Context
	running bool // Run has been called
	stopped bool // Run is returning: start no more goroutines
	wg      sync.WaitGroup
}

// endpoint is the Monitor's state for one target; guarded by Monitor.mu.
type endpoint struct {
	target  Target // check defaults filled in
	checker Checker
	// owned: the checker has not been handed to a runner, so closing it is
	// the endpoint's job.
	owned bool
	// gen identifies the current runner; results of older ones are
	// dropped.
	gen    uint64
	cancel context.CancelFunc // of the current runner; nil if none
	h      hysteresis
	st     Status
	// delivered is the verdict last delivered to the reader (initially
	// the one the endpoint starts with, which the reader knows: up, or
	// down for a target with StartDown).
	delivered bool
}

// pendingVerdict is a change not yet delivered, with the endpoint it
// belongs to (an endpoint may be removed and re-added under the same name).
type pendingVerdict struct {
	v  Verdict
	ep *endpoint
}

// NewMonitor returns a Monitor with no targets. Call [Monitor.Update] to set
// them and [Monitor.Run] to start probing.
func NewMonitor(opts Options) *Monitor {
	m := &Monitor{
		clock:      opts.Clock,
		log:        opts.Logger,
		newChecker: opts.NewChecker,
		rnd:        opts.Rand,
		changes:    make(chan []Verdict),
		notify:     make(chan struct{}, 1),
		eps:        make(map[string]*endpoint),
		pending:    make(map[string]pendingVerdict),
	}
	if m.clock == nil {
		m.clock = RealClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "health")
	if m.rnd == nil {
		m.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	n := opts.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	m.sem = make(chan struct{}, n)
	return m
}

// Changes returns the channel of verdict changes. Only changes are sent:
// never the initial verdict (every target starts up), never a verdict equal
// to the one last delivered for the endpoint.
//
// Changes are batched and coalesced, and probing never waits for the
// reader. A reader waiting on the channel gets a change as soon as it is
// decided; changes decided while the reader is busy (a region failing at
// once, say) wait, the latest verdict per endpoint, and all come in the
// next batch, sorted by endpoint. A change is never dropped, but a flap
// that is over before the reader receives (down and up again) is not
// reported, since the net verdict did not change.
//
// A batch may name an endpoint that a concurrent [Monitor.Update] has just
// removed; readers should ignore names they do not know. Changes still
// pending when Run returns are not delivered. The channel is never closed
// (a closed channel is always ready, which turns a reader's "drain what
// is ready" loop into a spin): readers stop on their own context.
func (m *Monitor) Changes() <-chan []Verdict { return m.changes }

// Update replaces the set of targets, before or while Run runs.
//
//   - A target whose address, port and check are unchanged keeps its
//     verdict, streak and schedule: nothing happens to it.
//   - A target whose address, port or check changed gets a new checker (and
//     watch) and a new schedule, but keeps its verdict; its streak starts
//     again from zero, as it counted results of the old check.
//   - A new target starts up, its first probe at a random point within one
//     interval.
//   - A removed target stops: its goroutines end and its connections close
//     (a probe in flight is cancelled). Its undelivered change, if any, is
//     dropped. Added again later, it is a new target.
//
// Update emits no verdicts. It returns an error, and applies nothing, if a
// name is empty or repeated or a checker cannot be built; such a target set
// should not have passed config validation.
func (m *Monitor) Update(targets []Target) error {
	m.updateMu.Lock()
	defer m.updateMu.Unlock()

	want := make(map[string]Target, len(targets))
	for _, t := range targets {
		if t.Endpoint == "" {
			return errors.New("health: update: a target has no endpoint name")
		}
		if _, dup := want[t.Endpoint]; dup {
			return fmt.Errorf("health: update: endpoint %q listed twice", t.Endpoint)
		}
		t.Check = withDefaults(t.Check)
		if t.Check.WatchEnabled() {
			if _, err := probeAddr(t); err != nil {
				return fmt.Errorf("health: update: endpoint %q: %w", t.Endpoint, err)
			}
		}
		want[t.Endpoint] = t
	}

	// Only Update changes targets, and updateMu serialises it, so this
	// snapshot stays current while the checkers are built without m.mu
	// (building may read a CA file).
	m.mu.Lock()
	current := make(map[string]Target, len(m.eps))
	for name, ep := range m.eps {
		current[name] = ep.target
	}
	m.mu.Unlock()

	built := make(map[string]Checker)
	for name, t := range want {
		if cur, ok := current[name]; ok && sameTarget(cur, t) {
			continue
		}
		c, err := m.build(t)
		if err != nil {
			for _, c := range built {
				closeChecker(c)
			}
			return fmt.Errorf("health: update: endpoint %q: %w", name, err)
		}
		built[name] = c
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	for name, ep := range m.eps {
		if _, keep := want[name]; keep {
			continue
		}
		m.retireLocked(ep)
		delete(m.eps, name)
		if p, ok := m.pending[name]; ok && p.ep == ep {
			delete(m.pending, name)
			signal(m.notify) // let deliver drop it from a batch on offer
		}
	}
	for name, c := range built {
		t := want[name]
		ep, ok := m.eps[name]
		if !ok {
			ep = &endpoint{
				h:         newHysteresis(t.Check.Rise, t.Check.Fall),
				st:        Status{Endpoint: name, Up: !t.StartDown, Since: now},
				delivered: !t.StartDown,
			}
			ep.h.up = !t.StartDown
			m.eps[name] = ep
		} else {
			m.retireLocked(ep)
			up := ep.h.up
			ep.h = newHysteresis(t.Check.Rise, t.Check.Fall)
			ep.h.up = up
		}
		ep.target, ep.checker, ep.owned = t, c, true
		if m.running && !m.stopped {
			m.startLocked(ep)
		}
	}
	return nil
}

// build makes the checker of t, which has its defaults filled in.
func (m *Monitor) build(t Target) (Checker, error) {
	if m.newChecker != nil {
		return m.newChecker(t)
	}
	return buildChecker(t)
}

// sameTarget reports whether a and b (defaults filled in) probe the same
// way.
func sameTarget(a, b Target) bool {
	type key struct {
		addr   string
		port   int
		check  config.Check
		watch  bool
		source netip.Addr
	}
	k := func(t Target) key {
		c := t.Check
		c.Watch = nil // compared by value below, not by pointer
		return key{t.Address, t.Port, c, t.Check.WatchEnabled(), t.Source}
	}
	return k(a) == k(b)
}

// Run probes the targets until ctx is done. When it returns, every
// goroutine it started has ended and every connection is closed. It
// returns nil once ctx is done, or an error at once if called a second
// time.
func (m *Monitor) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("health: monitor: Run called twice")
	}
	m.running = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.runCtx = ctx
	for _, ep := range m.eps {
		m.startLocked(ep)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.deliver(ctx)
	}()
	m.mu.Unlock()

	<-ctx.Done()

	m.mu.Lock()
	m.stopped = true // no wg.Add after this, so Wait below is sound
	for _, ep := range m.eps {
		ep.cancel = nil // the runners are ending with ctx and close their checkers
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Status returns a snapshot of every target, sorted by endpoint.
func (m *Monitor) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.eps))
	for _, ep := range m.eps {
		s := ep.st
		s.Up, s.Streak = ep.h.up, ep.h.streak
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// startLocked starts a runner for ep, which owns ep's checker from now on.
func (m *Monitor) startLocked(ep *endpoint) {
	ep.gen++
	ctx, cancel := context.WithCancel(m.runCtx)
	ep.cancel = cancel
	ep.owned = false
	ep.st.Watching = false
	r := &runner{
		m:       m,
		ep:      ep,
		gen:     ep.gen,
		name:    ep.st.Endpoint,
		check:   ep.target.Check,
		checker: ep.checker,
		dialer:  ep.target.dialer(),
		wake:    make(chan struct{}, 1),
	}
	if r.check.WatchEnabled() {
		r.addr, _ = probeAddr(ep.target) // validated by Update
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run(ctx)
	}()
}

// retireLocked stops ep's runner, if any, and makes sure its checker gets
// closed. Results the old runner still reports are dropped.
func (m *Monitor) retireLocked(ep *endpoint) {
	ep.gen++
	if ep.cancel != nil {
		ep.cancel() // the runner closes its checker on the way out
		ep.cancel = nil
	}
	if ep.owned {
		closeChecker(ep.checker)
		ep.owned = false
	}
	ep.st.Watching = false
}

// record applies one probe result of runner r and returns how long to wait
// before the next probe.
func (m *Monitor) record(r *runner, start time.Time, err error) time.Duration {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	ep := r.ep
	if ep.gen != r.gen {
		return 0 // retired meanwhile; its context is cancelled
	}
	ep.st.LastProbe = start
	ep.st.LastRTT = now.Sub(start)
	m.observeLocked(r, err, now)
	next := r.check.RecheckInterval.D()
	if !ep.h.unsettled() {
		next = m.jitter(r.check.Interval.D())
	}
	// Measured from the start of the probe, so a slow probe does not
	// stretch the cadence.
	return max(0, next-now.Sub(start))
}

// observeLocked feeds one result to r's hysteresis and queues the verdict
// if it changed; m.mu is held.
func (m *Monitor) observeLocked(r *runner, err error, now time.Time) {
	ep := r.ep
	ep.st.LastErr = ""
	if err != nil {
		ep.st.LastErr = err.Error()
	}
	if ep.h.observe(err == nil) {
		ep.st.Since = now
		v := Verdict{Endpoint: r.name, Up: ep.h.up, At: now}
		if !v.Up {
			v.Reason = ep.st.LastErr
			m.log.Warn("endpoint down", "endpoint", r.name, "reason", v.Reason)
		} else {
			m.log.Info("endpoint up", "endpoint", r.name)
		}
		m.pending[r.name] = pendingVerdict{v: v, ep: ep}
		signal(m.notify)
	}
}

// errWatchLost is the failure a lost watch connection counts as.
var errWatchLost = errors.New("health: watch connection closed by the endpoint")

// watchLost counts the loss of r's watch connection as one failed probe of
// an endpoint that is up (a crashed process closes its sockets); the
// caller then probes at once, so with fall 2 a crash is confirmed by that
// one probe, a round trip later. A server that merely closed an idle
// connection answers that probe, which clears the streak: never a false
// down. An endpoint already down is not affected.
func (m *Monitor) watchLost(r *runner) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.ep.gen != r.gen {
		return
	}
	r.ep.st.Watching = false
	// With fall 1 the loss alone would decide, and a server that closes
	// idle connections would be failed: then only the probe counts.
	if r.ep.h.up && r.check.Fall >= 2 {
		m.observeLocked(r, errWatchLost, now)
	}
}

// setWatching records whether r's watch connection is open and returns the
// current verdict.
func (m *Monitor) setWatching(r *runner, on bool) (up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.ep.gen == r.gen {
		r.ep.st.Watching = on
	}
	return r.ep.h.up
}

// deliver sends pending changes to the reader until ctx is done. While the
// reader is not receiving it keeps refreshing the batch on offer, so the
// reader always receives the latest verdict per endpoint.
func (m *Monitor) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.notify:
		}
		for {
			batch, eps := m.offer()
			if len(batch) == 0 {
				break
			}
			select {
			case m.changes <- batch:
				m.delivered(batch, eps)
			case <-m.notify: // news: build the batch again
			case <-ctx.Done():
				return
			}
		}
	}
}

// offer builds the batch of pending changes, sorted by endpoint, and drops
// those that would not change what the reader last received.
func (m *Monitor) offer() ([]Verdict, []*endpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.pending))
	for name, p := range m.pending {
		if p.v.Up == p.ep.delivered {
			delete(m.pending, name)
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	batch := make([]Verdict, len(names))
	eps := make([]*endpoint, len(names))
	for i, name := range names {
		batch[i], eps[i] = m.pending[name].v, m.pending[name].ep
	}
	m.offered = batch
	return batch, eps
}

// delivered notes that the reader received batch.
func (m *Monitor) delivered(batch []Verdict, eps []*endpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, v := range batch {
		eps[i].delivered = v.Up
		if p, ok := m.pending[v.Endpoint]; ok && p.ep == eps[i] && p.v == v {
			delete(m.pending, v.Endpoint)
		}
	}
	m.offered = nil
}

// jitter returns d ± up to 10%.
func (m *Monitor) jitter(d time.Duration) time.Duration {
	spread := d / 10
	if spread <= 0 {
		return d
	}
	return d - spread + time.Duration(m.randN(2*int64(spread)+1))
}

// randN returns a uniform random number in [0, n); n > 0.
func (m *Monitor) randN(n int64) int64 {
	m.rndMu.Lock()
	defer m.rndMu.Unlock()
	return m.rnd.Int64N(n)
}

// signal makes a non-blocking send on a channel of capacity 1.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// closeChecker closes c if it is an [io.Closer].
func closeChecker(c Checker) {
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
}

// runner probes one endpoint with one checker, and watches it. A changed
// target gets a new runner; the old one is cancelled and its results are
// dropped (by generation).
type runner struct {
	m       *Monitor
	dialer  *net.Dialer // for the watch
	ep      *endpoint   // state only through m.mu, with gen checked
	gen     uint64
	name    string
	check   config.Check
	addr    string // for the watch
	checker Checker
	wake    chan struct{} // capacity 1: the watch asks for a probe now
}

// run schedules r's probes until ctx is done, then closes its checker and
// its watch connection.
func (r *runner) run(ctx context.Context) {
	defer closeChecker(r.checker)
	if r.check.WatchEnabled() {
		wctx, wcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.watch(wctx)
		}()
		defer func() {
			wcancel()
			<-done
		}()
	}

	// The first probe comes at a random point within one interval, so that
	// endpoints added together do not probe in lockstep.
	interval := r.check.Interval.D()
	t := r.m.clock.NewTimer(time.Duration(r.m.randN(int64(interval))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-r.wake:
			t.Stop()
		}
		next, ok := r.probe(ctx)
		if !ok {
			return
		}
		t.Reset(next)
	}
}

// probe runs one probe under the Monitor's concurrency bound and records
// it. It returns the delay to the next probe, or false if ctx ended.
func (r *runner) probe(ctx context.Context) (time.Duration, bool) {
	select {
	case r.m.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, false
	}
	// This probe answers any watch request made before it starts.
	select {
	case <-r.wake:
	default:
	}
	start := r.m.clock.Now()
	pctx, cancel := context.WithTimeout(ctx, r.check.Timeout.D())
	err := r.checker.Check(pctx)
	cancel()
	<-r.m.sem
	if ctx.Err() != nil {
		// Stopped mid-probe (removed, changed, or shutting down): the
		// result says nothing about the endpoint.
		return 0, false
	}
	return r.m.record(r, start, err), true
}

// watch keeps r's watch connection until ctx is done.
func (r *runner) watch(ctx context.Context) {
	interval := r.check.Interval.D()
	w := &watcher{
		addr:        r.addr,
		dialer:      r.dialer,
		clock:       r.m.clock,
		dialTimeout: r.check.Timeout.D(),
		stable:      interval,
		backoff:     newBackoff(watchMinBackoff, interval, r.m.randN),
		connected: func() {
			if !r.m.setWatching(r, true) {
				// Down, and it accepts connections again: probe now
				// rather than at the next interval.
				signal(r.wake)
			}
		},
		lost: func() {
			r.m.watchLost(r)
			r.m.log.Debug("watch connection lost, probing now", "endpoint", r.name, "addr", r.addr)
			signal(r.wake)
		},
	}
	w.run(ctx)
	r.m.setWatching(r, false)
}
