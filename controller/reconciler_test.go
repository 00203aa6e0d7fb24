package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// TestReconcilerHealthChangeReachesAllAtOnce: a health-driven change
// (same policy version) is written to every provider at once, each
// verified at its nameservers and committed. It is not staged: while p1's
// nameservers still answer the old content, p2 and p3 are already written
// and verified.
func TestReconcilerHealthChangeReachesAllAtOnce(t *testing.T) {
	h := newHarness(t, "5s")
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)

	// Timing: all three, nothing held back.
	start := time.Now()
	h.verdicts(map[string]bool{"a1": false, "a2": false})
	g2 := h.gen()
	if g2 <= g1 {
		t.Fatalf("got generation %d after the health change, want more than %d", g2, g1)
	}
	h.waitConverged(5*time.Second, g2)
	t.Logf("health-driven change reached 3 providers (applied+verified+committed) in %s", time.Since(start))
	for _, n := range h.order {
		s := h.cluster.sync(n, "example.com.")
		if s.Applied != g2 || s.Verified != g2 || s.Unverified || s.Error != "" {
			t.Errorf("%s: got sync %+v, want applied=verified=%d, no error", n, s, g2)
		}
		got, _ := h.fakes[n].lookup(key("www.example.com."))
		if want := []string{"10.1.0.1", "10.1.0.2"}; len(got.Data) != 2 || got.Data[0] != want[0] || got.Data[1] != want[1] {
			t.Errorf("%s: got www %v, want %v", n, got.Data, want)
		}
		_, _, emptied, _ := h.fakes[n].stats()
		if len(emptied) > 0 {
			t.Errorf("%s: names went empty: %v", n, emptied)
		}
	}

	// Not staged: p1's nameservers lag; p2 and p3 do not wait for them.
	h.fakes["p1"].freeze(true)
	h.verdicts(map[string]bool{"a1": true, "a2": true})
	g3 := h.gen()
	h.waitConverged(5*time.Second, g3, "p2", "p3")
	if s := h.cluster.sync("p1", "example.com."); s.Verified == g3 {
		t.Fatalf("p1 verified generation %d while its nameservers answer the old content", g3)
	}
	waitFor(t, 5*time.Second, "p1 to be written too", func() bool {
		_, fence := h.fakes["p1"].snapshot()
		return fence == g3
	})
	if s := h.cluster.sync("p1", "example.com."); s.Verified == g3 {
		t.Fatalf("p1 verified generation %d while its nameservers answer the old content", g3)
	}
	h.fakes["p1"].freeze(false)
	h.waitConverged(5*time.Second, g3, "p1")
}

