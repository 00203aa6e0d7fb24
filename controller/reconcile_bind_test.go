package controller

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/rfc2136"
	"github.com/switchboard-dns/switchboard/providers/rfc2136/rfc2136test"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// bindServer is a real BIND 9 serving example.com. on loopback, updatable
// and transferable with one TSIG key.
type bindServer struct {
	addr   string
	key    string // the key's name
	secret string
}

// startNamed runs named through rfc2136test, which stops it by its pid
// when the test ends and fails (in CI) or skips when named is missing.
func startNamed(t *testing.T) *bindServer {
	t.Helper()
	s := rfc2136test.StartBIND(t, rfc2136test.Options{
		Zones: []rfc2136test.Zone{{Name: "example.com.", File: "$ORIGIN example.com.\n" +
			"@ 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 86400 60\n" +
			"@ 3600 IN NS ns1.example.com.\nns1 3600 IN A 192.0.2.53\n"}},
		Algorithms: []string{"hmac-sha256"},
	})
	k := s.Key(t, "hmac-sha256")
	return &bindServer{addr: s.Addr(), key: k.Name, secret: k.Secret}
}

// gatedProvider wraps a real provider so a test can hold a write in flight
// (a delayed SDK retry, a paused process) and count attempts.
type gatedProvider struct {
	providers.Provider
	mu    sync.Mutex
	gate  func(ctx context.Context, cs *providers.ChangeSet)
	calls map[uint64]int
}

func (g *gatedProvider) Apply(ctx context.Context, cs *providers.ChangeSet) error {
	g.mu.Lock()
	g.calls[cs.Generation]++
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		gate(ctx, cs)
	}
	return g.Provider.Apply(ctx, cs)
}

func (g *gatedProvider) callsFor(gen uint64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[gen]
}

const bindPolicy = `
zones:
  - name: example.com.
    providers: [bind]
    nameservers: [ns1.example.com.]
providers:
  bind: {type: rfc2136, server: "{ADDR}", tsig_key: "{KEY}", tsig_secret_env: SB_TEST_SECRET, verify_nameservers: ["{ADDR}"], verify_timeout: 5s}
checks:
  web: {type: http, interval: 1s, timeout: 500ms}
endpoints:
  - {name: a1, address: 10.0.0.1, cloud: aws, region: r1, check: web}
  - {name: a2, address: 10.0.0.2, cloud: aws, region: r1, check: web}
  - {name: g1, address: 10.1.0.1, cloud: gcp, region: r2, check: web}
  - {name: g2, address: 10.1.0.2, cloud: gcp, region: r2, check: web}
pools:
  aws: {endpoints: [a1, a2]}
  gcp: {endpoints: [g1, g2]}
records:
  - {name: www.example.com., type: A, ttl: 30, pools: [aws, gcp]}
`

// bindLeader is one leader's view (its own log) reconciling BIND.
type bindLeader struct {
	cluster *fakeCluster
	prov    *gatedProvider
	rec     *Reconciler
	logs    logRecorder
	cancel  context.CancelFunc
	done    chan error
}

