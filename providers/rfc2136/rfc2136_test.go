package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/providers/rfc2136/rfc2136test"
	"github.com/switchboard-dns/switchboard/zone"
)

func settings(mod func(*config.RFC2136Settings)) *config.Provider {
	s := &config.RFC2136Settings{Server: "127.0.0.1:53", TSIGKey: "k.", TSIGAlgorithm: "hmac-sha256",
		TSIGSecretEnv: "K", Transfer: "axfr", Timeout: config.Duration(time.Second)}
	if mod != nil {
		mod(s)
	}
	return &config.Provider{Type: config.ProviderRFC2136, RFC2136: s}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *config.Provider
		wantErr bool
	}{
		{"valid", settings(nil), false},
		{"defaults", settings(func(s *config.RFC2136Settings) { s.TSIGAlgorithm, s.Transfer, s.Timeout = "", "", 0 }), false},
		{"no TSIG", settings(func(s *config.RFC2136Settings) { s.TSIGKey, s.TSIGSecretEnv = "", "" }), false},
		{"no settings", &config.Provider{Type: config.ProviderRFC2136}, true},
		{"no server", settings(func(s *config.RFC2136Settings) { s.Server = "" }), true},
		{"bad algorithm", settings(func(s *config.RFC2136Settings) { s.TSIGAlgorithm = "hmac-md5" }), true},
		{"bad transfer", settings(func(s *config.RFC2136Settings) { s.Transfer = "ixfr" }), true},
		{"key without secret", settings(func(s *config.RFC2136Settings) { s.TSIGSecretEnv = "" }), true},
		{"two secrets", settings(func(s *config.RFC2136Settings) { s.TSIGSecretFile = "/x" }), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New("p", tc.cfg, providers.Env{})
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("New: got error %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, providers.ErrInvalid) {
				t.Errorf("New: got %v (kind %s), want invalid", err, providers.KindOf(err))
			}
			if err == nil && p.Capabilities() != (providers.Capabilities{Atomic: true, MaxChanges: MaxChanges}) {
				t.Errorf("Capabilities: got %+v, want atomic, %d", p.Capabilities(), MaxChanges)
			}
		})
	}
}

// TestSecretSources reads the TSIG secret from each kind of file and from
// the environment, and writes with it to BIND; a missing or bad secret is
// ErrInvalid and never printed.
func TestSecretSources(t *testing.T) {
	s := startBIND(t)
	k := s.Key(t, "hmac-sha256")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bindFile := write("tsig-keygen.key", fmt.Sprintf("key %q {\n\talgorithm hmac-sha256;\n\tsecret %q;\n};\n", strings.TrimSuffix(k.Name, "."), k.Secret))
	knotFile := write("keymgr.yaml", fmt.Sprintf("# hmac-sha256:%s:%s\nkey:\n  - id: %s\n    algorithm: hmac-sha256\n    secret: %s\n", k.Name, k.Secret, k.Name, k.Secret))
	bareFile := write("bare", k.Secret+"\n")
	badFile := write("bad", "not base64 at all!\n")
	env := providers.Env{Getenv: func(n string) string {
		switch n {
		case "GOOD":
			return k.Secret
		case "BAD":
			return "%%%"
		}
		return ""
	}}
	tests := []struct {
		name      string
		file, env string
		wantErr   bool
	}{
		{"tsig-keygen file", bindFile, "", false},
		{"keymgr file", knotFile, "", false},
		{"bare file", bareFile, "", false},
		{"environment", "", "GOOD", false},
		{"missing file", filepath.Join(dir, "nope"), "", true},
		{"bad file", badFile, "", true},
		{"unset variable", "", "UNSET", true},
		{"bad variable", "", "BAD", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := settings(func(c *config.RFC2136Settings) {
				c.Server, c.TSIGKey, c.TSIGSecretFile, c.TSIGSecretEnv = s.Addr(), k.Name, tc.file, tc.env
			})
			p, err := New("p", cfg, env)
			if err != nil {
				t.Fatalf("New: %v (it must not read the secret)", err)
			}
			set := zone.MustRRset(fmt.Sprintf("secret%d.%s", i, testZone), dns.TypeA, 60, "192.0.2.1")
			_, err = providertest.Reconcile(t.Context(), p, testZone, 0, []zone.RRset{set}, []zone.Key{set.Key()})
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("reconcile: got %v, want nil", err)
				}
				c, err := p.Read(t.Context(), testZone, []zone.Key{set.Key()})
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := c.Lookup(set.Key()); !got.Equal(set) {
					t.Errorf("read: got %v, want %v", got, set)
				}
				return
			}
			if !errors.Is(err, providers.ErrInvalid) {
				t.Fatalf("reconcile: got %v (kind %s), want invalid", err, providers.KindOf(err))
			}
			if strings.Contains(err.Error(), k.Secret) || strings.Contains(fmt.Sprint(p), k.Secret) {
				t.Errorf("the secret appears in %q or %q", err, p)
			}
		})
	}
}