// TestReconcilerHungProviderDoesNotDelayOthers: p2 hangs on every write;
// p1 and p3 still converge on time, and p2 converges once it recovers.
func TestReconcilerHungProviderDoesNotDelayOthers(t *testing.T) {
	h := newHarness(t, "2s")
	h.opts.CallTimeout = 2 * time.Second
	release := make(chan struct{})
	h.fakes["p2"].setHook(func(ctx context.Context, cs *providers.ChangeSet) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	start := time.Now()
	h.waitConverged(time.Second, g1, "p1", "p3")
	t.Logf("p1 and p3 converged in %s while p2 hangs", time.Since(start))
	if h.converged("p2", g1) {
		t.Fatal("p2 converged while hanging")
	}
	h.verdicts(map[string]bool{"g1": false})
	g2 := h.gen()
	h.waitConverged(time.Second, g2, "p1", "p3")
	close(release)
	h.waitConverged(10*time.Second, g2, "p2")
	sets, _ := h.fakes["p2"].snapshot()
	if _, ok := sets[key("www.example.com.")]; !ok {
		t.Error("p2 has no www after recovering")
	}
}

// logRecorder is a slog handler that keeps every message.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder() logRecorder { return logRecorder{mu: &sync.Mutex{}, msgs: new([]string)} }

func (l logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	*l.msgs = append(*l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logRecorder) WithGroup(string) slog.Handler      { return l }

func (l logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range *l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// twin returns a harness on its own cluster (another leader's view of the
// log) over the same providers.
func (h *harness) twin() *harness {
	o := newHarnessWith(h.t, h.vt, h.fakes)
	return o
}

// TestStaleOldLeaderIsRejected: an old leader, cut off, has read the
// providers and is about to write generation 1 when the new leader writes
// generation 2. When the old leader's delayed write arrives, the provider
// refuses it (fence compare-and-swap), the old leader re-reads, sees the
// newer fence and stops; the name is never empty. An old leader that
// wakes up only after the new one wrote does not even try.
func TestStaleOldLeaderIsRejected(t *testing.T) {
	t.Run("delayed write in flight", func(t *testing.T) {
		old := newHarness(t, "2s")
		logs := newLogRecorder()
		old.opts.Logger = slog.New(logs)
		entered := make(chan string, 3)
		release := make(chan struct{})
		for _, n := range old.order {
			old.fakes[n].setHook(func(ctx context.Context, cs *providers.ChangeSet) error {
				if cs.Generation == 1 {
					entered <- n
					<-release
				}
				return nil
			})
		}
		old.commitPolicy(30)
		old.start()
		for range old.order {
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the old leader did not start its writes")
			}
		}
		// The new leader's log has a newer generation.
		cur := old.twin()
		cur.commitPolicy(30)
		cur.verdicts(map[string]bool{"a1": false, "a2": false})
		g2 := cur.gen()
		if g2 != 2 {
			t.Fatalf("got new leader's generation %d, want 2", g2)
		}
		cur.start()
		cur.waitConverged(5*time.Second, g2)
		close(release)
		waitFor(t, 5*time.Second, "the old leader to stop on every provider", func() bool {
			return logs.count("not writing: a newer writer exists") == len(old.order)
		})
		for _, n := range old.order {
			f := old.fakes[n]
			conflicts, applies, emptied, _ := f.stats()
			if conflicts != 1 {
				t.Errorf("%s: got %d refused writes, want 1 (the old leader's)", n, conflicts)
			}
			for _, cs := range applies {
				if cs.Generation == 1 {
					t.Errorf("%s: generation 1 was applied: %s", n, describe(cs))
				}
			}
			if len(emptied) > 0 {
				t.Errorf("%s: names went empty: %v", n, emptied)
			}
			if !cur.converged(n, g2) {
				t.Errorf("%s: no longer holds generation %d", n, g2)
			}
			if s := old.cluster.sync(n, "example.com."); s.Applied != 0 {
				t.Errorf("%s: old leader committed applied=%d, want nothing", n, s.Applied)
			}
		}
	})
	t.Run("wakes up after the new leader wrote", func(t *testing.T) {
		cur := newHarness(t, "2s")
		cur.commitPolicy(30)
		cur.verdicts(map[string]bool{"a1": false, "a2": false})
		g2 := cur.gen()
		cur.start()
		cur.waitConverged(5*time.Second, g2)
		cur.stop()

		old := cur.twin()
		logs := newLogRecorder()
		old.opts.Logger = slog.New(logs)
		old.commitPolicy(30)
		if g := old.gen(); g >= g2 {
			t.Fatalf("old leader's generation %d, want less than %d", g, g2)
		}
		old.start()
		waitFor(t, 5*time.Second, "the old leader to refuse its plan on every provider", func() bool {
			return logs.count("not writing: a newer writer exists") == len(old.order)
		})
		for _, n := range old.order {
			if c := old.fakes[n].callsFor(1); c != 0 {
				t.Errorf("%s: got %d write attempts of generation 1, want 0", n, c)
			}
			if !cur.converged(n, g2) {
				t.Errorf("%s: no longer holds generation %d", n, g2)
			}
		}
		if v := old.cluster.verifyCalls.Load(); v != 0 {
			t.Errorf("got %d leadership checks, want 0: the stale plan must stop before any write", v)
		}
	})
}

// TestThrottlingAndTimeoutsLeaveNoPartialChange: p1 throttles three writes
// (asking for 100ms) and then hangs past the call timeout once; every state
// p1 ever held is one whole generation's content, the retry-after is
// honoured, the errors are counted by kind, p1 converges in the end and
// p2 and p3 are not delayed.
func TestThrottlingAndTimeoutsLeaveNoPartialChange(t *testing.T) {
	h := newHarness(t, "2s")
	reg := prometheus.NewRegistry()
	h.opts.Registry = reg
	h.opts.CallTimeout = 500 * time.Millisecond
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)
	want1 := h.cluster.state().Zone("example.com.")

	var mu sync.Mutex
	var calls []time.Time
	h.fakes["p1"].setHook(func(ctx context.Context, cs *providers.ChangeSet) error {
		mu.Lock()
		calls = append(calls, time.Now())
		n := len(calls)
		mu.Unlock()
		switch {
		case n <= 3:
			return providers.Throttled(errors.New("rate exceeded"), 100*time.Millisecond)
		case n == 4:
			<-ctx.Done() // hangs until the call timeout cuts it off
			return ctx.Err()
		}
		return nil
	})
	start := time.Now()
	// Both managed records change in one generation.
	h.verdicts(map[string]bool{"a1": false, "a2": false})
	g2 := h.gen()
	if g2 <= g1 {
		t.Fatalf("got generation %d after the health change, want more than %d", g2, g1)
	}
	h.waitConverged(time.Second, g2, "p2", "p3")
	others := time.Since(start)
	h.waitConverged(5*time.Second, g2, "p1")
	t.Logf("p2, p3 converged in %s; p1 (3 throttles, 1 time-out) in %s", others, time.Since(start))
	if others > 400*time.Millisecond {
		t.Errorf("p2 and p3 took %s, want them not to wait for p1's retries (>= 800ms)", others)
	}
	want2 := h.cluster.state().Zone("example.com.")

	mu.Lock()
	for i := 1; i < 4 && i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < 100*time.Millisecond {
			t.Errorf("retry %d came %s after a throttle asking for 100ms", i, gap)
		}
	}
	mu.Unlock()
	_, applies, emptied, history := h.fakes["p1"].stats()
	if len(emptied) > 0 {
		t.Errorf("names went empty: %v", emptied)
	}
	for i, st := range history {
		if !holds(st, want1) && !holds(st, want2) {
			t.Errorf("state %d after %s is neither generation %d nor %d: %v", i, describe(applies[i]), g1, g2, st)
		}
	}
	for kind, want := range map[string]float64{"throttled": 3, "unavailable": 1} {
		if got := counterValue(t, reg, "switchboard_provider_write_errors_total", map[string]string{"provider": "p1", "kind": kind}); got != want {
			t.Errorf("write errors of p1 kind %s: got %v, want %v", kind, got, want)
		}
	}
}

