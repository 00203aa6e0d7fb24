package main

import (
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/providers/rfc2136/rfc2136test"
)

// Incident replays (issue 6): the outages switchboard is built against,
// replayed with the real binary as a 3-node cluster on 127.0.0.x, local
// HTTP backends labelled with clouds and regions, the embedded servers and
// a real BIND as providers.

// dnsProxy stands between the cluster and BIND, for DNS over UDP and TCP:
// it can hold back UPDATE messages (a delayed writer) and release them
// later, or stop answering anything (a provider outage).
type dnsProxy struct {
	t        *testing.T
	upstream string
	pc       net.PacketConn
	ln       net.Listener

	mu        sync.Mutex
	hold      bool // keep UPDATEs instead of forwarding them
	blackhole bool // drop everything
	held      [][]byte
	heldCh    chan struct{}
	released  []int // rcodes BIND gave to released messages
}

func newDNSProxy(t *testing.T, upstream string) *dnsProxy {
	pc, ln, err := providertest.ListenDNS()
	if err != nil {
		t.Fatal(err)
	}
	p := &dnsProxy{t: t, upstream: upstream, pc: pc, ln: ln, heldCh: make(chan struct{}, 16)}
	go p.serveUDP()
	go p.serveTCP()
	t.Cleanup(func() { pc.Close(); ln.Close() })
	return p
}

func (p *dnsProxy) addr() string { return p.pc.LocalAddr().String() }

// pass decides what to do with a message: forward it, or not (held or
// dropped).
func (p *dnsProxy) pass(msg []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blackhole {
		return false
	}
	var m dns.Msg
	if p.hold && m.Unpack(msg) == nil && m.Opcode == dns.OpcodeUpdate {
		p.held = append(p.held, slices.Clone(msg))
		select {
		case p.heldCh <- struct{}{}:
		default:
		}
		return false
	}
	return true
}

func (p *dnsProxy) exchange(msg []byte) ([]byte, error) {
	c, err := net.DialTimeout("udp", p.upstream, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func (p *dnsProxy) serveUDP() {
	buf := make([]byte, 65535)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		msg := slices.Clone(buf[:n])
		if !p.pass(msg) {
			continue
		}
		go func() {
			if resp, err := p.exchange(msg); err == nil {
				_, _ = p.pc.WriteTo(resp, from)
			}
		}()
	}
}

func (p *dnsProxy) serveTCP() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				msg := make([]byte, bin.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				if !p.pass(msg) {
					continue
				}
				up, err := net.DialTimeout("tcp", p.upstream, time.Second)
				if err != nil {
					return
				}
				_ = up.SetDeadline(time.Now().Add(30 * time.Second))
				_, _ = up.Write(append(l[:], msg...))
				// A transfer is several messages: relay until BIND closes.
				_, _ = io.Copy(c, up)
				up.Close()
				return
			}
		}()
	}
}

// release forwards the held UPDATEs to BIND, in order, and returns the
// rcodes it answered.
func (p *dnsProxy) release() []int {
	p.mu.Lock()
	held := p.held
	p.held = nil
	p.hold = false
	p.mu.Unlock()
	var rcodes []int
	for _, msg := range held {
		resp, err := p.exchange(msg)
		if err != nil {
			p.t.Fatalf("release a held UPDATE: %v", err)
		}
		var m dns.Msg
		if err := m.Unpack(resp); err != nil {
			p.t.Fatalf("release: BIND's answer: %v", err)
		}
		rcodes = append(rcodes, m.Rcode)
	}
	return rcodes
}

func (p *dnsProxy) set(hold, blackhole bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold, p.blackhole = hold, blackhole
}

// bindSection publishes the cluster's zone to BIND through a proxy.
const bindSection = `providers:
  bind:
    type: rfc2136
    server: "%[1]s"
    tsig_key: "%[2]s"
    tsig_secret_env: SB_REPLAY_TSIG_SECRET
    timeout: 1s
    verify_nameservers: ["%[1]s"]
    verify_timeout: %[3]s
`

