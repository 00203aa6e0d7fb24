package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

// TestMonitorStartDown: a target that starts down needs rise successes to
// come up, and reports that as its first change; an existing target
// ignores StartDown.
func TestMonitorStartDown(t *testing.T) {
	a := target("a")
	a.StartDown = true
	h := start(t, Options{}, a)
	if st := h.status("a"); st.Up {
		t.Fatalf("a with StartDown: got up, want down")
	}
	// First probe succeeds (streak 1 of rise 2), the re-check confirms.
	if d := h.fire(1); d != 100*time.Millisecond {
		t.Fatalf("after the first success: next probe in %s, want the re-check 100ms", d)
	}
	h.fire(1)
	if got := h.batch(); len(got) != 1 || got[0].Endpoint != "a" || !got[0].Up {
		t.Fatalf("got %+v, want [a up]", got)
	}
	// The same target with StartDown again: the monitor has it, nothing
	// changes.
	if err := h.m.Update([]Target{a}); err != nil {
		t.Fatal(err)
	}
	if st := h.status("a"); !st.Up {
		t.Errorf("existing target went down on an Update with StartDown")
	}
}

// TestSourceAddress: probes leave from the target's source address.
func TestSourceAddress(t *testing.T) {
	src := netip.MustParseAddr("127.0.0.7")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	remote := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			remote <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	tcp, err := NewChecker(Target{Endpoint: "t", Address: "127.0.0.1", Port: port, Source: src, Check: config.Check{Type: config.CheckTCP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tcp.Check(context.Background()); err != nil {
		t.Fatalf("tcp probe: %v", err)
	}
	if got := recv(t, remote, "the tcp probe's connection"); got != src.String() {
		t.Errorf("tcp probe came from %s, want %s", got, src)
	}

	from := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		from <- host
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().(*net.TCPAddr)
	web, err := NewChecker(Target{Endpoint: "w", Address: "127.0.0.1", Port: addr.Port, Source: src, Check: config.Check{Type: config.CheckHTTP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := web.Check(context.Background()); err != nil {
		t.Fatalf("http probe: %v", err)
	}
	if got := recv(t, from, "the http probe's request"); got != src.String() {
		t.Errorf("http probe came from %s, want %s", got, src)
	}
	closeChecker(web)
}
