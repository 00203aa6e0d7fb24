package main

import (
	"bytes"
	"fmt"
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

	"github.com/switchboard-dns/switchboard/providers/providertest"
)

// binary is the switchboard binary the end-to-end tests run, built once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchboard-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "switchboard")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a port on host free for TCP and UDP (see
// [providertest.FreePort]).
func freePort(t *testing.T, host string) int {
	t.Helper()
	return providertest.FreePort(t, host)
}

// backend is an HTTP server on its own loopback address that can be
// stopped (its listener and connections closed, like a crashed process)
// and started again on the same address.
type backend struct {
	t    *testing.T
	addr string

	mu  sync.Mutex
	srv *http.Server
}

func newBackend(t *testing.T, ip string) *backend {
	b := &backend{t: t, addr: net.JoinHostPort(ip, fmt.Sprint(freePort(t, ip)))}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *backend) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after a stop
		if ln, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("backend %s: %v", b.addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	b.srv = &http.Server{Handler: mux}
	go b.srv.Serve(ln)
}

func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

func (b *backend) port() string {
	_, p, _ := net.SplitHostPort(b.addr)
	return p
}

// proc is a switchboard process started by a test and stopped by its pid.
type proc struct {
	t   *testing.T
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	p.cmd = exec.Command(binary, args...)
	w := lockedWriter{mu: p.mu, buf: p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop(10 * time.Second)
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop sends SIGTERM and waits; it kills the process if it does not exit
// within grace, and reports that as a test failure.
func (p *proc) stop(grace time.Duration) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(grace):
		// SIGQUIT makes the Go runtime print every goroutine's stack:
		// the log then shows where shutdown hung.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		p.t.Errorf("switchboard (pid %d) did not exit within %s of SIGTERM", p.cmd.Process.Pid, grace)
	}
}

// query asks addr for name/type and returns the answer's rdata (sorted) and
// the zone's SOA serial from a second query.
func query(addr, name string, qtype uint16) ([]string, *dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.SOA:
			out = append(out, fmt.Sprint(v.Serial))
		}
	}
	slices.Sort(out)
	return out, r, nil
}

