package controller

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// ttlOf returns the TTL a change set writes to www, 0 when it does not.
func ttlOf(cs *providers.ChangeSet) uint32 {
	for _, c := range cs.Changes {
		if c.Key == key("www.example.com.") && c.New != nil {
			return c.New.TTL
		}
	}
	return 0
}

// TestRolloutOneProviderAtATime: a policy change reaches the providers in
// the zone's order, each applied and verified (its sync committed) before
// the next is written.
func TestRolloutOneProviderAtATime(t *testing.T) {
	h := newHarness(t, "2s")
	h.commitPolicy(30)
	h.start()
	g1 := h.gen()
	h.waitConverged(5*time.Second, g1)

	var mu sync.Mutex
	var order []string
	var problems []string
	for i, n := range h.order {
		h.fakes[n].setHook(func(ctx context.Context, cs *providers.ChangeSet) error {
			if ttlOf(cs) != 60 {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			order = append(order, n)
			if i > 0 {
				prev := h.order[i-1]
				if s := h.cluster.sync(prev, "example.com."); s.Verified != cs.Generation || s.Policy != 2 {
					problems = append(problems, fmt.Sprintf("%s written while %s has sync %+v, want verified %d under policy 2", n, prev, s, cs.Generation))
				}
			}
			return nil
		})
	}
	start := time.Now()
	h.commitPolicy(60)
	g2 := h.gen()
	h.waitConverged(10*time.Second, g2)
	t.Logf("policy rollout to 3 providers (one at a time, each verified) took %s", time.Since(start))
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(order, ","), "p1,p2,p3"; got != want {
		t.Errorf("got write order %s, want %s", got, want)
	}
	for _, p := range problems {
		t.Error(p)
	}
	for _, n := range h.order {
		if s := h.cluster.sync(n, "example.com."); s.Policy != 2 {
			t.Errorf("%s: got sync policy %d, want 2", n, s.Policy)
			for _, c := range h.cluster.committed() {
				if c.Type == raft.CmdSync {
					t.Logf("%+v", *c.Sync)
				}
			}
		}
	}
}

// TestRolloutFailureRollsBack: a policy whose rollout fails at the second
// provider ends with every provider back on the previous version's
// content (under the current health, at a new generation), the third
// provider never touched by the failed version, and the event recorded.
func TestRolloutFailureRollsBack(t *testing.T) {
	modes := []struct {
		name string
		vt   string
		// fail makes p2 fail the new version (TTL 60).
		fail func(h *harness) func(ctx context.Context, cs *providers.ChangeSet) error
	}{
		{"provider refuses the change", "2s", func(h *harness) func(context.Context, *providers.ChangeSet) error {
			return func(_ context.Context, cs *providers.ChangeSet) error {
				if ttlOf(cs) == 60 {
					return providers.Invalid(fmt.Errorf("fake: quota exceeded"))
				}
				return nil
			}
		}},
		{"provider hangs", "2s", func(h *harness) func(context.Context, *providers.ChangeSet) error {
			h.opts.CallTimeout = 100 * time.Millisecond
			h.opts.StepTimeout = 400 * time.Millisecond
			return func(ctx context.Context, cs *providers.ChangeSet) error {
				if ttlOf(cs) == 60 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}
		}},
		{"nameservers never answer it", "300ms", func(h *harness) func(context.Context, *providers.ChangeSet) error {
			return func(_ context.Context, cs *providers.ChangeSet) error {
				// The API takes the write; the nameservers keep the
				// old content until the roll-back is written.
				h.fakes["p2"].freeze(ttlOf(cs) == 60)
				return nil
			}
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, m.vt)
			h.fakes["p2"].setHook(m.fail(h))
			h.commitPolicy(30)
			h.start()
			g1 := h.gen()
			h.waitConverged(5*time.Second, g1)
			before := h.cluster.state().Zone("example.com.")

			start := time.Now()
			h.commitPolicy(60)
			g2 := h.gen()
			waitFor(t, 10*time.Second, "the roll-back policy version", func() bool {
				st := h.cluster.state()
				return st.Policy.Version == 3 && st.Policy.RollbackOf == 2
			})
			g3 := h.gen()
			if g3 <= g2 {
				t.Fatalf("got roll-back generation %d, want more than %d", g3, g2)
			}
			h.waitConverged(10*time.Second, g3)
			t.Logf("failed rollout rolled back on every provider in %s", time.Since(start))

			after := h.cluster.state().Zone("example.com.")
			for _, n := range h.order {
				sets, _ := h.fakes[n].snapshot()
				if !holds(sets, before) || !holds(sets, after) {
					t.Errorf("%s: got %v, want the previous version's content", n, sets)
				}
				_, applies, emptied, _ := h.fakes[n].stats()
				if len(emptied) > 0 {
					t.Errorf("%s: names went empty: %v", n, emptied)
				}
				saw60 := false
				for _, cs := range applies {
					saw60 = saw60 || ttlOf(cs) == 60
				}
				if want := n == "p1" || (n == "p2" && m.name == "nameservers never answer it"); saw60 != want {
					t.Errorf("%s: got new version written %v, want %v", n, saw60, want)
				}
			}
			s := h.cluster.sync("p2", "example.com.")
			if s.Policy != 3 {
				t.Errorf("p2: got sync policy %d, want 3 (the roll-back)", s.Policy)
			}
			found := false
			for _, ev := range h.cluster.state().Events {
				if ev.Kind == EventPolicy && ev.Subject == "version 3" {
					found = true
				}
			}
			if !found {
				t.Error("no policy event for the roll-back version")
			}
		})
	}
}