// bindCluster starts BIND behind a proxy and a 3-node cluster publishing
// c.example. to [embedded, bind]; edit rewrites the policy further.
func bindCluster(t *testing.T, verifyTimeout string, edit func(string) string) (*tcluster, *rfc2136test.Server, *dnsProxy) {
	t.Helper()
	bind := rfc2136test.StartBIND(t, rfc2136test.Options{Zones: []rfc2136test.Zone{{Name: "c.example."}}, Algorithms: []string{"hmac-sha256"}})
	key := bind.Key(t, "hmac-sha256")
	t.Setenv("SB_REPLAY_TSIG_SECRET", key.Secret)
	proxy := newDNSProxy(t, bind.Addr())
	c := newCluster(t, clusterOpts{voters: 3, interval: "500ms", policyEdit: func(p string) string {
		p = strings.Replace(p, "    providers: [embedded]\n", "    providers: [embedded, bind]\n", 1)
		p += fmt.Sprintf(bindSection, proxy.addr(), key.Name, verifyTimeout)
		if edit != nil {
			p = edit(p)
		}
		return p
	}})
	return c, bind, proxy
}

// bindAnswer asks BIND itself (not through the proxy) for www.
func bindAnswer(t *testing.T, bind *rfc2136test.Server) ([]string, uint32) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(www, dns.TypeA)
	r := bind.Exchange(t, m)
	var out []string
	var ttl uint32
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
			ttl = a.Hdr.Ttl
		}
	}
	slices.Sort(out)
	return out, ttl
}

