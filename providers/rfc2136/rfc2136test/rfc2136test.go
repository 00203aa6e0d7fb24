// Package rfc2136test is for tests only: it starts real DNS servers, BIND
// 9 (named) and Knot DNS (knotd), on a free loopback port, serving zones
// from master files with TSIG keys that may update and transfer them, and
// stops each one by its pid in t.Cleanup.
//
// A missing server binary skips the test on a developer machine and fails
// it when the CI environment variable is set (make test installs bind9
// and knot), because a test skipped in CI is no coverage.
package rfc2136test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/zone"
)

// Algorithms are the TSIG algorithms, by their config names, that both
// servers and the rfc2136 provider support.
var Algorithms = []string{"hmac-sha256", "hmac-sha512", "hmac-sha1"}

// keySize is the secret length in bytes used for each algorithm: the
// hash's output size, as dnssec-keygen and keymgr make them.
var keySize = map[string]int{"hmac-sha256": 32, "hmac-sha512": 64, "hmac-sha1": 20}

// Key is a TSIG key: Name is an FQDN, Algorithm a config name
// (hmac-sha256, ...), Secret its base64 secret.
type Key struct {
	Name      string
	Algorithm string
	Secret    string
}

// NewKey returns a key with a fresh random secret of the algorithm's
// usual size (32 bytes for an unknown algorithm).
func NewKey(t testing.TB, name, alg string) Key {
	t.Helper()
	n := keySize[alg]
	if n == 0 {
		n = 32
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return Key{Name: name, Algorithm: alg, Secret: base64.StdEncoding.EncodeToString(b)}
}

// KeyName is the name [StartBIND] and [StartKnot] give the key of alg:
// "sb-256." for hmac-sha256, "sb-512.", "sb-1.".
func KeyName(alg string) string { return "sb-" + strings.TrimPrefix(alg, "hmac-sha") + "." }

// Zone is a zone a server serves.
type Zone struct {
	// Name is the origin, an FQDN.
	Name string
	// File is the master file's text, with $ORIGIN or absolute names;
	// empty means [DefaultZoneFile] of Name.
	File string
}

// DefaultZoneFile is the master file of a zone with only an SOA (serial
// 1) and two NS records.
func DefaultZoneFile(origin string) string {
	return fmt.Sprintf("$ORIGIN %s\n@ 3600 IN SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 60\n"+
		"@ 3600 IN NS ns1.example.net.\n@ 3600 IN NS ns2.example.net.\n", origin)
}

// Options say what a server serves.
type Options struct {
	// Zones are served as primary; the first is the zone of
	// [Server.Update] and [Server.Dump]. At least one.
	Zones []Zone
	// Algorithms lists the TSIG keys to create, one for each algorithm,
	// named by [KeyName]. Every key may update and transfer every zone.
	// Empty: no keys, and the zones can only be queried.
	Algorithms []string
	// BINDUpdate, when set, replaces BIND's allow-update clause of each
	// zone (e.g. an update-policy { ... }; statement).
	BINDUpdate string
	// KnotACL holds more lines of Knot's ACL, indented four spaces (e.g.
	// update-owner limits).
	KnotACL string
}

// Server is a running server.
type Server struct {
	kind string // "bind" or "knot"
	addr string
	keys []Key
	zone string
	dir  string

	exited chan struct{} // closed when the process has exited
	out    *lockedBuffer // its stdout and stderr
}

// Kind is "bind" or "knot".
func (s *Server) Kind() string { return s.kind }

// Addr is the server's address, 127.0.0.1:port, for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Zone is the first zone of the options.
func (s *Server) Zone() string { return s.zone }

// Key returns the server's key for alg; the test fails if there is none.
func (s *Server) Key(t testing.TB, alg string) Key {
	t.Helper()
	for _, k := range s.keys {
		if k.Algorithm == alg {
			return k
		}
	}
	t.Fatalf("%s: no %s key (options had %d keys)", s.kind, alg, len(s.keys))
	return Key{}
}

// Output is what the server printed so far.
func (s *Server) Output() string { return s.out.String() }

// Binary finds a server binary in PATH or /usr/sbin. It fails the test in
// CI (the CI environment variable set) and skips it elsewhere when the
// binary is missing.
func Binary(t testing.TB, name string) string {
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

// FreePort returns a port that was free for UDP and TCP on 127.0.0.1 a
// moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	return strconv.Itoa(providertest.FreePort(t, "127.0.0.1"))
}

func newServer(t testing.TB, kind string, opts Options) *Server {
	t.Helper()
	if len(opts.Zones) == 0 {
		t.Fatal("rfc2136test: no zones")
	}
	s := &Server{kind: kind, zone: opts.Zones[0].Name, dir: t.TempDir()}
	for _, alg := range opts.Algorithms {
		s.keys = append(s.keys, NewKey(t, KeyName(alg), alg))
	}
	for _, z := range opts.Zones {
		f := z.File
		if f == "" {
			f = DefaultZoneFile(z.Name)
		}
		s.write(t, zoneFileName(z.Name), f)
	}
	return s
}

func zoneFileName(origin string) string { return strings.TrimSuffix(origin, ".") + ".zone" }

// StartBIND runs named in the foreground on a free loopback port and
// waits until it serves every zone.
func StartBIND(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t, "named")
	s := newServer(t, "bind", opts)
	port := FreePort(t)
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
		fmt.Fprintf(&conf, "key %q { algorithm %s; secret %q; };\n", k.Name, k.Algorithm, k.Secret)
		names = append(names, fmt.Sprintf("key %q;", k.Name))
	}
	allow := "none;"
	if len(names) > 0 {
		allow = strings.Join(names, " ")
	}
	update := opts.BINDUpdate
	if update == "" {
		update = fmt.Sprintf("allow-update { %s };", allow)
	}
	for _, z := range opts.Zones {
		fmt.Fprintf(&conf, "zone %q { type primary; file %q; %s allow-transfer { %s }; };\n",
			z.Name, zoneFileName(z.Name), update, allow)
	}
	s.write(t, "named.conf", conf.String())
	s.start(t, bin, "-g", "-4", "-n", "1", "-c", filepath.Join(s.dir, "named.conf"))
	s.addr = net.JoinHostPort("127.0.0.1", port)
	s.waitReady(t, opts.Zones)
	return s
}

