package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

// waitTimeout bounds every wait in these tests; a healthy run needs a tiny
// fraction of it, so it only matters when something is broken.
const waitTimeout = 10 * time.Second

// epoch is the FakeClock's start in monitor tests.
var epoch = time.Date(2025, 10, 20, 7, 0, 0, 0, time.UTC)

// waitCtx returns a context that ends after waitTimeout or with the test.
func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually waits until cond holds, checking every millisecond, and fails
// the test after waitTimeout. It is for state that has no channel to wait
// on; it never stands in for a condition the test could wait on directly.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		case <-tick.C:
		}
	}
}

// recv receives one value from c or fails the test after waitTimeout.
func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-c:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
	panic("unreachable")
}

// waitClosed waits until c is closed or fails the test after waitTimeout.
func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
}

// fakeChecker is a Checker whose results the test sets. It can also block
// every probe until released, to hold probes in flight.
type fakeChecker struct {
	target Target

	mu      sync.Mutex
	result  func(n int) error // result of the n-th probe (from 1); nil: healthy
	calls   int
	blockOn chan struct{} // if set, Check waits for it to close (or ctx)

	entered   chan struct{} // if set, receives a value as each probe starts
	closed    chan struct{}
	closeOnce sync.Once
}

func newFakeChecker(t Target) *fakeChecker {
	return &fakeChecker{target: t, closed: make(chan struct{})}
}

var (
	errFake      = errors.New("fake: refused")
	errFakeBuild = errors.New("fake: cannot build")
)

func (f *fakeChecker) Check(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	n, result, block, entered := f.calls, f.result, f.blockOn, f.entered
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if result == nil {
		return nil
	}
	return result(n)
}

// setFailing makes every later probe fail (or succeed).
func (f *fakeChecker) setFailing(fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !fail {
		f.result = nil
		return
	}
	f.result = func(n int) error { return fmt.Errorf("probe %d: %w", n, errFake) }
}

func (f *fakeChecker) setResult(r func(n int) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.result = r
}

func (f *fakeChecker) probes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeChecker) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeChecker) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

// factory builds fakeCheckers and remembers them per endpoint, in order.
type factory struct {
	mu      sync.Mutex
	built   map[string][]*fakeChecker
	failFor string             // building this endpoint fails
	prepare func(*fakeChecker) // applied to each new checker
}

func newFactory() *factory { return &factory{built: make(map[string][]*fakeChecker)} }

func (f *factory) New(t Target) (Checker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Endpoint == f.failFor {
		return nil, errFakeBuild
	}
	c := newFakeChecker(t)
	if f.prepare != nil {
		f.prepare(c)
	}
	f.built[t.Endpoint] = append(f.built[t.Endpoint], c)
	return c, nil
}

// all returns the checkers built for endpoint, oldest first.
func (f *factory) all(endpoint string) []*fakeChecker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.built[endpoint])
}

// last returns the newest checker built for endpoint.
func (f *factory) last(t *testing.T, endpoint string) *fakeChecker {
	t.Helper()
	all := f.all(endpoint)
	if len(all) == 0 {
		t.Fatalf("no checker built for %s", endpoint)
	}
	return all[len(all)-1]
}

// target returns a tcp target without a watch, with the usual timings:
// interval 2s, timeout 1s, re-check 100ms, rise 2, fall 2.
func target(name string, mods ...func(*config.Check)) Target {
	watch := false
	t := Target{
		Endpoint: name,
		Address:  "192.0.2.1",
		Port:     80,
		Check: config.Check{
			Type:            config.CheckTCP,
			Interval:        config.Duration(2 * time.Second),
			Timeout:         config.Duration(time.Second),
			RecheckInterval: config.Duration(100 * time.Millisecond),
			Rise:            2,
			Fall:            2,
			Watch:           &watch,
		},
	}
	for _, m := range mods {
		m(&t.Check)
	}
	return t
}

// harness runs a Monitor on a FakeClock with fake checkers.
type harness struct {
	t   *testing.T
	ctx context.Context // for waits
	clk *FakeClock
	f   *factory
	m   *Monitor
}

// start returns a running harness with targets; Run ends with the test,
// and the test fails if it does not return promptly.
func start(t *testing.T, opts Options, targets ...Target) *harness {
	t.Helper()
	h := &harness{t: t, ctx: waitCtx(t), clk: NewFakeClock(epoch), f: newFactory()}
	opts.Clock = h.clk
	if opts.NewChecker == nil {
		opts.NewChecker = h.f.New
	}
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(1, 2))
	}
	h.m = NewMonitor(opts)
	if err := h.m.Update(targets); err != nil {
		t.Fatalf("Update: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: got %v, want nil", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return within %v of cancellation", waitTimeout)
		}
	})
	return h
}

// block waits until n timers are pending.
func (h *harness) block(n int) {
	h.t.Helper()
	if err := h.clk.BlockUntil(h.ctx, n); err != nil {
		h.t.Fatal(err)
	}
}

// fire advances the clock to the earliest of n pending timers, waits until
// the monitor has re-armed n timers, and returns the earliest pending
// duration then. With one endpoint, that is the delay it asked for after
// the probe.
func (h *harness) fire(n int) time.Duration {
	h.t.Helper()
	h.block(n)
	h.clk.Advance(h.clk.Pending()[0])
	h.block(n)
	return h.clk.Pending()[0]
}

// status returns the Status of endpoint.
func (h *harness) status(endpoint string) Status {
	h.t.Helper()
	for _, s := range h.m.Status() {
		if s.Endpoint == endpoint {
			return s
		}
	}
	h.t.Fatalf("no status for %s", endpoint)
	return Status{}
}

// batch receives the next batch of changes.
func (h *harness) batch() []Verdict {
	h.t.Helper()
	return recv(h.t, h.m.Changes(), "a batch of verdict changes")
}