// bindFence reads the fencing generation BIND holds.
func bindFence(t *testing.T, bind *rfc2136test.Server) uint64 {
	t.Helper()
	for _, s := range bind.Dump(t) {
		if s.Key() == providers.FenceKey("c.example.") {
			g, err := providers.ParseFence(s)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
	}
	return 0
}

func waitBind(t *testing.T, bind *rfc2136test.Server, want []string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, _ := bindAnswer(t, bind)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("BIND answers %v after %s, want %v", got, limit, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// neverEmpty polls BIND every 20 ms until stop is closed and reports the
// first empty answer.
func neverEmpty(t *testing.T, bind *rfc2136test.Server, stop <-chan struct{}) <-chan string {
	bad := make(chan string, 1)
	go func() {
		defer close(bad)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			m := new(dns.Msg)
			m.SetQuestion(www, dns.TypeA)
			r, err := dns.Exchange(m, bind.Addr())
			if err == nil && (r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0) {
				bad <- fmt.Sprintf("BIND answered www with rcode %s and %d records", dns.RcodeToString[r.Rcode], len(r.Answer))
				return
			}
		}
	}()
	return bad
}

// TestReplayStalePlan replays AWS us-east-1, October 2025: a delayed
// worker applied an old plan over a newer one. Here the leader's UPDATE
// to BIND is held in the network, the leader freezes, a new leader
// publishes two newer generations, and then the old UPDATE arrives: BIND
// refuses it by the fencing record's prerequisite, and the name is never
// empty.
func TestReplayStalePlan(t *testing.T) {
	c, bind, proxy := bindCluster(t, "10s", nil)
	waitBind(t, bind, allUp, 15*time.Second)
	stop := make(chan struct{})
	bad := neverEmpty(t, bind, stop)

	old := c.leader(c.all(), 10*time.Second)
	proxy.set(true, false)
	c.backend[0].stop() // a new generation; the leader's write is held
	select {
	case <-proxy.heldCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader sent no UPDATE within 10s")
	}
	// The old leader freezes with its write in flight (a stalled
	// worker): SIGSTOP, then the others elect a new leader.
	if err := old.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	rest := c.except(old)
	nl := c.leader(rest, 15*time.Second)
	t.Logf("old leader %s frozen with its UPDATE held; new leader %s", old.id, nl.id)
	// New writes pass; the old one stays held.
	proxy.mu.Lock()
	proxy.hold = false
	proxy.mu.Unlock()
	waitBind(t, bind, withoutA, 15*time.Second)
	c.backend[1].stop() // and a newer generation still
	waitBind(t, bind, []string{"127.0.3.1"}, 15*time.Second)
	fence := bindFence(t, bind)

	// Now the delayed UPDATE arrives.
	rcodes := proxy.release()
	if len(rcodes) == 0 {
		t.Fatal("no UPDATE was held")
	}
	for _, rc := range rcodes {
		if rc != dns.RcodeNXRrset && rc != dns.RcodeYXRrset {
			t.Errorf("BIND answered the delayed UPDATE with %s, want a failed prerequisite (NXRRSET or YXRRSET)", dns.RcodeToString[rc])
		}
	}
	if got, _ := bindAnswer(t, bind); !slices.Equal(got, []string{"127.0.3.1"}) {
		t.Errorf("after the delayed UPDATE BIND answers %v, want the newer %v", got, []string{"127.0.3.1"})
	}
	if f := bindFence(t, bind); f != fence {
		t.Errorf("after the delayed UPDATE the fence is %d, want %d", f, fence)
	}
	t.Logf("%d delayed UPDATE(s) from the old leader refused by BIND with %v; fence stays at generation %d", len(rcodes), rcodes, fence)

	// The old leader wakes up, steps down and converges; it writes
	// nothing stale either.
	if err := old.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	c.waitAll(c.all(), []string{"127.0.3.1"}, 15*time.Second)
	c.sameSerial(c.all(), 10*time.Second)
	if got, _ := bindAnswer(t, bind); !slices.Equal(got, []string{"127.0.3.1"}) {
		t.Errorf("after the old leader woke BIND answers %v, want %v", got, []string{"127.0.3.1"})
	}
	close(stop)
	if b := <-bad; b != "" {
		t.Fatal(b)
	}
}

// metric returns the value of one sample line of a node's /metrics, or
// false.
func metric(t *testing.T, n *tnode, prefix string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + n.api + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			if _, err := fmt.Sscan(strings.TrimSpace(line[len(prefix):]), &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// TestReplayProviderOutage: BIND's nameservers stop answering and its
// update path fails; the embedded servers on every node keep serving and
// converge, BIND's lag shows in metrics, and it converges after the heal.
func TestReplayProviderOutage(t *testing.T) {
	c, bind, proxy := bindCluster(t, "2s", nil)
	waitBind(t, bind, allUp, 15*time.Second)
	leader := c.leader(c.all(), 10*time.Second)
	proxy.set(false, true)
	start := time.Now()
	c.backend[0].stop()
	took := c.waitAll(c.all(), withoutA, 10*time.Second)
	t.Logf("with BIND unreachable, every embedded server answers without a after %s", took)
	deadline := time.Now().Add(15 * time.Second)
	for {
		lag, ok := metric(t, leader, `switchboard_provider_lag_seconds{provider="bind",zone="c.example."}`)
		if ok && lag > 0 {
			t.Logf("BIND's lag on the leader: %.3fs after %s", lag, time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lag for bind in the leader's metrics after 15s")
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if got, _ := bindAnswer(t, bind); !slices.Equal(got, allUp) {
		t.Errorf("BIND changed while unreachable: %v", got)
	}
	// And in status: BIND's verified generation trails the zone's.
	st, err := c.status(leader)
	if err != nil {
		t.Fatal(err)
	}
	lagging := false
	for _, s := range st.Sync {
		for _, z := range st.Zones {
			if s.Provider == "bind" && s.Zone == z.Origin && s.Verified < z.Generation {
				lagging = true
				t.Logf("status: bind verified generation %d of %d (error %q)", s.Verified, z.Generation, s.Error)
			}
		}
	}
	if !lagging {
		t.Errorf("status does not show bind lagging: %+v (zones %+v)", st.Sync, st.Zones)
	}
	proxy.set(false, false)
	waitBind(t, bind, withoutA, 30*time.Second)
	t.Logf("BIND converged %s after the outage began", time.Since(start).Round(time.Millisecond))
}

// TestReplayBadPush replays the CrowdStrike update of July 2024 as a
// policy push: a new policy version whose first provider (BIND) cannot be
// verified halts the rollout there and rolls every provider back.
func TestReplayBadPush(t *testing.T) {
	c, bind, _ := bindCluster(t, "2s", nil)
	waitBind(t, bind, allUp, 15*time.Second)
	if _, ttl := bindAnswer(t, bind); ttl != 5 {
		t.Fatalf("BIND's TTL before the push: %d, want 5", ttl)
	}
	// The bad version: a new TTL, and BIND verified at a dead address.
	dead := net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t, "127.0.0.1")))
	doc := strings.Replace(string(mustRead(t, c.nodes[0].cfgPath)), "ttl: 5,", "ttl: 42,", 1)
	doc = strings.Replace(doc, `verify_nameservers: ["`, `verify_nameservers: ["`+dead+`", "`, 1)
	doc = doc[strings.Index(doc, "\nconsensus:")+1:] // the policy part only
	file := writeTemp(t, "bad.yaml", doc)
	out, err := exec.Command(binary, "apply", "-f", file, "--api", c.nodes[1].api).CombinedOutput()
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// BIND got the new TTL or not, but must end on the previous one, and
	// the cluster on a rollback version.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, ttl := bindAnswer(t, bind)
		var doc api.PolicyDoc
		resp, err := http.Get("http://" + c.nodes[0].api + "/v1/policy")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
		}
		if ttl == 5 && doc.Version >= 3 {
			t.Logf("rolled back: policy version %d, BIND's TTL back to 5", doc.Version)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: BIND's TTL %d, policy version %d; want TTL 5 and a rollback version (3)", ttl, doc.Version)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	c.waitAll(c.all(), allUp, 10*time.Second)
	for _, n := range c.nodes {
		_, r, err := query(n.dns, www, dns.TypeA)
		if err != nil || len(r.Answer) == 0 || r.Answer[0].Header().Ttl != 5 {
			t.Errorf("%s after the rollback: %v %v, want TTL 5", n.id, r, err)
		}
	}
}

// TestReplayCapacityRemoval replays AWS Seoul, November 2018, where a
// configuration push withdrew most of the capacity: such a policy is
// refused by plan and apply unless forced, and a health-driven removal
// beyond the panic threshold is held (the record keeps serving all).
func TestReplayCapacityRemoval(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "500ms", policyEdit: func(p string) string {
		return strings.Replace(p, ", panic_threshold: 0.9}", "}", 1) // the default, 50%
	}})
	doc := string(mustRead(t, c.nodes[0].cfgPath))
	doc = doc[strings.Index(doc, "\nconsensus:")+1:]
	file := writeTemp(t, "drop.yaml", strings.Replace(doc, "pools: [pa, pb, pc]}", "pools: [pa]}", 1))
	out, err := exec.Command(binary, "plan", "-f", file, "--api", c.nodes[2].api).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "1 of 3 healthy endpoints left") {
		t.Errorf("plan of a capacity drop: %v, want exit 1 naming the record:\n%s", err, out)
	}
	out, err = exec.Command(binary, "apply", "-f", file, "--api", c.nodes[2].api).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "409") {
		t.Errorf("apply of a capacity drop: %v, want exit 1 and HTTP 409:\n%s", err, out)
	}
	// Health: two of three endpoints fail at once (66% > 50%): held.
	c.backend[0].stop()
	c.backend[1].stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.status(c.nodes[0])
		held := false
		if err == nil {
			for _, r := range st.Records {
				held = held || r.Panic
			}
		}
		if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no panic hold 10s after two of three endpoints failed: %+v", st)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	for _, n := range c.nodes {
		got, _, err := query(n.dns, www, dns.TypeA)
		if err != nil || !slices.Equal(got, allUp) {
			t.Errorf("%s under the panic hold answers %v (%v), want every endpoint %v", n.id, got, err, allUp)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
