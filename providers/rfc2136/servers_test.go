package rfc2136

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

const testZone = "example.test."

// testKey is a TSIG key both servers know.
type testKey struct {
	name   string // FQDN
	alg    string // config name: hmac-sha256 ...
	secret string // base64
}

func newKey(t testing.TB, name, alg string, size int) testKey {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return testKey{name: name, alg: alg, secret: base64.StdEncoding.EncodeToString(b)}
}

// server is a real DNS server started by a test.
type server struct {
	kind string // "bind" or "knot"
	addr string // 127.0.0.1:port
	keys map[string]testKey
	dir  string

	exited chan struct{} // closed when the process has exited
	out    *lockedBuffer // its stdout and stderr
}

// serverBinary finds a server binary. It is a failure in CI (make test installs
// the packages) and a skip on a machine without them.
func serverBinary(t testing.TB, name string) string {
	t.Helper()
	path := os.Getenv("PATH") + string(os.PathListSeparator) + "/usr/sbin"
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found in PATH or /usr/sbin, and CI is set: make test installs it", name)
	}
	t.Skipf("%s not installed (set CI=true to make this a failure)", name)
	return ""
}

// freePort returns a port that was free for UDP and TCP on 127.0.0.1.
func freePort(t testing.TB) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+port)
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port for UDP and TCP")
	return ""
}

func testKeys(t testing.TB) map[string]testKey {
	return map[string]testKey{
		"hmac-sha256": newKey(t, "sb-256.", "hmac-sha256", 32),
		"hmac-sha512": newKey(t, "sb-512.", "hmac-sha512", 64),
		"hmac-sha1":   newKey(t, "sb-1.", "hmac-sha1", 20),
	}
}

const zoneFile = `$ORIGIN example.test.
@ 3600 IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 60
@ 3600 IN NS ns1.example.net.
@ 3600 IN NS ns2.example.net.
`

// startBIND runs named in the foreground on a free loopback port; every
// key may update and transfer the zone.
func startBIND(t testing.TB) *server { return startBINDWith(t, "") }

// startBINDWith is startBIND with update clause instead of allow-update
// (e.g. an update-policy), when it is not empty.
func startBINDWith(t testing.TB, update string) *server {
	t.Helper()
	bin := serverBinary(t, "named")
	s := &server{kind: "bind", keys: testKeys(t), dir: t.TempDir()}
	port := freePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, `options {
	directory %q;
	listen-on port %s { 127.0.0.1; };
	listen-on-v6 { none; };
	pid-file %q;
	session-keyfile %q;
	managed-keys-directory %q;
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
`, s.dir, port, filepath.Join(s.dir, "named.pid"), filepath.Join(s.dir, "session.key"), s.dir)
	var names []string
	for _, k := range s.keys {
		fmt.Fprintf(&conf, "key %q { algorithm %s; secret %q; };\n", k.name, k.alg, k.secret)
		names = append(names, fmt.Sprintf("key %q;", k.name))
	}
	allow := strings.Join(names, " ")
	if update == "" {
		update = fmt.Sprintf("allow-update { %s };", allow)
	}
	fmt.Fprintf(&conf, "zone %q { type primary; file %q; %s allow-transfer { %s }; };\n",
		testZone, "example.test.zone", update, allow)
	s.write(t, "example.test.zone", zoneFile)
	s.write(t, "named.conf", conf.String())
	s.start(t, bin, "-g", "-4", "-n", "1", "-c", filepath.Join(s.dir, "named.conf"))
	s.addr = net.JoinHostPort("127.0.0.1", port)
	s.waitReady(t)
	return s
}

// startKnot runs knotd on a free loopback port with its rundir and
// storage in a temporary directory; every key may update and transfer the
// zone.
func startKnot(t testing.TB) *server { return startKnotWith(t, "") }

