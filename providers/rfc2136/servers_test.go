package rfc2136

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/rfc2136/rfc2136test"
	"github.com/switchboard-dns/switchboard/zone"
)

const testZone = "example.test."

// server is a real BIND or Knot serving testZone with a key of every
// algorithm that may update and transfer it.
type server = rfc2136test.Server

// startBIND runs named; every key may update and transfer the zone.
func startBIND(t testing.TB) *server { return startBINDWith(t, "") }

// startBINDWith is startBIND with update clause instead of allow-update
// (e.g. an update-policy), when it is not empty.
func startBINDWith(t testing.TB, update string) *server {
	t.Helper()
	return rfc2136test.StartBIND(t, rfc2136test.Options{
		Zones: []rfc2136test.Zone{{Name: testZone}}, Algorithms: rfc2136test.Algorithms, BINDUpdate: update,
	})
}

// startKnot runs knotd; every key may update and transfer the zone.
func startKnot(t testing.TB) *server { return startKnotWith(t, "") }

// startKnotWith is startKnot with more lines (indented 4 spaces) in the
// ACL, e.g. update-owner limits.
func startKnotWith(t testing.TB, aclExtra string) *server {
	t.Helper()
	return rfc2136test.StartKnot(t, rfc2136test.Options{
		Zones: []rfc2136test.Zone{{Name: testZone}}, Algorithms: rfc2136test.Algorithms, KnotACL: aclExtra,
	})
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
		port := rfc2136test.FreePort(t)
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
	return newProvider(t, b.px.addr, b.s.Key(t, b.alg), b.transfer)
}

// newProvider builds a provider for addr through New, the secret in an
// environment variable of the provider's own Getenv.
func newProvider(t testing.TB, addr string, k rfc2136test.Key, transfer string) *Provider {
	t.Helper()
	cfg := &config.Provider{Type: config.ProviderRFC2136, RFC2136: &config.RFC2136Settings{
		Server: addr, TSIGKey: k.Name, TSIGAlgorithm: k.Algorithm, TSIGSecretEnv: "SB_TSIG_SECRET",
		Transfer: transfer, Timeout: config.Duration(5 * time.Second),
	}}
	env := providers.Env{Getenv: func(name string) string {
		if name == "SB_TSIG_SECRET" {
			return k.Secret
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
	for _, s := range b.s.Dump(t) {
		if s.Name == testZone && (s.Type == dns.TypeSOA || s.Type == dns.TypeNS) {
			continue
		}
		del = append(del, &dns.ANY{Hdr: dns.RR_Header{Name: s.Name, Rrtype: s.Type, Class: dns.ClassINET}})
	}
	for len(del) > 0 {
		n := min(len(del), 1000)
		b.s.Update(t, func(m *dns.Msg) { m.RemoveRRset(del[:n]) })
		del = del[n:]
	}
}

func (b *backend) Put(ctx context.Context, t testing.TB, sets ...zone.RRset) {
	t.Helper()
	b.s.Update(t, func(m *dns.Msg) {
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

func (b *backend) Dump(ctx context.Context, t testing.TB) []zone.RRset { return b.s.Dump(t) }

func (b *backend) Writes() int { return int(b.px.updates.Load()) }
