package dnsserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// waitFor polls cond until it holds or the deadline passes: a wait on a
// condition, not a sleep.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func tcpUp(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestStartShutdown(t *testing.T) {
	s := newLoaded(t, Options{})
	ctx := t.Context()
	udp, tcp, err := s.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if udp.(*net.UDPAddr).Port != tcp.(*net.TCPAddr).Port || udp.(*net.UDPAddr).Port == 0 {
		t.Fatalf("got udp %v tcp %v, want one nonzero port", udp, tcp)
	}
	addr := udp.String()
	for _, network := range []string{"udp", "tcp"} {
		if r := exchange(t, addr, network, query("www.example.com.", dns.TypeA)); len(r.Answer) != 2 {
			t.Errorf("%s: got %d answers, want 2", network, len(r.Answer))
		}
	}
	if _, _, err := s.Start(ctx, "127.0.0.1:0"); err == nil {
		t.Errorf("second Start: got nil, want an error")
	}

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if tcpUp(addr) {
		t.Errorf("TCP still accepts after Shutdown")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: got %v, want nil", err)
	}

	// Both ports are free again: the server restarts on the same address.
	udp2, _, err := s.Start(ctx, addr)
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	if udp2.String() != addr {
		t.Errorf("got %v, want %s", udp2, addr)
	}
	if r := exchange(t, addr, "udp", query("www.example.com.", dns.TypeA)); len(r.Answer) != 2 {
		t.Errorf("after restart: got %d answers, want 2", len(r.Answer))
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestStartStopsWithContext(t *testing.T) {
	s := newLoaded(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	udp, _, err := s.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	addr := udp.String()
	if !tcpUp(addr) {
		t.Fatalf("TCP not up after Start")
	}
	cancel()
	waitFor(t, "TCP to close", func() bool { return !tcpUp(addr) })
	// Shutdown has run: Start works again.
	waitFor(t, "a new Start", func() bool {
		_, _, err := s.Start(t.Context(), addr)
		return err == nil
	})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name string
		opts Options
		ctx  context.Context
		addr string
		want string
	}{
		{"TCP port taken", Options{}, context.Background(), busy.Addr().String(), "listen tcp"},
		{"bad address", Options{}, context.Background(), "127.0.0.1", "listen"},
		{"canceled context", Options{}, canceled, "127.0.0.1:0", "context canceled"},
		{"UDP size too small", Options{UDPSize: 100}, context.Background(), "127.0.0.1:0", "udp size"},
		{"TSIG secret not base64", Options{TSIG: map[string]string{"k.": "not base64!"}}, context.Background(), "127.0.0.1:0", "not base64"},
		{"TSIG key name", Options{TSIG: map[string]string{"": tsigSecret}}, context.Background(), "127.0.0.1:0", "not a domain name"},
		{"invalid prefix", Options{AXFRAllow: []netip.Prefix{{}}}, context.Background(), "127.0.0.1:0", "axfr prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = testLog
			s := New(tc.opts)
			_, _, err := s.Start(tc.ctx, tc.addr)
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatalf("got nil, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "dnsserver: ") {
				t.Errorf("got %q, want it to name dnsserver and contain %q", err, tc.want)
			}
			if tc.name == "canceled context" && !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want it to wrap context.Canceled", err)
			}
		})
	}
	// The secret never appears in an error (DESIGN invariant 8).
	err = Options{TSIG: map[string]string{"k.": "sekrit!"}}.Validate()
	if err == nil || strings.Contains(err.Error(), "sekrit") {
		t.Errorf("got %v, want an error without the secret", err)
	}
}

// TestLimitListener: connections beyond the limit are closed on accept,
// and a closed connection frees its slot.
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &limitListener{Listener: ln, sem: make(chan struct{}, 1)}
	defer l.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	first := <-accepted
	// Over the limit: the server closes it, the client reads EOF.
	over := dial()
	if err := over.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := over.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("over the limit: got %d bytes, %v; want EOF", n, err)
	}
	first.Close()
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no accept after a slot was freed")
	}
}
