package health

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

func TestBackoff(t *testing.T) {
	highest := func(n int64) int64 { return n - 1 }
	lowest := func(int64) int64 { return 0 }
	ms := time.Millisecond
	tests := []struct {
		name    string
		lo, hi  time.Duration
		randN   func(int64) int64
		resetAt int // reset before this delay (0: never)
		want    []time.Duration
	}{
		{"doubles up to the cap", 100 * ms, time.Second, highest, 0, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"jitter takes up to half off", 100 * ms, time.Second, lowest, 0, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"reset starts again", 100 * ms, time.Second, highest, 3, []time.Duration{100 * ms, 200 * ms, 100 * ms, 200 * ms}},
		{"cap below the start", 100 * ms, 30 * ms, highest, 0, []time.Duration{30 * ms, 30 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackoff(tt.lo, tt.hi, tt.randN)
			for i, want := range tt.want {
				if i+1 == tt.resetAt {
					b.reset()
				}
				if got := b.next(); got != want {
					t.Errorf("delay %d: got %v, want %v", i+1, got, want)
				}
			}
		})
	}
	// With real randomness every delay stays within [d/2, d].
	rnd := rand.New(rand.NewPCG(5, 6))
	b := newBackoff(100*ms, time.Second, rnd.Int64N)
	d := 100 * ms
	for i := range 20 {
		if got := b.next(); got < d/2 || got > d {
			t.Errorf("delay %d: got %v, want within [%v, %v]", i+1, got, d/2, d)
		}
		d = min(2*d, time.Second)
	}
}

// server is a TCP listener on loopback that hands the test every
// connection it accepts.
type server struct {
	ln    net.Listener
	conns chan net.Conn

	mu  sync.Mutex
	all []net.Conn
}

func listen(t *testing.T, addr string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, conns: make(chan net.Conn, 100)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.all = append(s.all, c)
			s.mu.Unlock()
			s.conns <- c
		}
	}()
	t.Cleanup(s.crash)
	return s
}

func (s *server) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// crash closes the listener and every accepted connection, as the kernel
// does for a process that dies.
func (s *server) crash() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.all {
		c.Close()
	}
}