// holds reports whether a provider's content is exactly z's managed
// content.
func holds(st map[zone.Key]zone.RRset, z *zone.Zone) bool {
	m := z.ManagedRecords()
	if len(st) != len(m) {
		return false
	}
	for _, s := range m {
		if got, ok := st[s.Key()]; !ok || !got.Equal(s) {
			return false
		}
	}
	return true
}

// counterValue reads one sample of a metric family from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// TestLeadershipLossStopsWrites: while the leadership check fails no
// write is sent (the worker keeps checking); when the node learns it lost
// leadership, an in-flight call is cancelled at once; a new term
// reconciles everything again.
func TestLeadershipLossStopsWrites(t *testing.T) {
	h := newHarness(t, "2s")
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)

	// 1. The heartbeat round fails: nothing is written.
	h.cluster.verifyFails.Store(true)
	before := h.cluster.verifyCalls.Load()
	h.verdicts(map[string]bool{"a1": false, "a2": false})
	g2 := h.gen()
	waitFor(t, 5*time.Second, "every worker to check leadership", func() bool {
		return h.cluster.verifyCalls.Load() >= before+int64(len(h.order))
	})
	for _, n := range h.order {
		if c := h.fakes[n].callsFor(g2); c != 0 {
			t.Errorf("%s: got %d writes of generation %d without leadership, want 0", n, c, g2)
		}
	}

	// 2. A write in flight when leadership is lost is cancelled.
	cancelled := make(chan time.Time, 1)
	h.fakes["p1"].setHook(func(ctx context.Context, cs *providers.ChangeSet) error {
		<-ctx.Done()
		cancelled <- time.Now()
		return ctx.Err()
	})
	h.cluster.verifyFails.Store(false)
	waitFor(t, 5*time.Second, "p2 and p3 to converge once leadership is confirmed", func() bool {
		return h.converged("p2", g2) && h.converged("p3", g2)
	})
	lost := time.Now()
	h.cluster.leader.Store(false)
	select {
	case at := <-cancelled:
		t.Logf("in-flight write cancelled %s after leadership was lost", at.Sub(lost))
	case <-time.After(2 * time.Second):
		t.Fatal("the in-flight write was not cancelled within 2s of losing leadership (call timeout is 5s)")
	}
	if h.converged("p1", g2) {
		t.Error("p1 converged although its write was cancelled")
	}

	// 3. Leadership regained: p1 converges.
	h.fakes["p1"].setHook(nil)
	h.cluster.leader.Store(true)
	h.waitConverged(5*time.Second, g2)
}