func newBindLeader(t *testing.T, b *bindServer, downAWS bool) *bindLeader {
	t.Helper()
	doc := strings.NewReplacer("{ADDR}", b.addr, "{KEY}", b.key).Replace(bindPolicy)
	pol := mustPolicy(t, doc)
	p, err := rfc2136.New("bind", pol.Providers["bind"], providers.Env{Getenv: func(k string) string {
		if k == "SB_TEST_SECRET" {
			return b.secret
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	l := &bindLeader{cluster: newFakeCluster(), prov: &gatedProvider{Provider: p, calls: map[uint64]int{}}, logs: newLogRecorder(), done: make(chan error, 1)}
	l.cluster.must(t, raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: pol.JSON()}})
	if downAWS {
		l.cluster.must(t, verdicts("n1", false, map[string]bool{"a1": false, "a2": false}))
	}
	rec, err := NewReconciler(ReconcilerOptions{
		Node:           "n1",
		Cluster:        l.cluster,
		Providers:      func(string, *config.Provider) (providers.Provider, error) { return l.prov, nil },
		Logger:         slog.New(l.logs),
		Backoff:        func(int) time.Duration { return 5 * time.Millisecond },
		VerifyInterval: 20 * time.Millisecond,
		LeaderPoll:     10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	l.rec = rec
	return l
}

func (l *bindLeader) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- l.rec.Run(ctx) }()
	t.Cleanup(l.stop)
}

func (l *bindLeader) stop() {
	if l.cancel != nil {
		l.cancel()
		l.cancel = nil
		<-l.done
	}
}

func (l *bindLeader) gen() uint64 { return l.cluster.state().Zone("example.com.").Generation }

// bindAnswer returns www's addresses at BIND (nil: no records), over TCP.
func bindAnswer(t *testing.T, b *bindServer) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	r, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(m, b.addr)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// watchNeverEmpty queries www at BIND until the test ends and reports any
// empty answer after the first non-empty one.
func watchNeverEmpty(t *testing.T, b *bindServer) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var bad []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := false
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			ans := bindAnswer(t, b)
			switch {
			case len(ans) > 0:
				seen = true
			case seen:
				mu.Lock()
				bad = append(bad, time.Now().Format(time.StampMicro))
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return bad
	}
}

// TestStaleOldLeaderAgainstBIND is [TestStaleOldLeaderIsRejected] against
// a real BIND 9 through the rfc2136 provider: the fence and the RRsets are
// prerequisites of the UPDATE, so BIND itself refuses the old leader's
// delayed write; the name is never empty.
func TestStaleOldLeaderAgainstBIND(t *testing.T) {
	b := startNamed(t)
	watch := watchNeverEmpty(t, b)

	old := newBindLeader(t, b, false)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	old.prov.gate = func(ctx context.Context, cs *providers.ChangeSet) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	if g := old.gen(); g != 1 {
		t.Fatalf("old leader's generation %d, want 1", g)
	}
	old.start(t)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the old leader did not start its write")
	}

	cur := newBindLeader(t, b, true)
	g2 := cur.gen()
	if g2 != 2 {
		t.Fatalf("new leader's generation %d, want 2", g2)
	}
	cur.start(t)
	waitFor(t, 10*time.Second, "the new leader's generation at BIND, verified", func() bool {
		s := cur.cluster.sync("bind", "example.com.")
		return s.Verified == g2
	})
	if got := bindAnswer(t, b); strings.Join(got, ",") != "10.1.0.1,10.1.0.2" {
		t.Fatalf("got www %v at BIND, want the new leader's 10.1.0.1,10.1.0.2", got)
	}

	old.prov.mu.Lock()
	old.prov.gate = nil
	old.prov.mu.Unlock()
	close(release)
	waitFor(t, 10*time.Second, "the old leader to stop", func() bool {
		return old.logs.count("not writing: a newer writer exists") == 1
	})
	old.stop()
	if got := bindAnswer(t, b); strings.Join(got, ",") != "10.1.0.1,10.1.0.2" {
		t.Errorf("got www %v at BIND after the old leader woke up, want 10.1.0.1,10.1.0.2", got)
	}
	if old.logs.count("write conflicted: re-reading and re-planning") != 1 {
		t.Errorf("got %d refused writes of the old leader, want 1 (BIND's prerequisites)", old.logs.count("write conflicted: re-reading and re-planning"))
	}

	// An old leader that wakes up only now reads the newer fence and
	// sends nothing.
	late := newBindLeader(t, b, false)
	late.start(t)
	waitFor(t, 10*time.Second, "the late old leader to refuse its plan", func() bool {
		return late.logs.count("not writing: a newer writer exists") == 1
	})
	late.stop()
	if c := late.prov.callsFor(1); c != 0 {
		t.Errorf("late old leader sent %d writes, want 0", c)
	}
	cur.stop()
	if bad := watch(); len(bad) > 0 {
		t.Errorf("www was empty at BIND at %v", bad)
	}
	if got := bindAnswer(t, b); strings.Join(got, ",") != "10.1.0.1,10.1.0.2" {
		t.Errorf("got www %v at BIND at the end, want 10.1.0.1,10.1.0.2", got)
	}
}

// TestFenceAdvancesAgainstBIND: a new generation that leaves the managed
// content as it is (a static record changed) still moves BIND's fence, by
// re-asserting one RRset (Old = New) in a fenced UPDATE, so that a
// delayed writer between the two generations stays refused.
func TestFenceAdvancesAgainstBIND(t *testing.T) {
	b := startNamed(t)
	l := newBindLeader(t, b, false)
	l.start(t)
	g1 := l.gen()
	waitFor(t, 10*time.Second, "generation 1 at BIND", func() bool { return l.cluster.sync("bind", "example.com.").Verified == g1 })
	doc := strings.Replace(strings.NewReplacer("{ADDR}", b.addr, "{KEY}", b.key).Replace(bindPolicy), "    nameservers: [ns1.example.com.]\n", "    nameservers: [ns1.example.com.]\n    static: [\"info 60 IN TXT \\\"v2\\\"\"]\n", 1)
	l.cluster.must(t, raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: mustPolicy(t, doc).JSON()}})
	g2 := l.gen()
	if g2 != g1+1 {
		t.Fatalf("got generation %d, want %d", g2, g1+1)
	}
	waitFor(t, 10*time.Second, "generation 2 verified at BIND", func() bool {
		s := l.cluster.sync("bind", "example.com.")
		return s.Verified == g2 && s.Policy == 2
	})
	c, err := l.prov.Read(context.Background(), "example.com.", []zone.Key{key("www.example.com.")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Fence != g2 {
		t.Errorf("got fence %d at BIND, want %d", c.Fence, g2)
	}
	if got := bindAnswer(t, b); strings.Join(got, ",") != "10.0.0.1,10.0.0.2" {
		t.Errorf("got www %v, want 10.0.0.1,10.0.0.2 unchanged", got)
	}
	if n := l.prov.callsFor(g2); n != 1 {
		t.Errorf("got %d writes of generation %d, want 1 (the re-assert)", n, g2)
	}
}