// TestAlgorithms writes and reads with each TSIG algorithm against both
// servers.
func TestAlgorithms(t *testing.T) {
	for _, srv := range []struct {
		name  string
		start func(testing.TB) *server
	}{{"bind", startBIND}, {"knot", startKnot}} {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			for _, alg := range []string{"hmac-sha256", "hmac-sha512", "hmac-sha1"} {
				for _, transfer := range []string{"axfr", "query"} {
					t.Run(alg+"/"+transfer, func(t *testing.T) {
						p := newProvider(t, s.Addr(), s.Key(t, alg), transfer)
						name := strings.ReplaceAll(alg, "-", "") + "-" + transfer + "." + testZone
						v1 := zone.MustRRset(name, dns.TypeA, 60, "192.0.2.1")
						v2 := zone.MustRRset(name, dns.TypeA, 60, "192.0.2.2")
						keys := []zone.Key{v1.Key()}
						for _, want := range []zone.RRset{v1, v2} {
							if _, err := providertest.Reconcile(t.Context(), p, testZone, 0, []zone.RRset{want}, keys); err != nil {
								t.Fatalf("reconcile: %v", err)
							}
							c, err := p.Read(t.Context(), testZone, keys)
							if err != nil {
								t.Fatalf("read: %v", err)
							}
							if got, _ := c.Lookup(v1.Key()); !got.Equal(want) {
								t.Errorf("read: got %v, want %v", got, want)
							}
						}
					})
				}
			}
		})
	}
}

// TestRefused: a wrong secret, an unknown key, a wrong algorithm and a zone
// the server does not serve are all ErrInvalid, for reads and writes.
func TestRefused(t *testing.T) {
	for _, srv := range []struct {
		name  string
		start func(testing.TB) *server
	}{{"bind", startBIND}, {"knot", startKnot}} {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			good := s.Key(t, "hmac-sha256")
			wrong := rfc2136test.NewKey(t, good.Name, good.Algorithm)
			tests := []struct {
				name   string
				key    rfc2136test.Key
				origin string
			}{
				{"wrong secret", wrong, testZone},
				{"unknown key", rfc2136test.NewKey(t, "nobody.", "hmac-sha256"), testZone},
				{"wrong algorithm", rfc2136test.Key{Name: good.Name, Algorithm: "hmac-sha512", Secret: good.Secret}, testZone},
				{"zone not served", good, "other.test."},
			}
			for _, tc := range tests {
				for _, transfer := range []string{"axfr", "query"} {
					t.Run(tc.name+"/"+transfer, func(t *testing.T) {
						p := newProvider(t, s.Addr(), tc.key, transfer)
						set := zone.MustRRset("refused."+tc.origin, dns.TypeA, 60, "192.0.2.1")
						_, err := p.Read(t.Context(), tc.origin, []zone.Key{set.Key()})
						if !errors.Is(err, providers.ErrInvalid) {
							t.Errorf("read: got %v (kind %s), want invalid", err, providers.KindOf(err))
						}
						err = p.Apply(t.Context(), &providers.ChangeSet{Zone: tc.origin, Generation: 1,
							Changes: []providers.Change{{Key: set.Key(), New: &set}}})
						if !errors.Is(err, providers.ErrInvalid) {
							t.Errorf("apply: got %v (kind %s), want invalid", err, providers.KindOf(err))
						}
						if err != nil && strings.Contains(err.Error(), tc.key.Secret) {
							t.Errorf("the secret appears in %q", err)
						}
					})
				}
			}
			if got := s.Dump(t); len(got) != 2 {
				t.Errorf("zone after refused writes: got %d RRsets, want 2 (SOA, NS)", len(got))
			}
		})
	}
}