// TestRolloutRecordsTheFailedStep: the log records why the rollout
// stopped (on the failed provider's sync status), then the roll-back as a
// policy version marked RollbackOf.
func TestRolloutRecordsTheFailedStep(t *testing.T) {
	h := newHarness(t, "2s")
	h.fakes["p2"].setHook(func(_ context.Context, cs *providers.ChangeSet) error {
		if ttlOf(cs) == 60 {
			return providers.Invalid(fmt.Errorf("fake: quota exceeded"))
		}
		return nil
	})
	h.commitPolicy(30)
	h.start()
	h.waitConverged(5*time.Second, h.gen())
	h.commitPolicy(60)
	waitFor(t, 10*time.Second, "the roll-back", func() bool { return h.cluster.state().Policy.RollbackOf == 2 })
	stopped, rolledBack := -1, -1
	for i, c := range h.cluster.committed() {
		switch {
		case c.Type == raft.CmdSync && c.Sync.Provider == "p2" && strings.Contains(c.Sync.Error, "rollout of policy version 2 stopped here") && strings.Contains(c.Sync.Error, "quota exceeded"):
			stopped = i
		case c.Type == raft.CmdPolicy && c.Policy.RollbackOf == 2:
			rolledBack = i
		}
	}
	if stopped < 0 || rolledBack < 0 || stopped > rolledBack {
		t.Errorf("got the failed step recorded at entry %d and the roll-back at %d, want both, the step first", stopped, rolledBack)
	}
}

// TestRolloutTypeChange: a policy that turns www from A records into a
// CNAME deletes the A set and creates the CNAME in one write on each
// provider (the previous policy's keys are read, so the A set is seen),
// the name is never empty, and the provider never sees a CNAME beside
// other data.
func TestRolloutTypeChange(t *testing.T) {
	h := newHarness(t, "2s")
	h.commitPolicy(30)
	h.start()
	h.waitConverged(5*time.Second, h.gen())
	doc := strings.NewReplacer(
		"  - {name: g2, address: 10.1.0.2, cloud: gcp, region: r2, check: web}\n",
		"  - {name: g2, address: 10.1.0.2, cloud: gcp, region: r2, check: web}\n  - {name: lb1, address: lb1.example.net., cloud: aws, region: r1, check: web}\n",
		"  gcp: {endpoints: [g1, g2]}\n", "  gcp: {endpoints: [g1, g2]}\n  lb: {endpoints: [lb1]}\n",
		"{name: www.example.com., type: A, ttl: 30, pools: [aws, gcp]}", "{name: www.example.com., type: CNAME, ttl: 30, pools: [lb]}",
	).Replace(h.policyDoc(30))
	h.commitDoc(doc)
	g2 := h.gen()
	h.waitConverged(10*time.Second, g2)
	for _, n := range h.order {
		sets, _ := h.fakes[n].snapshot()
		if _, ok := sets[key("www.example.com.")]; ok {
			t.Errorf("%s: www A still present", n)
		}
		c, ok := sets[zone.Key{Name: "www.example.com.", Type: dns.TypeCNAME}]
		if !ok || len(c.Data) != 1 || c.Data[0] != "lb1.example.net." {
			t.Errorf("%s: got www CNAME %v, want lb1.example.net.", n, c.Data)
		}
		_, applies, emptied, _ := h.fakes[n].stats()
		if len(emptied) > 0 {
			t.Errorf("%s: names went empty: %v", n, emptied)
		}
		last := applies[len(applies)-1]
		if len(last.Changes) != 2 {
			t.Errorf("%s: got last write %s, want the delete and the create together", n, describe(last))
		}
		if s := h.cluster.sync(n, "example.com."); s.Error != "" {
			t.Errorf("%s: sync error %q", n, s.Error)
		}
	}
}

