package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/api"
)

// faultNet is the network between the nodes of a test cluster: every node
// advertises the address of its own proxy, and every node-to-node
// connection (Raft and forwarding) goes through the proxy of the node it
// dials. Nodes dial from their own loopback address (node.source_ip), so a
// proxy knows who is calling and can refuse, delay or drop by pair.
type faultNet struct {
	t  *testing.T
	mu sync.Mutex
	// blocked[src][dst]: connections from src to dst are refused and
	// existing ones cut.
	blocked map[string]map[string]bool
	delay   map[string]time.Duration // added to every chunk towards dst
	drop    map[string]float64       // probability of cutting a chunk's connection towards dst
	conns   map[*proxyConn]bool
	proxies []*proxy
}

type proxyConn struct {
	src, dst string
	a, b     net.Conn
}

func (c *proxyConn) close() { c.a.Close(); c.b.Close() }

type proxy struct {
	ip     string // the node's address; the proxy listens on it too
	ln     net.Listener
	target string
}

func newFaultNet(t *testing.T) *faultNet {
	f := &faultNet{t: t, blocked: map[string]map[string]bool{}, delay: map[string]time.Duration{}, drop: map[string]float64{}, conns: map[*proxyConn]bool{}}
	t.Cleanup(f.close)
	return f
}

// listen starts the proxy of the node at ip, forwarding to its Raft
// listener target, and returns the address the node advertises.
func (f *faultNet) listen(ip, target string) string {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		f.t.Fatal(err)
	}
	p := &proxy{ip: ip, ln: ln, target: target}
	f.mu.Lock()
	f.proxies = append(f.proxies, p)
	f.mu.Unlock()
	go f.serve(p)
	return ln.Addr().String()
}

func (f *faultNet) serve(p *proxy) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		src, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		f.mu.Lock()
		refused := f.blocked[src][p.ip]
		f.mu.Unlock()
		if refused {
			c.Close()
			continue
		}
		go f.pipe(c, src, p)
	}
}

func (f *faultNet) pipe(in net.Conn, src string, p *proxy) {
	out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		in.Close()
		return
	}
	pc := &proxyConn{src: src, dst: p.ip, a: in, b: out}
	f.mu.Lock()
	if f.blocked[src][p.ip] {
		f.mu.Unlock()
		pc.close()
		return
	}
	f.conns[pc] = true
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { f.copy(out, in, p.ip, pc); done <- struct{}{} }() // towards the node
	go func() { f.copy(in, out, src, pc); done <- struct{}{} }()  // back to the caller
	<-done
	pc.close()
	<-done
	f.mu.Lock()
	delete(f.conns, pc)
	f.mu.Unlock()
}

// copy moves bytes towards dst, applying its delay and drop rate.
func (f *faultNet) copy(w io.Writer, r io.Reader, dst string, pc *proxyConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			f.mu.Lock()
			d, drop, cut := f.delay[dst], f.drop[dst], f.blocked[pc.src][pc.dst]
			f.mu.Unlock()
			if cut || (drop > 0 && rand.Float64() < drop) {
				return
			}
			if d > 0 {
				time.Sleep(d) // simulated link latency, not synchronisation
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// partition cuts ip off from every other node, both ways.
func (f *faultNet) partition(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.proxies {
		if p.ip == ip {
			continue
		}
		f.block(ip, p.ip)
		f.block(p.ip, ip)
	}
	for pc := range f.conns {
		if pc.src == ip || pc.dst == ip {
			pc.close()
		}
	}
}

func (f *faultNet) block(src, dst string) {
	if f.blocked[src] == nil {
		f.blocked[src] = map[string]bool{}
	}
	f.blocked[src][dst] = true
}

// heal removes every partition, delay and drop rate.
func (f *faultNet) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.blocked)
	clear(f.delay)
	clear(f.drop)
}

// slow adds latency to everything sent towards ip.
func (f *faultNet) slow(ip string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay[ip] = d
}

// lossy cuts connections towards ip with probability p per chunk.
func (f *faultNet) lossy(ip string, p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop[ip] = p
}

func (f *faultNet) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.proxies {
		p.ln.Close()
	}
	for pc := range f.conns {
		pc.close()
	}
}

// fenceBackend is an HTTP backend that can refuse the probes of chosen
// observers (by their source address), as a broken network path between
// one observer and the endpoints would.
type fenceBackend struct {
	*backend
	mu      sync.Mutex
	refused map[string]bool
	conns   map[net.Conn]string
}