// TestUnavailable: a closed port and a server that never answers are
// ErrUnavailable, for reads and writes, within the timeout.
func TestUnavailable(t *testing.T) {
	closed := "127.0.0.1:" + rfc2136test.FreePort(t)
	// A black hole: it takes UDP datagrams and TCP connections and never
	// answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Skipf("black hole: %v", err)
	}
	defer ln.Close()
	var conns []net.Conn
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() {
		ln.Close()
		<-acceptDone
		for _, c := range conns {
			c.Close()
		}
	}()
	k := rfc2136test.NewKey(t, "k.", "hmac-sha256")
	for _, tc := range []struct{ name, addr string }{{"closed port", closed}, {"no answer", pc.LocalAddr().String()}} {
		for _, transfer := range []string{"axfr", "query"} {
			t.Run(tc.name+"/"+transfer, func(t *testing.T) {
				p := newProvider(t, tc.addr, k, transfer)
				p.timeout = 300 * time.Millisecond
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				set := zone.MustRRset("down."+testZone, dns.TypeA, 60, "192.0.2.1")
				start := time.Now()
				_, err := p.Read(ctx, testZone, []zone.Key{set.Key()})
				if !errors.Is(err, providers.ErrUnavailable) {
					t.Errorf("read: got %v (kind %s), want unavailable", err, providers.KindOf(err))
				}
				err = p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: set.Key(), New: &set}}})
				if !errors.Is(err, providers.ErrUnavailable) {
					t.Errorf("apply: got %v (kind %s), want unavailable", err, providers.KindOf(err))
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("took %v, want well under 5s with a 300ms timeout", d)
				}
			})
		}
	}
}

// TestTransports checks through the counting proxy that a small UPDATE
// goes over UDP, a large one over TCP, and that a truncated UDP answer is
// asked again over TCP.
func TestTransports(t *testing.T) {
	s := startKnot(t)
	px := startProxy(t, s.Addr())
	p := newProvider(t, px.addr, s.Key(t, "hmac-sha256"), "query")
	ctx := t.Context()

	small := zone.MustRRset("small."+testZone, dns.TypeA, 60, "192.0.2.1")
	var big []string
	for i := range 8 {
		big = append(big, fmt.Sprintf(`"%d%s"`, i, strings.Repeat("x", 250)))
	}
	large := zone.MustRRset("large."+testZone, dns.TypeTXT, 60, big...)

	u0, t0 := px.udpUpd.Load(), px.tcpUpd.Load()
	if _, err := providertest.Reconcile(ctx, p, testZone, 1, []zone.RRset{small}, []zone.Key{small.Key()}); err != nil {
		t.Fatal(err)
	}
	if du, dt := px.udpUpd.Load()-u0, px.tcpUpd.Load()-t0; du != 1 || dt != 0 {
		t.Errorf("small UPDATE: got %d over UDP and %d over TCP, want 1 and 0", du, dt)
	}

	u0, t0 = px.udpUpd.Load(), px.tcpUpd.Load()
	keys := []zone.Key{small.Key(), large.Key()}
	if _, err := providertest.Reconcile(ctx, p, testZone, 2, []zone.RRset{small, large}, keys); err != nil {
		t.Fatal(err)
	}
	if du, dt := px.udpUpd.Load()-u0, px.tcpUpd.Load()-t0; du != 0 || dt != 1 {
		t.Errorf("UPDATE of %d bytes of TXT: got %d over UDP and %d over TCP, want 0 and 1", 8*251, du, dt)
	}

	tc0, tcp0 := px.tcQuery.Load(), px.tcp.Load()
	c, err := p.Read(ctx, testZone, []zone.Key{large.Key()})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Lookup(large.Key()); !got.Equal(large) {
		t.Errorf("read over the TCP fallback: got %d texts, want %d", len(got.Data), len(large.Data))
	}
	if dtc, dtcp := px.tcQuery.Load()-tc0, px.tcp.Load()-tcp0; dtc < 1 || dtcp < 1 {
		t.Errorf("read of a large RRset: got %d truncated UDP answers and %d TCP queries, want at least 1 each", dtc, dtcp)
	}
}

