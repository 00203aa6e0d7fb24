package health

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
)

func TestTCPChecker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	tg := Target{Endpoint: "db", Address: "127.0.0.1", Port: port, Check: config.Check{Type: config.CheckTCP}}
	if err := mustChecker(t, tg).Check(t.Context()); err != nil {
		t.Fatalf("listening port: got %v, want healthy", err)
	}
	// The probe closes its connection: the server reads EOF.
	c := recv(t, accepted, "the probe's connection")
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("server read: got %d bytes, %v, want EOF", n, err)
	}
	c.Close()

	ln.Close() // now nothing listens on port
	err = mustChecker(t, tg).Check(t.Context())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("closed port: got %v, want connection refused", err)
	}
	if want := "health: tcp 127.0.0.1:"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start %q", err, want)
	}

	// A cancelled context ends the probe.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := mustChecker(t, tg).Check(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
}

func TestNewCheckerErrors(t *testing.T) {
	base := func(typ string, mods ...func(*Target)) Target {
		tg := Target{Endpoint: "e", Address: "192.0.2.1", Port: 80, Check: config.Check{Type: typ}}
		for _, m := range mods {
			m(&tg)
		}
		return tg
	}
	tests := []struct {
		name string
		t    Target
		want string // error prefix; "" for none
	}{
		{"http defaults", base("http"), ""},
		{"https ipv6", base("https", func(t *Target) { t.Address = "2001:db8::1" }), ""},
		{"tcp", base("tcp"), ""},
		{"host name", base("tcp", func(t *Target) { t.Address = "api.example.com" }), ""},
		{"ipv6 with zone", base("http", func(t *Target) { t.Address = "fe80::1%eth0" }), ""},
		{"unknown type", base("dns"), `health: endpoint "e": unknown check type "dns"`},
		{"no type", base(""), `health: endpoint "e": unknown check type ""`},
		{"tcp without port", base("tcp", func(t *Target) { t.Port = 0 }), `health: endpoint "e": tcp check needs a port`},
		{"port out of range", base("tcp", func(t *Target) { t.Port = 70000 }), `health: endpoint "e": port 70000 out of range`},
		{"no address", base("tcp", func(t *Target) { t.Address = "" }), `health: endpoint "e": no address`},
		{"address with port", base("tcp", func(t *Target) { t.Address = "192.0.2.1:80" }), `health: endpoint "e": address "192.0.2.1:80" is neither`},
		{"bad expect_status", base("http", func(t *Target) { t.Check.ExpectStatus = "2xx" }), `health: endpoint "e": expect_status "2xx"`},
		// A missing CA file is the node's problem, reported by each probe.
		{"missing ca_file", base("https", func(t *Target) { t.Check.CAFile = "/nonexistent/ca.pem" }), ""},
		{"relative path", base("http", func(t *Target) { t.Check.Path = "healthz" }), `health: endpoint "e": path "healthz" does not start with /`},
		{"bad method", base("http", func(t *Target) { t.Check.Method = "GE T" }), `health: endpoint "e": method "GE T"`},
		{"HEAD with body", base("http", func(t *Target) { t.Check.Method = "HEAD"; t.Check.BodyContains = "ok" }), `health: endpoint "e": body_contains cannot be checked with method HEAD`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewChecker(tt.t)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want a checker", err)
				}
				closeChecker(c)
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func TestProbeAddr(t *testing.T) {
	tests := []struct {
		name      string
		typ       string
		address   string
		port      int
		checkPort int
		want      string
	}{
		{"ipv4", "tcp", "192.0.2.1", 5432, 0, "192.0.2.1:5432"},
		{"ipv6 bracketed", "tcp", "2001:db8::1", 5432, 0, "[2001:db8::1]:5432"},
		{"ipv6 brackets tolerated", "tcp", "[2001:db8::1]", 5432, 0, "[2001:db8::1]:5432"},
		{"host name", "tcp", "db.example.com", 5432, 0, "db.example.com:5432"},
		{"check port wins", "http", "192.0.2.1", 80, 8080, "192.0.2.1:8080"},
		{"http default port", "http", "192.0.2.1", 0, 0, "192.0.2.1:80"},
		{"https default port", "https", "2001:db8::1", 0, 0, "[2001:db8::1]:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := probeAddr(Target{Address: tt.address, Port: tt.port, Check: config.Check{Type: tt.typ, Port: tt.checkPort}})
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}
