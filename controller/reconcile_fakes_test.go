package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// fakeProvider is an in-memory provider that keeps the providers contract
// (compare-and-swap on every RRset and the fence, atomic change sets, no
// CNAME beside other data), serves its content over DNS on loopback for
// verification, and has hooks to hang, throttle and fail.
type fakeProvider struct {
	name     string
	origin   string
	maxChg   int
	dnsAddr  string
	shutdown func()

	mu    sync.Mutex
	sets  map[zone.Key]zone.RRset
	fence uint64
	// frozen, when set, is what the DNS server answers instead of the
	// live content (a nameserver that lags behind the API).
	frozen map[zone.Key]zone.RRset
	// watch are names that must never be empty once they had records;
	// emptied records each violation.
	watch   map[string]bool
	emptied []string
	// history holds the content after every successful apply.
	history []map[zone.Key]zone.RRset
	// applies are the successful change sets; conflicts counts refused
	// ones; calls counts Apply calls by generation.
	applies   []*providers.ChangeSet
	conflicts int
	calls     map[uint64]int
	appliedAt []time.Time

	// beforeApply runs outside the lock before an Apply is checked; an
	// error fails the Apply with nothing changed. It may block.
	beforeApply func(ctx context.Context, cs *providers.ChangeSet) error
}

var _ providers.Provider = (*fakeProvider)(nil)

func newFakeProvider(t *testing.T, name, origin string) *fakeProvider {
	t.Helper()
	f := &fakeProvider{name: name, origin: origin, sets: map[zone.Key]zone.RRset{}, watch: map[string]bool{}, calls: map[uint64]int{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: f, NotifyStartedFunc: func() { close(started) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("%s: dns server: %v", name, err)
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: dns server did not start", name)
	}
	f.dnsAddr = pc.LocalAddr().String()
	f.shutdown = func() {
		_ = srv.Shutdown()
		<-errc
	}
	t.Cleanup(f.shutdown)
	return f
}

func (f *fakeProvider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Atomic: true, MaxChanges: f.maxChg}
}

func (f *fakeProvider) Read(ctx context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	if err := ctx.Err(); err != nil {
		return nil, providers.Unavailable(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &providers.Content{Zone: zoneName, Fence: f.fence, RRsets: map[zone.Key]zone.RRset{}}
	for _, k := range keys {
		if s, ok := f.sets[k]; ok {
			c.RRsets[k] = s.Clone()
		}
	}
	return c, nil
}

func (f *fakeProvider) Apply(ctx context.Context, cs *providers.ChangeSet) error {
	f.mu.Lock()
	f.calls[cs.Generation]++
	hook := f.beforeApply
	f.mu.Unlock()
	if len(cs.Changes) == 0 {
		return nil
	}
	if hook != nil {
		if err := hook(ctx, cs); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return providers.Unavailable(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cs.ExpectFence != f.fence {
		f.conflicts++
		return providers.Conflict(fmt.Errorf("fake %s: fence is %d, change expects %d", f.name, f.fence, cs.ExpectFence))
	}
	next := maps.Clone(f.sets)
	for _, c := range cs.Changes {
		cur, ok := f.sets[c.Key]
		switch {
		case c.Old == nil && ok, c.Old != nil && (!ok || !cur.Equal(*c.Old)):
			f.conflicts++
			return providers.Conflict(fmt.Errorf("fake %s: %s is not what the change expects", f.name, c.Key))
		}
		if c.New == nil {
			delete(next, c.Key)
		} else {
			next[c.Key] = c.New.Clone()
		}
	}
	// A CNAME admits no other data at its name.
	byName := map[string][]uint16{}
	for k := range next {
		byName[k.Name] = append(byName[k.Name], k.Type)
	}
	for n, types := range byName {
		if len(types) > 1 {
			for _, typ := range types {
				if typ == dns.TypeCNAME {
					return providers.Invalid(fmt.Errorf("fake %s: CNAME at %s beside other data", f.name, n))
				}
			}
		}
	}
	for n := range f.watch {
		if len(byName[n]) == 0 {
			f.emptied = append(f.emptied, fmt.Sprintf("%s empty after generation %d", n, cs.Generation))
		}
	}
	for n := range byName {
		f.watch[n] = true
	}
	f.sets, f.fence = next, cs.Generation
	f.history = append(f.history, maps.Clone(next))
	f.applies = append(f.applies, cs)
	f.appliedAt = append(f.appliedAt, time.Now())
	return nil
}

// ServeDNS answers from the content (or the frozen copy), authoritatively.
func (f *fakeProvider) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) == 1 {
		q := r.Question[0]
		f.mu.Lock()
		src := f.sets
		if f.frozen != nil {
			src = f.frozen
		}
		s, ok := src[zone.Key{Name: strings.ToLower(q.Name), Type: q.Qtype}]
		f.mu.Unlock()
		if ok {
			rrs, _ := s.RRs()
			m.Answer = rrs
		}
	}
	_ = w.WriteMsg(m)
}

// seed sets content and fence directly, as a previous writer left them.
func (f *fakeProvider) seed(fence uint64, sets ...zone.RRset) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range sets {
		f.sets[s.Key()] = s
		f.watch[s.Name] = true
	}
	f.fence = fence
}

func (f *fakeProvider) freeze(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = nil
	if on {
		f.frozen = maps.Clone(f.sets)
	}
}

func (f *fakeProvider) setHook(h func(ctx context.Context, cs *providers.ChangeSet) error) {
	f.mu.Lock()
	f.beforeApply = h
	f.mu.Unlock()
}

func (f *fakeProvider) snapshot() (map[zone.Key]zone.RRset, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.sets), f.fence
}

func (f *fakeProvider) lookup(k zone.Key) (zone.RRset, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sets[k]
	return s, ok
}

func (f *fakeProvider) stats() (conflicts int, applies []*providers.ChangeSet, emptied []string, history []map[zone.Key]zone.RRset) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conflicts, append([]*providers.ChangeSet(nil), f.applies...), append([]string(nil), f.emptied...), append([]map[zone.Key]zone.RRset(nil), f.history...)
}