// TestApplyRefusesBadChangeSets: what cannot be a valid UPDATE is refused
// before anything is sent.
func TestApplyRefusesBadChangeSets(t *testing.T) {
	p := newProvider(t, "127.0.0.1:1", rfc2136test.NewKey(t, "k.", "hmac-sha256"), "axfr")
	var sent int
	p.onExchange = func(string, int) { sent++ }
	a := zone.MustRRset("a."+testZone, dns.TypeA, 60, "192.0.2.1")
	out := zone.MustRRset("a.example.org.", dns.TypeA, 60, "192.0.2.1")
	fence := providers.FenceRRset(testZone, 3)
	many := make([]providers.Change, MaxChanges+1)
	for i := range many {
		s := zone.MustRRset(fmt.Sprintf("m%d.%s", i, testZone), dns.TypeA, 60, "192.0.2.1")
		many[i] = providers.Change{Key: s.Key(), New: &s}
	}
	for _, tc := range []struct {
		name    string
		changes []providers.Change
	}{
		{"outside the zone", []providers.Change{{Key: out.Key(), New: &out}}},
		{"twice", []providers.Change{{Key: a.Key(), New: &a}, {Key: a.Key(), New: &a}}},
		{"the fence", []providers.Change{{Key: fence.Key(), New: &fence}}},
		{"key mismatch", []providers.Change{{Key: out.Key(), New: &a}}},
		{"too many", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Apply(t.Context(), &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: tc.changes})
			if !errors.Is(err, providers.ErrInvalid) {
				t.Errorf("got %v (kind %s), want invalid", err, providers.KindOf(err))
			}
			if sent != 0 {
				t.Errorf("requests sent: got %d, want 0", sent)
			}
		})
	}
}

// TestRestrictedKey configures the servers as docs/providers/rfc2136.md
// suggests, with the key limited to the managed names and the fencing
// record: writes to those work, a write to any other name is refused as
// ErrInvalid with nothing applied.
func TestRestrictedKey(t *testing.T) {
	fence := providers.FenceName(testZone)
	for _, srv := range []struct {
		name  string
		start func(testing.TB) *server
	}{
		{"bind", func(t testing.TB) *server {
			return startBINDWith(t, fmt.Sprintf(`update-policy { grant sb-256. name www.%s A AAAA CNAME; grant sb-256. name %s TXT; };`, testZone, fence))
		}},
		{"knot", func(t testing.TB) *server {
			return startKnotWith(t, fmt.Sprintf("    update-type: [A, AAAA, CNAME, TXT]\n    update-owner: name\n    update-owner-match: equal\n    update-owner-name: [www.%s, %s]\n", testZone, fence))
		}},
	} {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			p := newProvider(t, s.Addr(), s.Key(t, "hmac-sha256"), "axfr")
			www := zone.MustRRset("www."+testZone, dns.TypeA, 60, "192.0.2.1")
			www6 := zone.MustRRset("www."+testZone, dns.TypeAAAA, 60, "2001:db8::1")
			other := zone.MustRRset("other."+testZone, dns.TypeA, 60, "192.0.2.2")
			managed := []zone.Key{www.Key(), www6.Key(), other.Key()}
			if _, err := providertest.Reconcile(t.Context(), p, testZone, 1, []zone.RRset{www, www6}, managed); err != nil {
				t.Fatalf("reconcile the granted names: %v", err)
			}
			www2 := zone.MustRRset("www."+testZone, dns.TypeA, 60, "192.0.2.3")
			_, err := providertest.Reconcile(t.Context(), p, testZone, 2, []zone.RRset{www2, www6, other}, managed)
			if !errors.Is(err, providers.ErrInvalid) {
				t.Fatalf("reconcile a name the key may not write: got %v (kind %s), want invalid", err, providers.KindOf(err))
			}
			c, err := p.Read(t.Context(), testZone, managed)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := c.Lookup(www.Key()); !got.Equal(www) || c.Fence != 1 || len(c.RRsets) != 2 {
				t.Errorf("after the refused write: got %v, fence %d; want generation 1's content", c.RRsets, c.Fence)
			}
		})
	}
}