func newFenceBackend(t *testing.T, ip string) *fenceBackend {
	fb := &fenceBackend{backend: &backend{t: t, addr: net.JoinHostPort(ip, fmt.Sprint(freePort(t, ip)))}, refused: map[string]bool{}, conns: map[net.Conn]string{}}
	fb.start()
	t.Cleanup(fb.stop)
	return fb
}

func (fb *fenceBackend) start() {
	b := fb.backend
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port may linger after a stop
	}
	if err != nil {
		b.t.Fatalf("backend %s: %v", b.addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	b.srv = &http.Server{Handler: mux, ConnState: func(c net.Conn, s http.ConnState) {
		src, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fb.mu.Lock()
		defer fb.mu.Unlock()
		switch s {
		case http.StateNew:
			if fb.refused[src] {
				c.Close()
				return
			}
			fb.conns[c] = src
		case http.StateClosed, http.StateHijacked:
			delete(fb.conns, c)
		}
	}}
	go b.srv.Serve(&filterListener{Listener: ln, fb: fb})
}

// filterListener closes connections from refused sources at once.
type filterListener struct {
	net.Listener
	fb *fenceBackend
}

func (l *filterListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.fb.mu.Lock()
		refused := l.fb.refused[src]
		l.fb.mu.Unlock()
		if !refused {
			return c, nil
		}
		c.Close()
	}
}

// refuse cuts the observer at src off from this backend.
func (fb *fenceBackend) refuse(src string) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.refused[src] = true
	for c, s := range fb.conns {
		if s == src {
			c.Close()
		}
	}
}

// tnode is one switchboard process of a test cluster.
type tnode struct {
	id, ip   string
	dir      string
	cfgPath  string
	dns, api string
	raft     string // the advertised address (its proxy)
	proc     *proc
}

// tcluster is a cluster of switchboard processes on 127.0.0.1, .2, .3...
type tcluster struct {
	t       *testing.T
	net     *faultNet
	nodes   []*tnode
	backend []*fenceBackend
	opts    clusterOpts
}

type clusterOpts struct {
	voters, observers int
	interval          string // check interval
	observerTimeout   string
	timing            string // YAML of cluster.timing
	// manual: the nodes are configured but not started, and newCluster
	// does not wait for answers.
	manual bool
	// lone: the last node knows no peers and waits for `cluster join`.
	lone bool
	// policyEdit, when set, rewrites the policy every node is given.
	policyEdit func(string) string
}

const clusterPolicy = `
consensus: {quorum: majority, observer_timeout: %[1]s}
zones:
  - name: c.example.
    providers: [embedded]
    nameservers: [ns1.c.example.]
    static: ["ns1 60 IN A 127.0.0.1"]
checks:
  web: {type: http, path: /healthz, interval: %[2]s, timeout: 300ms, rise: 2, fall: 2}
endpoints:
  - {name: a, address: 127.0.1.1, port: %[3]s, cloud: aws, region: us-east-1, check: web}
  - {name: b, address: 127.0.2.1, port: %[4]s, cloud: gcp, region: europe-west1, check: web}
  - {name: c, address: 127.0.3.1, port: %[5]s, cloud: azure, region: westeurope, check: web}
pools:
  pa: {endpoints: [a]}
  pb: {endpoints: [b]}
  pc: {endpoints: [c]}
records:
  - {name: www.c.example., type: A, ttl: 5, steering: all, pools: [pa, pb, pc], panic_threshold: 0.9}
`