// TestWatcher drives a watcher on a fake clock against a real listener:
// lost connections are reported, reconnects back off while connections
// keep dying at once, a connection that lasted resets the backoff, bytes
// from the peer are ignored, and the end of ctx closes the connection.
func TestWatcher(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	clk := NewFakeClock(epoch)
	events := make(chan string, 100)
	w := &watcher{
		addr:        srv.ln.Addr().String(),
		clock:       clk,
		dialTimeout: time.Second,
		stable:      time.Second,
		backoff:     newBackoff(100*time.Millisecond, time.Second, func(n int64) int64 { return n - 1 }),
		connected:   func() { events <- "connected" },
		lost:        func() { events <- "lost" },
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	expect := func(want string) {
		t.Helper()
		if got := recv(t, events, "a watch event"); got != want {
			t.Fatalf("got event %q, want %q", got, want)
		}
	}
	ctxW := waitCtx(t)

	// A server that closes every connection at once: the watcher backs off.
	for _, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		expect("connected")
		recv(t, srv.conns, "the watch connection").Close()
		expect("lost")
		if err := clk.BlockUntil(ctxW, 1); err != nil {
			t.Fatal(err)
		}
		if got := clk.Pending(); len(got) != 1 || got[0] != want {
			t.Fatalf("got reconnect delay %v, want [%v]", got, want)
		}
		clk.Advance(want)
	}

	// A connection that lasts: the peer's bytes are read and dropped (a
	// watcher that stopped reading would block this write, one that
	// closed would fail it), then the backoff starts again.
	expect("connected")
	c := recv(t, srv.conns, "the watch connection")
	c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write(make([]byte, 16<<20)); err != nil {
		t.Fatalf("writing to the watcher: %v", err)
	}
	select {
	case e := <-events:
		t.Fatalf("got event %q while the connection is open, want none", e)
	default:
	}
	clk.Advance(time.Second) // stable
	c.Close()
	expect("lost")
	if err := clk.BlockUntil(ctxW, 1); err != nil {
		t.Fatal(err)
	}
	if got := clk.Pending(); len(got) != 1 || got[0] != 100*time.Millisecond {
		t.Fatalf("after a stable connection: got reconnect delay %v, want [100ms]", got)
	}
	clk.Advance(100 * time.Millisecond)

	// The end of ctx closes the connection, without a "lost" event.
	expect("connected")
	c = recv(t, srv.conns, "the watch connection")
	cancel()
	waitClosed(t, done, "the watcher to return")
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Errorf("server read after cancel: got %v, want EOF", err)
	}
	select {
	case e := <-events:
		t.Errorf("got event %q after cancel, want none", e)
	default:
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// countingChecker passes each probe's result to the test.
type countingChecker struct {
	Checker
	results chan error
}

func (c countingChecker) Check(ctx context.Context) error {
	err := c.Checker.Check(ctx)
	c.results <- err
	return err
}

func (c countingChecker) Close() error {
	closeChecker(c.Checker)
	return nil
}

// TestMonitorWatch runs a Monitor on the real clock with an interval of a
// day, so that every probe in it is caused by the watch: a closed idle
// connection is one probe and no verdict; a crash is seen at once and
// confirmed down after fall re-checks; a restart is seen when the watch
// reconnects, and confirmed up after rise re-checks.
func TestMonitorWatch(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	addr := srv.ln.Addr().String()
	results := make(chan error, 100)
	m := NewMonitor(Options{
		Rand: rand.New(rand.NewPCG(7, 8)),
		NewChecker: func(tg Target) (Checker, error) {
			c, err := NewChecker(tg)
			return countingChecker{c, results}, err
		},
	})
	const recheck = 20 * time.Millisecond
	err := m.Update([]Target{{
		Endpoint: "svc",
		Address:  "127.0.0.1",
		Port:     srv.port(),
		Check: config.Check{
			Type:            config.CheckTCP,
			Interval:        config.Duration(24 * time.Hour),
			Timeout:         config.Duration(time.Second),
			RecheckInterval: config.Duration(recheck),
			Rise:            2,
			Fall:            2,
			// Watch unset: on by default.
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := recv(t, done, "Run to return"); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	defer stop()
	watching := func() bool { return m.Status()[0].Watching }

	// The first connection is the watch: nothing else connects for a day.
	watch := recv(t, srv.conns, "the watch connection")
	eventually(t, "the watch to be up", watching)

	// An idle connection closed by the server: one probe, still up.
	watch.Close()
	if err := recv(t, results, "a probe caused by the lost watch"); err != nil {
		t.Fatalf("probe after the watch closed: got %v, want healthy", err)
	}
	eventually(t, "the watch to be up again", watching)
	if st := m.Status()[0]; !st.Up || st.Streak != 0 {
		t.Errorf("got up=%v streak %d, want up, streak 0", st.Up, st.Streak)
	}

	// A crash: the process's sockets all close.
	crashed := time.Now()
	srv.crash()
	// The lost watch counts as the first failure; the probe it triggers
	// at once is the second (fall 2): no re-check wait.
	if err := recv(t, results, "a probe after the crash"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("probe after the crash: got %v, want connection refused", err)
	}
	got := recv(t, m.Changes(), "the down verdict")
	took := time.Since(crashed)
	if len(got) != 1 || got[0].Endpoint != "svc" || got[0].Up || !strings.Contains(got[0].Reason, "connection refused") {
		t.Fatalf("got changes %+v, want only [svc down, connection refused]", got)
	}
	t.Logf("crash to down verdict: %v (fall 2, re-check %v, interval 24h; one probe)", took, recheck)
	if took > 2*time.Second {
		t.Errorf("crash to down verdict took %v, want about one re-check (%v)", took, recheck)
	}
	if watching() {
		t.Errorf("got Watching while the endpoint is down and refusing, want not")
	}

	// A restart on the same port: the watch reconnects and probes at once.
	srv = listen(t, addr)
	got = recv(t, m.Changes(), "the up verdict")
	if len(got) != 1 || got[0].Endpoint != "svc" || !got[0].Up || got[0].Reason != "" {
		t.Fatalf("got changes %+v, want only [svc up]", got)
	}
	for range 2 {
		if err := recv(t, results, "a probe after the restart"); err != nil {
			t.Fatalf("probe after the restart: got %v, want healthy", err)
		}
	}

	// Stopping closes the watch connection.
	watch = recv(t, srv.conns, "the new watch connection")
	stop()
	if watching() {
		t.Errorf("got Watching after Run returned, want not")
	}
	watch.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := watch.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("server read after Run returned: got %v, want EOF", err)
	}
}

// TestMonitorWatchFallOne: with fall 1 a lost watch is not counted (it
// alone would decide): a server closing an idle connection costs one
// probe and never a down verdict.
func TestMonitorWatchFallOne(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	results := make(chan error, 100)
	m := NewMonitor(Options{
		Rand: rand.New(rand.NewPCG(7, 8)),
		NewChecker: func(tg Target) (Checker, error) {
			c, err := NewChecker(tg)
			return countingChecker{c, results}, err
		},
	})
	if err := m.Update([]Target{{Endpoint: "svc", Address: "127.0.0.1", Port: srv.port(), Check: config.Check{
		Type: config.CheckTCP, Interval: config.Duration(24 * time.Hour), Timeout: config.Duration(time.Second), Rise: 1, Fall: 1,
	}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); recv(t, done, "Run to return") }()
	watch := recv(t, srv.conns, "the watch connection")
	eventually(t, "the watch to be up", func() bool { return m.Status()[0].Watching })
	watch.Close()
	if err := recv(t, results, "a probe caused by the lost watch"); err != nil {
		t.Fatalf("probe after the watch closed: got %v, want healthy", err)
	}
	select {
	case got := <-m.Changes():
		t.Fatalf("got verdict changes %+v after an idle close with fall 1, want none", got)
	default:
	}
	if st := m.Status()[0]; !st.Up {
		t.Errorf("got down after an idle close with fall 1, want up")
	}
}