// startKnotWith is startKnot with more lines (indented 4 spaces) in the
// ACL, e.g. update-owner limits.
func startKnotWith(t testing.TB, aclExtra string) *server {
	t.Helper()
	bin := serverBinary(t, "knotd")
	s := &server{kind: "knot", keys: testKeys(t), dir: t.TempDir()}
	port := freePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n  rundir: %q\n  listen: 127.0.0.1@%s\n", s.dir, port)
	fmt.Fprintf(&conf, "database:\n  storage: %q\n", s.dir)
	fmt.Fprintf(&conf, "log:\n  - target: stderr\n    any: warning\n")
	fmt.Fprintf(&conf, "key:\n")
	var ids []string
	for _, k := range s.keys {
		fmt.Fprintf(&conf, "  - id: %s\n    algorithm: %s\n    secret: %s\n", k.name, k.alg, k.secret)
		ids = append(ids, k.name)
	}
	fmt.Fprintf(&conf, "acl:\n  - id: switchboard\n    key: [%s]\n    action: [update, transfer]\n%s", strings.Join(ids, ", "), aclExtra)
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %q\n    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: changes\n", s.dir)
	fmt.Fprintf(&conf, "zone:\n  - domain: %s\n    file: %q\n    acl: switchboard\n", testZone, "example.test.zone")
	s.write(t, "example.test.zone", zoneFile)
	s.write(t, "knot.conf", conf.String())
	s.start(t, bin, "-c", filepath.Join(s.dir, "knot.conf"))
	s.addr = net.JoinHostPort("127.0.0.1", port)
	s.waitReady(t)
	return s
}

func (s *server) write(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the server and stops it, by its pid, when the test ends.
func (s *server) start(t testing.TB, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", s.kind, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	s.exited = exited
	s.out = &out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitReady waits until the server answers the zone's SOA.
func (s *server) waitReady(t testing.TB) {
	t.Helper()
	waitFor(t, 20*time.Second, s.kind+" to serve "+testZone, func() bool {
		select {
		case <-s.exited:
			t.Fatalf("%s exited:\n%s", s.kind, s.out.String())
		default:
		}
		c := &dns.Client{Timeout: 200 * time.Millisecond}
		m := new(dns.Msg)
		m.SetQuestion(testZone, dns.TypeSOA)
		r, _, err := c.Exchange(m, s.addr)
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// key returns the server's key for alg.
func (s *server) key(alg string) testKey { return s.keys[alg] }

// exchange sends m to the server directly (not through the provider or
// the proxy), signed with the sha256 key, over TCP.
func (s *server) exchange(t testing.TB, m *dns.Msg) *dns.Msg {
	t.Helper()
	k := s.key("hmac-sha256")
	m.SetTsig(k.name, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second, TsigSecret: map[string]string{k.name: k.secret}}
	r, _, err := c.Exchange(m, s.addr)
	if err != nil {
		t.Fatalf("%s: exchange: %v", s.kind, err)
	}
	return r
}

// update sends one plain UPDATE to the server and wants success.
func (s *server) update(t testing.TB, build func(m *dns.Msg)) {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate(testZone)
	build(m)
	if r := s.exchange(t, m); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("%s: update: got %s, want NOERROR", s.kind, dns.RcodeToString[r.Rcode])
	}
}

// dump transfers the whole zone, signed, directly from the server.
func (s *server) dump(t testing.TB) []zone.RRset {
	t.Helper()
	k := s.key("hmac-sha256")
	tr := &dns.Transfer{TsigSecret: map[string]string{k.name: k.secret}}
	m := new(dns.Msg)
	m.SetAxfr(testZone)
	m.SetTsig(k.name, dns.HmacSHA256, 300, time.Now().Unix())
	env, err := tr.In(m, s.addr)
	if err != nil {
		t.Fatalf("%s: axfr: %v", s.kind, err)
	}
	var rrs []dns.RR
	var failed error
	for e := range env {
		if e.Error != nil && failed == nil {
			failed = e.Error
		}
		rrs = append(rrs, e.RR...)
	}
	if failed != nil {
		t.Fatalf("%s: axfr: %v", s.kind, failed)
	}
	return zone.FromRRs(rrs)
}

// proxy is a loopback UDP and TCP relay in front of a server that counts
// what goes through it: the provider talks to the proxy, so the count is
// what the provider sent, by transport and opcode.
type proxy struct {
	addr    string
	target  string
	updates atomic.Int64 // UPDATE messages, either transport
	udp     atomic.Int64 // messages over UDP
	tcp     atomic.Int64 // messages over TCP
	udpUpd  atomic.Int64 // UPDATE messages over UDP
	tcpUpd  atomic.Int64 // UPDATE messages over TCP
	tcQuery atomic.Int64 // truncated UDP answers relayed
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{target: target}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		port := freePort(t)
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:"+port); err != nil {
			continue
		}
		if ln, err = net.Listen("tcp", "127.0.0.1:"+port); err != nil {
			pc.Close()
			continue
		}
		p.addr = "127.0.0.1:" + port
		break
	}
	if p.addr == "" {
		t.Fatal("proxy: no free port")
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	wg.Add(2)
	go func() { defer wg.Done(); p.serveUDP(pc, &wg) }()
	go func() { defer wg.Done(); p.serveTCP(ln, &wg) }()
	return p
}

func (p *proxy) count(msg []byte, network string) {
	if len(msg) < 4 {
		return
	}
	opcode := int(msg[2]>>3) & 0xf
	if network == "udp" {
		p.udp.Add(1)
	} else {
		p.tcp.Add(1)
	}
	if opcode == dns.OpcodeUpdate {
		p.updates.Add(1)
		if network == "udp" {
			p.udpUpd.Add(1)
		} else {
			p.tcpUpd.Add(1)
		}
	}
}

func (p *proxy) serveUDP(pc net.PacketConn, wg *sync.WaitGroup) {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		msg := append([]byte(nil), buf[:n]...)
		p.count(msg, "udp")
		wg.Add(1)
		go func() {
			defer wg.Done()
			up, err := net.Dial("udp", p.target)
			if err != nil {
				return
			}
			defer up.Close()
			up.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := up.Write(msg); err != nil {
				return
			}
			rb := make([]byte, 65535)
			rn, err := up.Read(rb)
			if err != nil {
				return
			}
			if rn > 3 && rb[2]&0x02 != 0 {
				p.tcQuery.Add(1)
			}
			pc.WriteTo(rb[:rn], from)
		}()
	}
}

func (p *proxy) serveTCP(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(c, up)
				c.Close()
				close(done)
			}()
			var lenBuf [2]byte
			for {
				if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
					break
				}
				msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					break
				}
				p.count(msg, "tcp")
				if _, err := up.Write(append(lenBuf[:], msg...)); err != nil {
					break
				}
			}
			up.Close()
			<-done
		}()
	}
}