// TestCASAtWriteTime changes an RRset after the provider's own read and
// just before its UPDATE leaves: the server's prerequisites refuse it, so
// the compare-and-swap holds at the moment of the write.
func TestCASAtWriteTime(t *testing.T) {
	for _, srv := range []struct {
		name  string
		start func(testing.TB) *server
	}{{"bind", startBIND}, {"knot", startKnot}} {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			p := newProvider(t, s.Addr(), s.Key(t, "hmac-sha256"), "axfr")
			www1 := zone.MustRRset("www."+testZone, dns.TypeA, 60, "192.0.2.1")
			www2 := zone.MustRRset("www."+testZone, dns.TypeA, 60, "192.0.2.2")
			racer := zone.MustRRset("www."+testZone, dns.TypeA, 60, "203.0.113.9")
			if _, err := providertest.Reconcile(t.Context(), p, testZone, 1, []zone.RRset{www1}, []zone.Key{www1.Key()}); err != nil {
				t.Fatal(err)
			}
			raced := 0
			p.onExchange = func(_ string, opcode int) {
				if opcode == dns.OpcodeUpdate && raced == 0 {
					raced++
					(&backend{s: s}).Put(t.Context(), t, racer)
				}
			}
			err := p.Apply(t.Context(), &providers.ChangeSet{Zone: testZone, Generation: 2, ExpectFence: 1,
				Changes: []providers.Change{{Key: www1.Key(), Old: &www1, New: &www2}}})
			if raced != 1 {
				t.Fatalf("UPDATEs raced: got %d, want 1", raced)
			}
			if !errors.Is(err, providers.ErrConflict) {
				t.Fatalf("apply after a change behind its back: got %v (kind %s), want conflict", err, providers.KindOf(err))
			}
			got := map[zone.Key]zone.RRset{}
			for _, rs := range s.Dump(t) {
				got[rs.Key()] = rs
			}
			if !got[www1.Key()].Equal(racer) {
				t.Errorf("www after the refused UPDATE: got %v, want %v", got[www1.Key()], racer)
			}
			if f := providers.FenceRRset(testZone, 1); !got[f.Key()].Equal(f) {
				t.Errorf("fence after the refused UPDATE: got %v, want %v", got[f.Key()], f)
			}
		})
	}
}

// TestUpdateMessage checks the sections of the UPDATE built for a change
// set: value-dependent prerequisites for what is expected (fence
// included), "does not exist" for creates, deletions before additions.
func TestUpdateMessage(t *testing.T) {
	www := zone.MustRRset("www."+testZone, dns.TypeA, 60, "192.0.2.1", "192.0.2.2")
	www2 := zone.MustRRset("www."+testZone, dns.TypeA, 30, "192.0.2.3")
	api := zone.MustRRset("api."+testZone, dns.TypeCNAME, 60, "lb.example.net.")
	old := zone.MustRRset("old."+testZone, dns.TypeTXT, 60, `"x"`)
	fence := providers.FenceName(testZone)
	tests := []struct {
		name          string
		expect        uint64
		changes       []providers.Change
		prereq, updat []string
	}{
		{
			name:   "first write",
			expect: 0,
			changes: []providers.Change{
				{Key: api.Key(), New: &api},
			},
			prereq: []string{fence + " 0 NONE TXT", "api.example.test. 0 NONE CNAME"},
			updat: []string{
				fence + " 0 CLASS255 TXT",
				fence + ` 60 IN TXT "switchboard-generation=5"`,
				"api.example.test. 60 IN CNAME lb.example.net.",
			},
		},
		{
			name:   "update and delete",
			expect: 4,
			changes: []providers.Change{
				{Key: www.Key(), Old: &www, New: &www2},
				{Key: old.Key(), Old: &old},
			},
			prereq: []string{
				fence + ` 0 IN TXT "switchboard-generation=4"`,
				"www.example.test. 0 IN A 192.0.2.1", "www.example.test. 0 IN A 192.0.2.2",
				`old.example.test. 0 IN TXT "x"`,
			},
			updat: []string{
				fence + " 0 CLASS255 TXT",
				"www.example.test. 0 CLASS255 A",
				"old.example.test. 0 CLASS255 TXT",
				fence + ` 60 IN TXT "switchboard-generation=5"`,
				"www.example.test. 30 IN A 192.0.2.3",
			},
		},
	}
	// miekg/dns prints class ANY (255) as CLASS255.
	flat := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			out = append(out, strings.Join(strings.Fields(rr.String()), " "))
		}
		return out
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := updateMessage(testZone, &providers.ChangeSet{Zone: testZone, Generation: 5, ExpectFence: tc.expect, Changes: tc.changes})
			if err != nil {
				t.Fatal(err)
			}
			if m.Opcode != dns.OpcodeUpdate || len(m.Question) != 1 || m.Question[0].Name != testZone || m.Question[0].Qtype != dns.TypeSOA {
				t.Errorf("header: got opcode %d, zone %v; want UPDATE of %s SOA", m.Opcode, m.Question, testZone)
			}
			if got := flat(m.Answer); strings.Join(got, "\n") != strings.Join(tc.prereq, "\n") {
				t.Errorf("prerequisites: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.prereq, "\n"))
			}
			if got := flat(m.Ns); strings.Join(got, "\n") != strings.Join(tc.updat, "\n") {
				t.Errorf("updates: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.updat, "\n"))
			}
		})
	}
}