func serial(t *testing.T, addr, zone string) uint32 {
	t.Helper()
	_, r, err := query(addr, zone, dns.TypeSOA)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("SOA %s: %v %v", zone, err, r)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// waitAnswer polls every 20 ms until the answer equals want, and returns
// how long it took.
func waitAnswer(t *testing.T, addr, name string, want []string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last []string
	for {
		got, _, err := query(addr, name, dns.TypeA)
		if err == nil && slices.Equal(got, want) {
			return time.Since(start)
		}
		last = got
		if time.Since(start) > limit {
			t.Fatalf("%s: answer %v after %s, want %v", name, last, limit, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const e2eConfig = `
node:
  id: e2e
  data_dir: %[1]s
  dns_listen: 127.0.0.1:%[2]d
  api_listen: 127.0.0.1:%[3]d
  raft_listen: 127.0.0.1:%[4]d
zones:
  - name: e2e.example.
    providers: [embedded]
    nameservers: [ns1.e2e.example.]
    static: ["ns1 60 IN A 127.0.0.1"]
checks:
  web: {type: http, path: /healthz, interval: %[7]s, timeout: 300ms, rise: %[8]d, fall: %[9]d}
endpoints:
  - {name: a, address: 127.0.1.1, port: %[5]s, cloud: aws, region: us-east-1, check: web}
  - {name: b, address: 127.0.2.1, port: %[6]s, cloud: gcp, region: europe-west1, check: web}
pools:
  pa: {endpoints: [a]}
  pb: {endpoints: [b]}
records:
  - {name: www.e2e.example., type: A, ttl: 5, steering: all, pools: [pa, pb]}
`

func writeConfig(t *testing.T, dir string, dnsPort, apiPort, raftPort int, a, b *backend, interval string, rise, fall int) string {
	t.Helper()
	path := filepath.Join(dir, "switchboard.yaml")
	doc := fmt.Sprintf(e2eConfig, filepath.Join(dir, "data"), dnsPort, apiPort, raftPort, a.port(), b.port(), interval, rise, fall)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEndToEndFailover is issue 2's end-to-end test: the real binary, two
// real HTTP backends, a real DNS client.
func TestEndToEndFailover(t *testing.T) {
	dir := t.TempDir()
	a, b := newBackend(t, "127.0.1.1"), newBackend(t, "127.0.2.1")
	dnsPort, apiPort, raftPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	const interval, rise, fall = time.Second, 2, 2
	cfg := writeConfig(t, dir, dnsPort, apiPort, raftPort, a, b, "1s", rise, fall)
	p := startProc(t, "serve", "--config", cfg, "--log-format", "json")
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)

	both := []string{"127.0.1.1", "127.0.2.1"}
	waitAnswer(t, dnsAddr, "www.e2e.example.", both, 15*time.Second)
	s0 := serial(t, dnsAddr, "e2e.example.")

	a.stop()
	took := waitAnswer(t, dnsAddr, "www.e2e.example.", []string{"127.0.2.1"}, interval*fall+time.Second)
	s1 := serial(t, dnsAddr, "e2e.example.")
	t.Logf("backend a stopped: answer without it after %s (limit %s); serial %d → %d", took, interval*fall+time.Second, s0, s1)
	if s1 <= s0 {
		t.Errorf("serial after failover: got %d, want more than %d", s1, s0)
	}

	a.start()
	took = waitAnswer(t, dnsAddr, "www.e2e.example.", both, interval*rise+time.Second)
	s2 := serial(t, dnsAddr, "e2e.example.")
	t.Logf("backend a started: answer with it after %s (limit %s); serial %d → %d", took, interval*rise+time.Second, s1, s2)
	if s2 <= s1 {
		t.Errorf("serial after failback: got %d, want more than %d", s2, s1)
	}

	// The answer is authoritative and from the zone.
	_, r, err := query(dnsAddr, "www.e2e.example.", dns.TypeA)
	if err != nil || !r.Authoritative {
		t.Errorf("answer not authoritative: %v %v", err, r)
	}
	p.stop(10 * time.Second)
	if !strings.Contains(p.output(), `"msg":"switchboard node stopped"`) {
		t.Errorf("no clean shutdown in the log")
	}
}

// TestEndToEndRestartServesAtOnce: a restarted node answers from its last
// committed state on its first query, before any check completes, with a
// backend that is down and checks too slow to have run.
func TestEndToEndRestartServesAtOnce(t *testing.T) {
	dir := t.TempDir()
	a, b := newBackend(t, "127.0.1.1"), newBackend(t, "127.0.2.1")
	dnsPort, apiPort, raftPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	cfg := writeConfig(t, dir, dnsPort, apiPort, raftPort, a, b, "1s", 2, 2)
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	p := startProc(t, "serve", "--config", cfg, "--log-format", "json")
	waitAnswer(t, dnsAddr, "www.e2e.example.", []string{"127.0.1.1", "127.0.2.1"}, 15*time.Second)
	a.stop()
	waitAnswer(t, dnsAddr, "www.e2e.example.", []string{"127.0.2.1"}, 5*time.Second)
	want := serial(t, dnsAddr, "e2e.example.")
	p.stop(10 * time.Second)

	// Restart. a is still down and b is up; the restarted node must
	// answer [b] with the same serial from its first answer, although
	// its new checks (which start everything up) cannot have completed.
	p2 := startProc(t, "serve", "--config", cfg, "--log-format", "json")
	start := time.Now()
	var got []string
	for {
		var err error
		got, _, err = query(dnsAddr, "www.e2e.example.", dns.TypeA)
		if err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no answer after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(got, []string{"127.0.2.1"}) {
		t.Errorf("first answer after restart: got %v, want [127.0.2.1]", got)
	}
	if s := serial(t, dnsAddr, "e2e.example."); s != want {
		t.Errorf("serial after restart: got %d, want %d", s, want)
	}
	t.Logf("first answer %s after start: %v", time.Since(start).Round(time.Millisecond), got)
	// The restarted observer starts the endpoint it had judged down as
	// down: over two check intervals it must never vouch for it again.
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		got, _, err := query(dnsAddr, "www.e2e.example.", dns.TypeA)
		if err == nil && !slices.Equal(got, []string{"127.0.2.1"}) {
			t.Fatalf("after restart the answer changed to %v: the dead backend came back", got)
		}
	}
	p2.stop(10 * time.Second)
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("zones: [{name: example.com., providers: [embedded], nameservers: [ns1.example.com.]}]\n"), 0o600)
	os.WriteFile(bad, []byte("zones:\n  - name: example.com.\n    providers: [nope]\n    nameservers: [ns1.example.com.]\nrecords:\n  - {name: x.example.org., type: A, pools: [p]}\n"), 0o600)
	out, err := exec.Command(binary, "validate", good).CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("validate good: got %q, %v; want ok, exit 0", out, err)
	}
	out, err = exec.Command(binary, "validate", bad).CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Errorf("validate bad: exit %v, want 1", err)
	}
	want := bad + ":3:17: zone \"example.com.\" refers to undefined provider \"nope\"\n" +
		bad + ":6:12: record x.example.org. is outside every zone\n" +
		bad + ":6:45: record \"x.example.org.\" refers to undefined pool \"p\"\n"
	if string(out) != want {
		t.Errorf("validate bad:\ngot  %q\nwant %q", out, want)
	}
}

// TestPlanAndApply: `plan` shows per provider what a policy file changes
// (exit 2), nothing for the committed policy (exit 0), every error of a
// bad file (exit 1); `apply` shows the plan and commits it.
func TestPlanAndApply(t *testing.T) {
	dir := t.TempDir()
	a, b := newBackend(t, "127.0.1.1"), newBackend(t, "127.0.2.1")
	dnsPort, apiPort, raftPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	cfg := writeConfig(t, dir, dnsPort, apiPort, raftPort, a, b, "1s", 2, 2)
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	apiAddr := fmt.Sprintf("127.0.0.1:%d", apiPort)
	startProc(t, "serve", "--config", cfg, "--log-format", "json")
	waitAnswer(t, dnsAddr, "www.e2e.example.", []string{"127.0.1.1", "127.0.2.1"}, 15*time.Second)
	s0 := serial(t, dnsAddr, "e2e.example.")

	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(dir, "next.yaml")
	if err := os.WriteFile(next, []byte(strings.Replace(string(orig), "ttl: 5,", "ttl: 20,", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(orig), "pools: [pa, pb]}", "pools: [pa, nope]}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		out, err := exec.Command(binary, args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("plan", "-f", cfg, "--api", apiAddr); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("plan of the committed policy: exit %d, want 0 and 'no changes':\n%s", code, out)
	}
	out, code := run("plan", "-f", next, "--api", apiAddr)
	if code != 2 || !strings.Contains(out, "provider embedded, zone e2e.example.:") || !strings.Contains(out, "~ www.e2e.example. A  127.0.1.1, 127.0.2.1 (ttl 5) → 127.0.1.1, 127.0.2.1 (ttl 20)") {
		t.Errorf("plan of a TTL change: exit %d, want 2 and the change on embedded:\n%s", code, out)
	}
	if out, code := run("plan", "-f", bad, "--api", apiAddr); code != 1 || !strings.Contains(out, bad+":") || !strings.Contains(out, `undefined pool "nope"`) {
		t.Errorf("plan of a bad file: exit %d, want 1 and FILE:LINE:COL errors:\n%s", code, out)
	}
	if out, code := run("apply", "-f", next, "--api", apiAddr); code != 0 || !strings.Contains(out, "(ttl 20)") || !strings.Contains(out, "committed policy version 2") {
		t.Fatalf("apply: exit %d, want 0, the plan and version 2:\n%s", code, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, r, err := query(dnsAddr, "www.e2e.example.", dns.TypeA)
		if err == nil && len(r.Answer) > 0 && r.Answer[0].Header().Ttl == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("answer TTL after apply: %v %v, want 20", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := serial(t, dnsAddr, "e2e.example."); s <= s0 {
		t.Errorf("serial after apply: got %d, want more than %d", s, s0)
	}
	if out, code := run("plan", "-f", next, "--api", apiAddr); code != 0 {
		t.Errorf("plan after apply: exit %d, want 0:\n%s", code, out)
	}
	// A policy that withdraws more than the panic threshold of a record's
	// healthy endpoints (the Seoul 2018 push) is refused by plan and
	// apply unless forced.
	drop := filepath.Join(dir, "drop.yaml")
	if err := os.WriteFile(drop, []byte(strings.Replace(string(orig), "steering: all, pools: [pa, pb]}", "steering: all, pools: [pa], panic_threshold: 0.4}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := run("plan", "-f", drop, "--api", apiAddr); code != 1 || !strings.Contains(out, "www.e2e.example. A: 1 of 2 healthy endpoints left") {
		t.Errorf("plan of a capacity drop: exit %d, want 1 and the record named:\n%s", code, out)
	}
	if out, code := run("apply", "-f", drop, "--api", apiAddr); code != 1 || !strings.Contains(out, "409") || !strings.Contains(out, "1 of 2 healthy endpoints left") {
		t.Errorf("apply of a capacity drop: exit %d, want 1 and HTTP 409:\n%s", code, out)
	}
	if out, code := run("apply", "-f", drop, "--api", apiAddr, "--force"); code != 0 || !strings.Contains(out, "committed policy version 3") {
		t.Errorf("apply --force of a capacity drop: exit %d, want 0 and version 3:\n%s", code, out)
	}
	waitAnswer(t, dnsAddr, "www.e2e.example.", []string{"127.0.1.1"}, 5*time.Second)
	// A second apply planned against version 1 is refused: version 3 is
	// committed now.
	if out, code := run("apply", "-f", cfg, "--api", apiAddr, "--expect", "1"); code != 1 || !strings.Contains(out, "409") {
		t.Errorf("apply --expect 1 over version 2: exit %d, want 1 and HTTP 409:\n%s", code, out)
	}
}

// TestDemo runs `switchboard demo` as a user would, with shorter timings:
// a 3-node cluster that fails over and back and exits on its own.
func TestDemo(t *testing.T) {
	var port int
	for range 20 { // a port free on all three node addresses
		port = freePort(t, "127.0.0.1")
		ok := true
		for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				ok = false
				break
			}
			pc.Close()
		}
		if ok {
			break
		}
	}
	p := startProc(t, "demo", "--dns", fmt.Sprintf("127.0.0.1:%d", port), "--down-after", "4s", "--up-after", "7s", "--drill", "3s")
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, p.output())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("demo did not exit within 60s:\n%s", p.output())
	}
	out := p.output()
	for _, want := range []string{"a 3-node cluster", "✔ failover: every node answers gcp", "✔ failback: every node answers aws", "measured on all 3 nodes",
		"# Drill drill-", "inject: every one of 3 nodes measured answered", "restore: every one of 3 nodes measured answered"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