func (f *fakeProvider) callsFor(gen uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[gen]
}

// fakeCluster is a one-node "Raft": a real FSM with a real Deriver, whose
// proposals apply at once, and a leadership switch.
type fakeCluster struct {
	fsm *raft.FSM

	mu    sync.Mutex
	index uint64
	at    time.Time
	// log holds every committed command, in order.
	log []raft.Command

	leader       atomic.Bool
	verifyFails  atomic.Bool
	verifyCalls  atomic.Int64
	proposeCalls atomic.Int64
}

func newFakeCluster() *fakeCluster {
	c := &fakeCluster{fsm: raft.NewFSM(NewDeriver()), at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.leader.Store(true)
	return c
}

func (c *fakeCluster) IsLeader() bool { return c.leader.Load() }

func (c *fakeCluster) VerifyLeader(ctx context.Context) error {
	c.verifyCalls.Add(1)
	if !c.leader.Load() || c.verifyFails.Load() {
		return raft.ErrNotLeader
	}
	return ctx.Err()
}

func (c *fakeCluster) Subscribe() <-chan struct{}     { return c.fsm.Subscribe() }
func (c *fakeCluster) Unsubscribe(ch <-chan struct{}) { c.fsm.Unsubscribe(ch) }

func (c *fakeCluster) Propose(ctx context.Context, cmd *raft.Command) (uint64, error) {
	c.proposeCalls.Add(1)
	return c.apply(*cmd)
}

// apply commits a command as the leader would.
func (c *fakeCluster) apply(cmd raft.Command) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index++
	c.at = c.at.Add(time.Second)
	if cmd.At.IsZero() {
		cmd.At = c.at
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		return 0, err
	}
	if r := c.fsm.Apply(&hraft.Log{Index: c.index, Term: 1, Type: hraft.LogCommand, Data: data}); r != nil {
		if ae, ok := r.(*raft.ApplyError); ok && ae != nil {
			return 0, ae
		}
	}
	c.log = append(c.log, cmd)
	return c.index, nil
}

func (c *fakeCluster) Snapshot() (*State, map[string]raft.SyncStatus) {
	st, _ := c.fsm.View().Output.(*State)
	var syncs map[string]raft.SyncStatus
	c.fsm.Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) { syncs = maps.Clone(f.Sync) })
	return st, syncs
}

func (c *fakeCluster) sync(provider, origin string) raft.SyncStatus {
	_, syncs := c.Snapshot()
	return syncs[raft.SyncKey(provider, origin)]
}

func (c *fakeCluster) committed() []raft.Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]raft.Command(nil), c.log...)
}

func (c *fakeCluster) state() *State {
	st, _ := c.Snapshot()
	return st
}

// must commits cmd or fails the test.
func (c *fakeCluster) must(t *testing.T, cmd raft.Command) {
	t.Helper()
	if _, err := c.apply(cmd); err != nil {
		t.Fatalf("commit %s: %v", cmd.Type, err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", within, what)
		case <-poll.C:
		}
	}
}