// TestVerifyMarksUnverified: a provider whose nameservers keep answering
// the old content is marked unverified after its verify timeout, with the
// generation applied but not verified; the others verify.
func TestVerifyMarksUnverified(t *testing.T) {
	h := newHarness(t, "300ms")
	reg := prometheus.NewRegistry()
	h.opts.Registry = reg
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)
	h.fakes["p2"].freeze(true)
	start := time.Now()
	h.verdicts(map[string]bool{"a1": false, "a2": false})
	g2 := h.gen()
	h.waitConverged(5*time.Second, g2, "p1", "p3")
	waitFor(t, 5*time.Second, "p2 to be marked unverified", func() bool {
		return h.cluster.sync("p2", "example.com.").Unverified
	})
	took := time.Since(start)
	s := h.cluster.sync("p2", "example.com.")
	if s.Applied != g2 || s.Verified != g1 {
		t.Errorf("p2: got applied %d verified %d, want %d and %d", s.Applied, s.Verified, g2, g1)
	}
	if took < 300*time.Millisecond {
		t.Errorf("marked unverified after %s, before the 300ms verify timeout", took)
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{"switchboard_provider_generation_wanted", float64(g2)},
		{"switchboard_provider_generation_applied", float64(g2)},
		{"switchboard_provider_generation_verified", float64(g1)},
	} {
		if got := counterValue(t, reg, c.name, map[string]string{"provider": "p2", "zone": "example.com."}); got != c.want {
			t.Errorf("%s{p2}: got %v, want %v", c.name, got, c.want)
		}
	}
	if lag := counterValue(t, reg, "switchboard_provider_lag_seconds", map[string]string{"provider": "p2", "zone": "example.com."}); lag < 0.3 {
		t.Errorf("p2 lag: got %vs, want at least the 0.3s it has been behind", lag)
	}
	if lag := counterValue(t, reg, "switchboard_provider_lag_seconds", map[string]string{"provider": "p1", "zone": "example.com."}); lag != 0 {
		t.Errorf("p1 lag: got %vs, want 0", lag)
	}
	// A follower reports no lag of its own.
	h.cluster.leader.Store(false)
	waitFor(t, 5*time.Second, "the lag to be withdrawn after leadership is lost", func() bool {
		return counterValue(t, reg, "switchboard_provider_lag_seconds", map[string]string{"provider": "p2", "zone": "example.com."}) == -1
	})
}