// StartKnot runs knotd on a free loopback port, its rundir and storage in
// a temporary directory, and waits until it serves every zone. Updates go
// to the journal only (the zone files are never rewritten).
func StartKnot(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t, "knotd")
	s := newServer(t, "knot", opts)
	port := FreePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n  rundir: %q\n  listen: 127.0.0.1@%s\n", s.dir, port)
	fmt.Fprintf(&conf, "database:\n  storage: %q\n", s.dir)
	fmt.Fprintf(&conf, "log:\n  - target: stderr\n    any: warning\n")
	acl := ""
	if len(s.keys) > 0 {
		fmt.Fprintf(&conf, "key:\n")
		var ids []string
		for _, k := range s.keys {
			fmt.Fprintf(&conf, "  - id: %s\n    algorithm: %s\n    secret: %s\n", k.Name, k.Algorithm, k.Secret)
			ids = append(ids, k.Name)
		}
		fmt.Fprintf(&conf, "acl:\n  - id: switchboard\n    key: [%s]\n    action: [update, transfer]\n%s", strings.Join(ids, ", "), opts.KnotACL)
		acl = "    acl: switchboard\n"
	}
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %q\n    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: changes\n", s.dir)
	fmt.Fprintf(&conf, "zone:\n")
	for _, z := range opts.Zones {
		fmt.Fprintf(&conf, "  - domain: %s\n    file: %q\n%s", z.Name, zoneFileName(z.Name), acl)
	}
	s.write(t, "knot.conf", conf.String())
	s.start(t, bin, "-c", filepath.Join(s.dir, "knot.conf"))
	s.addr = net.JoinHostPort("127.0.0.1", port)
	s.waitReady(t, opts.Zones)
	return s
}

func (s *Server) write(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the server and stops it, by its pid, when the test ends:
// SIGTERM, then SIGKILL after ten seconds.
func (s *Server) start(t testing.TB, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", s.kind, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	s.exited = exited
	s.out = out
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

// waitReady waits until the server answers every zone's SOA; it fails the
// test at once if the server exits.
func (s *Server) waitReady(t testing.TB, zones []Zone) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for _, z := range zones {
		for {
			select {
			case <-s.exited:
				t.Fatalf("%s exited:\n%s", s.kind, s.out.String())
			default:
			}
			m := new(dns.Msg)
			m.SetQuestion(z.Name, dns.TypeSOA)
			r, _, err := c.Exchange(m, s.addr)
			if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not serve %s within 20s (last error %v):\n%s", s.kind, z.Name, err, s.out.String())
			}
			// Poll on a ticker-like pace; the exchange's own timeout
			// bounds a wait when the server is not listening yet.
			<-time.After(20 * time.Millisecond)
		}
	}
}

// signingKey is the key Exchange, Update and Dump sign with: hmac-sha256
// when there is one, else the first.
func (s *Server) signingKey(t testing.TB) Key {
	t.Helper()
	if len(s.keys) == 0 {
		t.Fatalf("%s: no TSIG keys to sign with", s.kind)
	}
	for _, k := range s.keys {
		if k.Algorithm == "hmac-sha256" {
			return k
		}
	}
	return s.keys[0]
}

// tsigAlgorithm maps a config algorithm name to the miekg/dns one.
func tsigAlgorithm(alg string) string {
	switch alg {
	case "hmac-sha512":
		return dns.HmacSHA512
	case "hmac-sha1":
		return dns.HmacSHA1
	}
	return dns.HmacSHA256
}

// Exchange sends m to the server directly, TSIG-signed, over TCP.
func (s *Server) Exchange(t testing.TB, m *dns.Msg) *dns.Msg {
	t.Helper()
	k := s.signingKey(t)
	m.SetTsig(k.Name, tsigAlgorithm(k.Algorithm), 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second, TsigSecret: map[string]string{k.Name: k.Secret}}
	r, _, err := c.Exchange(m, s.addr)
	if err != nil {
		t.Fatalf("%s: exchange: %v", s.kind, err)
	}
	return r
}

// Update sends one signed UPDATE of the first zone, filled in by build,
// and fails the test unless the server answers NOERROR.
func (s *Server) Update(t testing.TB, build func(m *dns.Msg)) {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate(s.zone)
	build(m)
	if r := s.Exchange(t, m); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("%s: update: got %s, want NOERROR", s.kind, dns.RcodeToString[r.Rcode])
	}
}

// Dump transfers the first zone (AXFR, signed) and returns its RRsets,
// canonical and sorted.
func (s *Server) Dump(t testing.TB) []zone.RRset {
	t.Helper()
	k := s.signingKey(t)
	tr := &dns.Transfer{TsigSecret: map[string]string{k.Name: k.Secret}}
	m := new(dns.Msg)
	m.SetAxfr(s.zone)
	m.SetTsig(k.Name, tsigAlgorithm(k.Algorithm), 300, time.Now().Unix())
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