// reconcilePolicy is the test policy: three providers of example.com.
// whose nameservers are the fakes' DNS servers; {TTL} and {Px} are filled
// in.
const reconcilePolicy = `
consensus: {quorum: majority}
zones:
  - name: example.com.
    providers: [embedded, p1, p2, p3]
    nameservers: [ns1.example.com.]
    static: ["ns1 3600 IN A 192.0.2.53"]
providers:
  p1: {type: rfc2136, server: 127.0.0.1:53, verify_nameservers: ["{P1}"], verify_timeout: {VT}}
  p2: {type: rfc2136, server: 127.0.0.1:53, verify_nameservers: ["{P2}"], verify_timeout: {VT}}
  p3: {type: rfc2136, server: 127.0.0.1:53, verify_nameservers: ["{P3}"], verify_timeout: {VT}}
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
  - {name: www.example.com., type: A, ttl: {TTL}, pools: [aws, gcp]}
  - {name: all.example.com., type: A, ttl: {TTL}, steering: all, pools: [aws, gcp]}
`

// harness is a reconciler over three fake providers and a fake cluster.
type harness struct {
	t       *testing.T
	cluster *fakeCluster
	fakes   map[string]*fakeProvider
	order   []string
	opts    ReconcilerOptions
	rec     *Reconciler
	cancel  context.CancelFunc
	done    chan error
	vt      string
}

func newHarness(t *testing.T, verifyTimeout string) *harness {
	t.Helper()
	fakes := map[string]*fakeProvider{}
	for _, n := range []string{"p1", "p2", "p3"} {
		fakes[n] = newFakeProvider(t, n, "example.com.")
	}
	return newHarnessWith(t, verifyTimeout, fakes)
}

func newHarnessWith(t *testing.T, verifyTimeout string, fakes map[string]*fakeProvider) *harness {
	h := &harness{t: t, cluster: newFakeCluster(), fakes: fakes, order: []string{"p1", "p2", "p3"}, vt: verifyTimeout}
	h.opts = ReconcilerOptions{
		Node:           "n1",
		Cluster:        h.cluster,
		Providers:      h.factory,
		Wait:           sleepCtx,
		Backoff:        func(int) time.Duration { return time.Millisecond },
		CallTimeout:    5 * time.Second,
		VerifyInterval: 5 * time.Millisecond,
		QueryTimeout:   time.Second,
		LeaderPoll:     5 * time.Millisecond,
	}
	return h
}

func (h *harness) factory(name string, _ *config.Provider) (providers.Provider, error) {
	f, ok := h.fakes[name]
	if !ok {
		return nil, errors.New("no such fake")
	}
	return f, nil
}

func (h *harness) policy(ttl int) *config.Policy {
	return mustPolicy(h.t, h.policyDoc(ttl))
}

func (h *harness) policyDoc(ttl int) string {
	return strings.NewReplacer("{TTL}", fmt.Sprint(ttl), "{VT}", h.vt,
		"{P1}", h.fakes["p1"].dnsAddr, "{P2}", h.fakes["p2"].dnsAddr, "{P3}", h.fakes["p3"].dnsAddr).Replace(reconcilePolicy)
}

// commitDoc commits a policy document.
func (h *harness) commitDoc(doc string) {
	h.t.Helper()
	h.cluster.must(h.t, raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: mustPolicy(h.t, doc).JSON()}})
}

// commitPolicy commits a policy with the given TTL for the records.
func (h *harness) commitPolicy(ttl int) {
	h.t.Helper()
	h.cluster.must(h.t, raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: h.policy(ttl).JSON()}})
}

// setDown commits observer n1's verdicts.
func (h *harness) verdicts(changes map[string]bool) {
	h.t.Helper()
	h.cluster.must(h.t, verdicts("n1", false, changes))
}

func (h *harness) start() {
	h.t.Helper()
	rec, err := NewReconciler(h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.rec = rec
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- rec.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Error("reconciler did not stop within 10s")
	}
}

func (h *harness) gen() uint64 { return h.cluster.state().Zone("example.com.").Generation }

// converged reports whether provider name holds generation gen's managed
// content with its fence at gen, and the committed sync says verified
// under the current policy version.
func (h *harness) converged(name string, gen uint64) bool {
	z := h.cluster.state().Zone("example.com.")
	if z.Generation != gen {
		return false
	}
	sets, fence := h.fakes[name].snapshot()
	if fence != gen {
		return false
	}
	for _, want := range z.ManagedRecords() {
		if got, ok := sets[want.Key()]; !ok || !got.Equal(want) {
			return false
		}
	}
	s := h.cluster.sync(name, "example.com.")
	return s.Verified == gen && s.Policy == h.cluster.state().Policy.Version
}

func (h *harness) waitConverged(within time.Duration, gen uint64, names ...string) {
	h.t.Helper()
	if len(names) == 0 {
		names = h.order
	}
	for _, n := range names {
		waitFor(h.t, within, fmt.Sprintf("%s to converge on generation %d", n, gen), func() bool { return h.converged(n, gen) })
	}
}

func key(name string) zone.Key { return zone.Key{Name: name, Type: dns.TypeA} }