// TestQueueCoalesces: while p1 is stuck on one write, three newer
// generations arrive; only the newest is written after it (only the
// newest wanted generation matters), and the others converge meanwhile.
func TestQueueCoalesces(t *testing.T) {
	h := newHarness(t, "2s")
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h.fakes["p1"].setHook(func(ctx context.Context, cs *providers.ChangeSet) error {
		if cs.Generation == g1+1 {
			entered <- struct{}{}
			<-release
		}
		return nil
	})
	h.verdicts(map[string]bool{"a1": false})
	<-entered
	h.verdicts(map[string]bool{"a1": true})
	h.verdicts(map[string]bool{"g1": false})
	h.verdicts(map[string]bool{"g1": true, "g2": false})
	last := h.gen()
	if last != g1+4 {
		t.Fatalf("got generation %d, want %d", last, g1+4)
	}
	h.waitConverged(5*time.Second, last, "p2", "p3")
	close(release)
	h.waitConverged(5*time.Second, last, "p1")
	for g := g1 + 2; g < last; g++ {
		if c := h.fakes["p1"].callsFor(g); c != 0 {
			t.Errorf("p1: got %d writes of generation %d, want 0 (coalesced)", c, g)
		}
	}
}

// TestNeverEmptyGuardRefusesTheWrite: a plan that would leave a steered
// name without records is refused before it reaches the provider, and the
// refusal is committed as the provider's sync error.
func TestNeverEmptyGuardRefusesTheWrite(t *testing.T) {
	h := newHarness(t, "2s")
	h.commitPolicy(30)
	rec, err := NewReconciler(h.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tm := &term{r: rec, ctx: ctx, workers: map[string]*worker{}, sent: map[string]map[string]sentKey{}, rollouts: map[string]*rollout{}, prevKeys: map[uint64]*config.Policy{}}
	f := h.fakes["p1"]
	www := rrA("www.example.com.", 30, "10.0.0.1")
	all := rrA("all.example.com.", 30, "10.0.0.1")
	f.seed(1, www, all)
	w := newWorker(tm, "p1", f, config.ProviderCommon{VerifyTimeout: config.Duration(time.Second), Nameservers: []string{f.dnsAddr}})
	// A desired zone that lost www (a bug upstream) while the policy
	// still steers it.
	bad := desiredZone(2, all)
	res := w.process(ctx, &job{desired: bad, policy: 1, keys: []zone.Key{all.Key(), www.Key()}, steered: map[string]bool{"www.example.com.": true, "all.example.com.": true}})
	if !errors.Is(res.err, ErrWouldEmpty) {
		t.Fatalf("got %v, want ErrWouldEmpty", res.err)
	}
	if c := f.callsFor(2); c != 0 {
		t.Errorf("got %d writes, want 0", c)
	}
	if _, ok := f.lookup(www.Key()); !ok {
		t.Error("www is gone")
	}
	if s := h.cluster.sync("p1", "example.com."); !strings.Contains(s.Error, "would have no records") {
		t.Errorf("got sync error %q, want the guard's refusal", s.Error)
	}
	// The same plan with www no longer steered is the policy's decision.
	res = w.process(ctx, &job{desired: bad, policy: 1, keys: []zone.Key{all.Key(), www.Key()}, steered: map[string]bool{"all.example.com.": true}})
	if res.err != nil || !res.applied {
		t.Fatalf("got %+v, want applied", res)
	}
	if _, ok := f.lookup(www.Key()); ok {
		t.Error("www is still there after the policy dropped it")
	}
}

// TestRateLimit: a provider's calls are spaced by its rate limit (a read
// and a write per generation at 5/s: 400ms per generation) while a
// provider without one is not held back.
func TestRateLimit(t *testing.T) {
	h := newHarness(t, "2s")
	var mu sync.Mutex
	var at []time.Time
	h.fakes["p3"].setHook(func(context.Context, *providers.ChangeSet) error {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return nil
	})
	doc := strings.Replace(h.policyDoc(30), `p3: {type: rfc2136,`, `p3: {type: rfc2136, rate_limit: 5,`, 1)
	h.commitDoc(doc)
	h.start()
	g := h.gen()
	h.waitConverged(5*time.Second, g)
	for i, v := range []map[string]bool{{"a1": false}, {"a1": true}, {"g1": false}} {
		h.verdicts(v)
		g = h.gen()
		start := time.Now()
		h.waitConverged(5*time.Second, g, "p1")
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("change %d: p1 took %s, want it not held back by p3's limit", i, d)
		}
		h.waitConverged(5*time.Second, g)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 4 {
		t.Fatalf("got %d writes to p3, want 4", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 390*time.Millisecond {
			t.Errorf("write %d came %s after the one before, want at least 400ms at 5 calls/s", i, gap)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{2, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 1600 * time.Millisecond, 3200 * time.Millisecond},
		{20, 15 * time.Second, 30 * time.Second},
	} {
		t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := DefaultBackoff(tc.attempt)
				if d < tc.min || d > tc.max {
					t.Fatalf("got %s, want within [%s, %s]", d, tc.min, tc.max)
				}
				seen[d] = true
			}
			if len(seen) < 10 {
				t.Errorf("got %d distinct waits in 200, want jitter", len(seen))
			}
		})
	}
}