// backend is the providertest harness for a real server: Put, Dump and
// Reset talk to the server directly; the provider goes through the
// counting proxy.
type backend struct {
	s        *server
	px       *proxy
	alg      string
	transfer string
}

func (b *backend) Zone() string { return testZone }

func (b *backend) Provider(t testing.TB) providers.Provider {
	t.Helper()
	return newProvider(t, b.px.addr, b.s.key(b.alg), b.transfer)
}

// newProvider builds a provider for addr through New, the secret in an
// environment variable of the provider's own Getenv.
func newProvider(t testing.TB, addr string, k testKey, transfer string) *Provider {
	t.Helper()
	cfg := &config.Provider{Type: config.ProviderRFC2136, RFC2136: &config.RFC2136Settings{
		Server: addr, TSIGKey: k.name, TSIGAlgorithm: k.alg, TSIGSecretEnv: "SB_TSIG_SECRET",
		Transfer: transfer, Timeout: config.Duration(5 * time.Second),
	}}
	env := providers.Env{Getenv: func(name string) string {
		if name == "SB_TSIG_SECRET" {
			return k.secret
		}
		return ""
	}}
	p, err := New("test", cfg, env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p.(*Provider)
}

func (b *backend) Reset(ctx context.Context, t testing.TB) {
	t.Helper()
	var del []dns.RR
	for _, s := range b.s.dump(t) {
		if s.Name == testZone && (s.Type == dns.TypeSOA || s.Type == dns.TypeNS) {
			continue
		}
		del = append(del, &dns.ANY{Hdr: dns.RR_Header{Name: s.Name, Rrtype: s.Type, Class: dns.ClassINET}})
	}
	for len(del) > 0 {
		n := min(len(del), 1000)
		b.s.update(t, func(m *dns.Msg) { m.RemoveRRset(del[:n]) })
		del = del[n:]
	}
}

func (b *backend) Put(ctx context.Context, t testing.TB, sets ...zone.RRset) {
	t.Helper()
	b.s.update(t, func(m *dns.Msg) {
		for _, s := range sets {
			m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: s.Name, Rrtype: s.Type, Class: dns.ClassINET}}})
			rrs, err := s.RRs()
			if err != nil {
				t.Fatalf("put %s: %v", s.Key(), err)
			}
			m.Insert(rrs)
		}
	})
}

func (b *backend) Dump(ctx context.Context, t testing.TB) []zone.RRset { return b.s.dump(t) }

func (b *backend) Writes() int { return int(b.px.updates.Load()) }