// newCluster writes the configs of voters + observers nodes and starts
// them all; it returns once every node serves the full answer.
func newCluster(t *testing.T, o clusterOpts) *tcluster {
	if o.interval == "" {
		o.interval = "1s"
	}
	if o.observerTimeout == "" {
		o.observerTimeout = "3s"
	}
	if o.timing == "" {
		o.timing = "{profile: lan}"
	}
	c := &tcluster{t: t, net: newFaultNet(t), opts: o}
	for _, ip := range []string{"127.0.1.1", "127.0.2.1", "127.0.3.1"} {
		c.backend = append(c.backend, newFenceBackend(t, ip))
	}
	base := t.TempDir()
	for i := range o.voters + o.observers {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		n := &tnode{id: fmt.Sprintf("n%d", i+1), ip: ip, dir: filepath.Join(base, fmt.Sprintf("n%d", i+1))}
		raftPort := freePort(t, ip)
		n.raft = c.net.listen(ip, net.JoinHostPort(ip, fmt.Sprint(raftPort)))
		n.dns = net.JoinHostPort(ip, fmt.Sprint(freePort(t, ip)))
		n.api = net.JoinHostPort(ip, fmt.Sprint(freePort(t, ip)))
		if err := os.MkdirAll(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		n.cfgPath = filepath.Join(n.dir, "switchboard.yaml")
		n.writeBase(raftPort)
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		c.writeConfig(n)
	}
	if o.manual {
		return c
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	c.waitAll(c.all(), []string{"127.0.1.1", "127.0.2.1", "127.0.3.1"}, 30*time.Second)
	return c
}

// writeBase remembers the node's Raft listener port in its directory.
func (n *tnode) writeBase(raftPort int) {
	_ = os.WriteFile(filepath.Join(n.dir, "raft-port"), []byte(fmt.Sprint(raftPort)), 0o600)
}

func (c *tcluster) writeConfig(n *tnode) {
	portB, _ := os.ReadFile(filepath.Join(n.dir, "raft-port"))
	var b strings.Builder
	idx := slices.Index(c.nodes, n)
	observer := idx >= c.opts.voters
	fmt.Fprintf(&b, "node:\n  id: %s\n  data_dir: %s\n  dns_listen: %s\n  api_listen: %s\n  raft_listen: %s:%s\n  raft_advertise: %s\n  source_ip: %s\n  cloud: cloud%d\n  region: region%d\n",
		n.id, filepath.Join(n.dir, "data"), n.dns, n.api, n.ip, portB, n.raft, n.ip, idx+1, idx+1)
	fmt.Fprintf(&b, "cluster:\n  tls: {insecure: true}\n  timing: %s\n  observer: %v\n", c.opts.timing, observer)
	if !(c.opts.lone && idx == len(c.nodes)-1) {
		b.WriteString("  peers:\n")
		for _, p := range c.nodes[:c.opts.voters] {
			fmt.Fprintf(&b, "    - {id: %s, raft: %q, api: %q}\n", p.id, p.raft, p.api)
		}
	}
	pol := fmt.Sprintf(clusterPolicy, c.opts.observerTimeout, c.opts.interval, c.backend[0].port(), c.backend[1].port(), c.backend[2].port())
	if c.opts.policyEdit != nil {
		pol = c.opts.policyEdit(pol)
	}
	b.WriteString(pol)
	if err := os.WriteFile(n.cfgPath, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func (c *tcluster) start(n *tnode) {
	n.proc = startProc(c.t, "serve", "--config", n.cfgPath, "--log-format", "json")
}

// kill ends a node at once (SIGKILL), as a crash or a power loss would.
func (c *tcluster) kill(n *tnode) {
	_ = n.proc.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.proc.cmd.Wait()
}

func (c *tcluster) all() []*tnode { return c.nodes }

func (c *tcluster) except(skip ...*tnode) []*tnode {
	var out []*tnode
	for _, n := range c.nodes {
		if !slices.Contains(skip, n) {
			out = append(out, n)
		}
	}
	return out
}

const www = "www.c.example."

// waitAll waits until every node in ns answers want; it returns the time
// the last one took.
func (c *tcluster) waitAll(ns []*tnode, want []string, limit time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	pending := slices.Clone(ns)
	last := map[string][]string{}
	for len(pending) > 0 {
		pending = slices.DeleteFunc(pending, func(n *tnode) bool {
			got, _, err := query(n.dns, www, dns.TypeA)
			last[n.id] = got
			return err == nil && slices.Equal(got, want)
		})
		if len(pending) == 0 {
			break
		}
		if time.Since(start) > limit {
			c.t.Fatalf("after %s: answers %v, want %v on every node of %v", limit, last, want, ids(ns))
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	return time.Since(start)
}

func ids(ns []*tnode) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.id)
	}
	return out
}

// status fetches a node's status from its API.
func (c *tcluster) status(n *tnode) (*api.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.api+"/v1/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st api.NodeStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// leader returns the node every reachable node in ns names as leader.
func (c *tcluster) leader(ns []*tnode, limit time.Duration) *tnode {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, n := range ns {
			st, err := c.status(n)
			if err == nil && st.Role == "leader" {
				return n
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader among %v after %s", ids(ns), limit)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// serialOf returns the SOA serial a node serves.
func serialOf(addr string) (uint32, error) {
	_, r, err := query(addr, "c.example.", dns.TypeSOA)
	if err != nil {
		return 0, err
	}
	if len(r.Answer) != 1 {
		return 0, fmt.Errorf("SOA: %d answers", len(r.Answer))
	}
	return r.Answer[0].(*dns.SOA).Serial, nil
}