// TestErrorKinds: untyped failures are retried like unavailable ones and
// counted as "other"; an invalid write is not retried and its error is
// committed.
func TestErrorKinds(t *testing.T) {
	h := newHarness(t, "2s")
	reg := prometheus.NewRegistry()
	h.opts.Registry = reg
	var mu sync.Mutex
	calls := map[string]int{}
	for _, n := range []string{"p1", "p2"} {
		h.fakes[n].setHook(func(context.Context, *providers.ChangeSet) error {
			mu.Lock()
			defer mu.Unlock()
			calls[n]++
			switch {
			case n == "p1" && calls[n] <= 2:
				return errors.New("connection reset by peer")
			case n == "p2":
				return providers.Invalid(errors.New("bad credentials"))
			}
			return nil
		})
	}
	h.commitPolicy(30)
	h.start()
	g := h.gen()
	h.waitConverged(5*time.Second, g, "p1", "p3")
	waitFor(t, 5*time.Second, "p2's error to be committed", func() bool {
		return strings.Contains(h.cluster.sync("p2", "example.com.").Error, "bad credentials")
	})
	mu.Lock()
	if calls["p2"] != 1 {
		t.Errorf("p2: got %d write attempts, want 1 (invalid is not retried)", calls["p2"])
	}
	mu.Unlock()
	for _, c := range []struct {
		provider, kind string
		want           float64
	}{{"p1", "other", 2}, {"p2", "invalid", 1}} {
		if got := counterValue(t, reg, "switchboard_provider_write_errors_total", map[string]string{"provider": c.provider, "kind": c.kind}); got != c.want {
			t.Errorf("%s %s errors: got %v, want %v", c.provider, c.kind, got, c.want)
		}
	}
}

// TestSplitWritesComplete: a provider that takes one change per write gets
// a two-record change as two fenced writes; when the second is throttled,
// the worker re-reads (the fence already holds the generation), re-plans
// only what is left and completes it; no name is ever empty.
func TestSplitWritesComplete(t *testing.T) {
	h := newHarness(t, "2s")
	h.fakes["p1"].maxChg = 1
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)
	var mu sync.Mutex
	var seen []string
	h.fakes["p1"].setHook(func(_ context.Context, cs *providers.ChangeSet) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, describe(cs))
		if len(seen) == 2 {
			return providers.Throttled(errors.New("slow down"), 0)
		}
		return nil
	})
	h.verdicts(map[string]bool{"a1": false, "a2": false})
	g2 := h.gen()
	h.waitConverged(5*time.Second, g2)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("got writes %q, want 3 (one, a throttled one, its retry)", seen)
	}
	for i, s := range seen {
		if strings.Count(s, "; ") != 0 {
			t.Errorf("write %d has more than one change: %s", i, s)
		}
	}
	wantFence := []string{fmt.Sprintf("gen=%d fence=%d", g2, g1), fmt.Sprintf("gen=%d fence=%d", g2, g2), fmt.Sprintf("gen=%d fence=%d", g2, g2)}
	for i, w := range wantFence {
		if !strings.HasPrefix(seen[i], w) {
			t.Errorf("write %d: got %s, want it to start with %s", i, seen[i], w)
		}
	}
	if seen[1] != seen[2] {
		t.Errorf("the retry %s differs from the throttled write %s", seen[2], seen[1])
	}
	_, _, emptied, _ := h.fakes["p1"].stats()
	if len(emptied) > 0 {
		t.Errorf("names went empty: %v", emptied)
	}
}