// TestRolloutOfABadProviderSetting: a policy that points p2's
// verification at a dead address (its settings follow the policy) fails
// at p2 and is rolled back; the roll-back restores the setting and every
// provider verifies again.
func TestRolloutOfABadProviderSetting(t *testing.T) {
	h := newHarness(t, "300ms")
	h.commitPolicy(30)
	h.start()
	h.waitConverged(5*time.Second, h.gen())
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	doc := strings.Replace(h.policyDoc(60), h.fakes["p2"].dnsAddr, dead, 1)
	h.commitDoc(doc)
	waitFor(t, 10*time.Second, "the roll-back", func() bool { return h.cluster.state().Policy.RollbackOf == 2 })
	g := h.gen()
	h.waitConverged(10*time.Second, g)
	_, applies, _, _ := h.fakes["p3"].stats()
	for _, cs := range applies {
		if ttlOf(cs) == 60 {
			t.Errorf("p3 got the failed version: %s", describe(cs))
		}
	}
}

// TestHealthChangeDuringRollout: health changes do not wait for a policy
// rollout. While the rollout is stuck at p1, endpoints go down: p2 and p3,
// not reached yet, get the previous version's content under the new
// health at once (the same content a cluster on the previous policy
// derives), and the rollout then finishes on the newest generation.
func TestHealthChangeDuringRollout(t *testing.T) {
	h := newHarness(t, "2s")
	h.commitPolicy(30)
	h.start()
	h.waitConverged(5*time.Second, h.gen())
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h.fakes["p1"].setHook(func(_ context.Context, cs *providers.ChangeSet) error {
		if ttlOf(cs) == 60 {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return nil
	})
	h.commitPolicy(60)
	<-entered
	start := time.Now()
	h.verdicts(map[string]bool{"a1": false, "a2": false})
	g3 := h.gen()

	// What a cluster still on the previous policy derives for this health.
	ref := newFakeCluster()
	ref.must(t, raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: h.policy(30).JSON()}})
	ref.must(t, verdicts("n1", false, map[string]bool{"a1": false, "a2": false}))
	want := ref.state().Zone("example.com.")
	if got := PreviousZone(h.policy(30), h.cluster.state(), h.cluster.state().Zone("example.com.")); !holds(asContent(got), want) {
		t.Errorf("PreviousZone: got %v, want %v", got.ManagedRecords(), want.ManagedRecords())
	}
	for _, n := range []string{"p2", "p3"} {
		waitFor(t, 2*time.Second, n+" to get the health change on the previous version", func() bool {
			sets, fence := h.fakes[n].snapshot()
			s := h.cluster.sync(n, "example.com.")
			return fence == g3 && holds(sets, want) && s.Verified == g3 && s.Policy == 1
		})
	}
	t.Logf("health change reached the providers the rollout had not reached in %s", time.Since(start))
	if h.converged("p1", g3) {
		t.Fatal("p1 converged while its rollout step is stuck")
	}
	close(release)
	h.waitConverged(5*time.Second, g3)
}

// asContent returns a zone's managed RRsets as a provider would hold them.
func asContent(z *zone.Zone) map[zone.Key]zone.RRset {
	out := map[zone.Key]zone.RRset{}
	for _, s := range z.ManagedRecords() {
		out[s.Key()] = s
	}
	return out
}

// TestRolloutResumesAfterLeaderChange: leadership is lost while the
// rollout is at p2; the next term resumes it from the committed sync
// results: p1, already done, is not written again, and p2 and p3 follow
// in order.
func TestRolloutResumesAfterLeaderChange(t *testing.T) {
	h := newHarness(t, "2s")
	h.commitPolicy(30)
	h.start()
	h.waitConverged(5*time.Second, h.gen())
	entered := make(chan struct{}, 1)
	var mu sync.Mutex
	var order []string
	block := true
	for _, n := range h.order {
		h.fakes[n].setHook(func(ctx context.Context, cs *providers.ChangeSet) error {
			if ttlOf(cs) != 60 {
				return nil
			}
			mu.Lock()
			stuck := n == "p2" && block
			if !stuck {
				order = append(order, n)
			}
			mu.Unlock()
			if stuck {
				select {
				case entered <- struct{}{}:
				default:
				}
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
	}
	h.commitPolicy(60)
	g2 := h.gen()
	<-entered
	h.cluster.leader.Store(false)
	waitFor(t, 5*time.Second, "the term to end", func() bool { return !h.rec.Leading() })
	mu.Lock()
	block = false
	mu.Unlock()
	h.cluster.leader.Store(true)
	h.waitConverged(5*time.Second, g2)
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(order, ","); got != "p1,p2,p3" {
		t.Errorf("got writes of the new version %s, want p1,p2,p3 (p1 once)", got)
	}
}
