package dnsserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

// testLog discards the server's logs in tests.
var testLog = slog.New(slog.DiscardHandler)

// testSOA is the SOA of the test zones: TTL 3600, minimum 60, so negative
// answers carry TTL 60.
var testSOA = zone.SOA{
	MName: "ns1.example.com.", RName: "hostmaster.example.com.",
	Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: 3600,
}

func mkset(name string, typ uint16, ttl uint32, data ...string) zone.RRset {
	return zone.MustRRset(name, typ, ttl, data...)
}

// exampleZone is the zone most tests query. Every behaviour of the
// package documentation has a name here.
func exampleZone(gen uint64) *zone.Zone {
	recs := []zone.RRset{
		mkset("example.com.", dns.TypeNS, 86400, "ns1.example.com.", "ns2.example.com."),
		mkset("example.com.", dns.TypeA, 300, "192.0.2.1"),
		mkset("example.com.", dns.TypeMX, 300, "10 mail.example.com."),
		mkset("example.com.", dns.TypeTXT, 300, `"v=spf1 -all"`),
		mkset("ns1.example.com.", dns.TypeA, 300, "192.0.2.53"),
		mkset("ns2.example.com.", dns.TypeAAAA, 300, "2001:db8::53"),
		mkset("mail.example.com.", dns.TypeA, 300, "192.0.2.25"),
		mkset("www.example.com.", dns.TypeA, 60, "192.0.2.80", "192.0.2.81"),
		mkset("alias.example.com.", dns.TypeCNAME, 120, "www.example.com."),
		mkset("chain1.example.com.", dns.TypeCNAME, 120, "chain2.example.com."),
		mkset("chain2.example.com.", dns.TypeCNAME, 120, "alias.example.com."),
		mkset("dangling.example.com.", dns.TypeCNAME, 120, "nothere.example.com."),
		mkset("empty.example.com.", dns.TypeCNAME, 120, "mail.example.com."),
		mkset("out.example.com.", dns.TypeCNAME, 120, "www.example.net."),
		mkset("todeleg.example.com.", dns.TypeCNAME, 120, "www.deleg.example.com."),
		mkset("loop1.example.com.", dns.TypeCNAME, 120, "loop2.example.com."),
		mkset("loop2.example.com.", dns.TypeCNAME, 120, "loop1.example.com."),
		mkset("a.b.c.example.com.", dns.TypeA, 300, "192.0.2.7"),
		mkset("*.wild.example.com.", dns.TypeA, 30, "192.0.2.99"),
		mkset("*.wild.example.com.", dns.TypeTXT, 30, `"wildcard"`),
		mkset("sub.wild.example.com.", dns.TypeTXT, 30, `"exists"`),
		mkset("a.deep.wild.example.com.", dns.TypeA, 30, "192.0.2.98"),
		mkset("*.cwild.example.com.", dns.TypeCNAME, 30, "www.example.com."),
		mkset("deleg.example.com.", dns.TypeNS, 3600, "ns.deleg.example.com.", "ns.example.net."),
		mkset("deleg.example.com.", dns.TypeDS, 3600, "12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"),
		mkset("ns.deleg.example.com.", dns.TypeA, 3600, "192.0.2.100"),
		mkset("nods.example.com.", dns.TypeNS, 3600, "ns1.example.com."),
		mkset("sub.example.com.", dns.TypeNS, 3600, "ns1.sub.example.com."),
		mkset("ns1.sub.example.com.", dns.TypeA, 3600, "192.0.2.200"),
		mkset("weighted.example.com.", dns.TypeA, 30, "192.0.2.11", "192.0.2.12"),
		mkset("gen.example.com.", dns.TypeCNAME, 30, fmt.Sprintf("g%d.example.com.", gen)),
	}
	// c0 -> c1 -> ... -> c9 -> A: nine CNAMEs from c0, eight from c1.
	for i := range 9 {
		recs = append(recs, mkset(fmt.Sprintf("c%d.example.com.", i), dns.TypeCNAME, 10, fmt.Sprintf("c%d.example.com.", i+1)))
	}
	recs = append(recs, mkset("c9.example.com.", dns.TypeA, 10, "192.0.2.9"))
	// A TXT set of about 800 bytes and one of about 1700.
	var mid, big []string
	for i := range 40 {
		txt := fmt.Sprintf(`"record %02d %s"`, i, strings.Repeat("x", 24))
		if i < 20 {
			mid = append(mid, txt)
		}
		big = append(big, txt)
	}
	recs = append(recs, mkset("mid.example.com.", dns.TypeTXT, 60, mid...), mkset("big.example.com.", dns.TypeTXT, 60, big...))
	// An MX whose glue (16 AAAA) overflows 512 bytes, optional.
	var mxs []string
	for i := range 4 {
		host := fmt.Sprintf("m%d.example.com.", i)
		mxs = append(mxs, fmt.Sprintf("%d %s", 10*i, host))
		recs = append(recs, mkset(host, dns.TypeAAAA, 60, fmt.Sprintf("2001:db8:1::%d", 2*i+1), fmt.Sprintf("2001:db8:1::%d", 2*i+2),
			fmt.Sprintf("2001:db8:2::%d", 2*i+1), fmt.Sprintf("2001:db8:2::%d", 2*i+2)))
	}
	recs = append(recs, mkset("mxbig.example.com.", dns.TypeMX, 60, mxs...))
	// A delegation whose glue (in-domain, so required) overflows 512 bytes.
	var bigNS []string
	for i := range 8 {
		host := fmt.Sprintf("ns%d.bigdeleg.example.com.", i)
		bigNS = append(bigNS, host)
		recs = append(recs, mkset(host, dns.TypeAAAA, 60, fmt.Sprintf("2001:db8:3::%d", 2*i+1), fmt.Sprintf("2001:db8:3::%d", 2*i+2)))
	}
	recs = append(recs, mkset("bigdeleg.example.com.", dns.TypeNS, 60, bigNS...))
	zone.SortRRsets(recs)

	wk := zone.Key{Name: "weighted.example.com.", Type: dns.TypeA}
	return &zone.Zone{
		Origin:     "example.com.",
		Generation: gen,
		SOA:        testSOA,
		Records:    recs,
		Managed:    []zone.Key{wk},
		Picks: map[zone.Key]zone.Pick{
			wk: {Weights: map[string]uint32{"192.0.2.11": 3, "192.0.2.12": 1}, MaxAnswers: 1},
		},
	}
}

// subZone is sub.example.com., delegated from exampleZone and loaded
// beside it.
func subZone(gen uint64) *zone.Zone {
	soa := testSOA
	soa.MName = "ns1.sub.example.com."
	return &zone.Zone{
		Origin:     "sub.example.com.",
		Generation: gen,
		SOA:        soa,
		Records: []zone.RRset{
			mkset("sub.example.com.", dns.TypeNS, 3600, "ns1.sub.example.com."),
			mkset("ns1.sub.example.com.", dns.TypeA, 3600, "192.0.2.200"),
			mkset("www.sub.example.com.", dns.TypeA, 300, "192.0.2.201"),
		},
	}
}

// newLoaded returns a server with exampleZone and subZone loaded.
func newLoaded(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLog
	}
	s := New(opts)
	if err := s.Load([]*zone.Zone{exampleZone(7), subZone(3)}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

// start serves s on 127.0.0.1 port 0 until the test ends and returns the
// address (UDP and TCP share it).
func start(t testing.TB, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	udp, tcp, err := s.Start(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	if udp.String() != tcp.String() {
		t.Fatalf("udp %v, tcp %v: want the same address", udp, tcp)
	}
	return udp.String()
}

// exchange sends m over network ("udp" or "tcp") and returns the reply.
func exchange(t testing.TB, addr, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", m.Question[0].Name, dns.Type(m.Question[0].Qtype), network, err)
	}
	return r
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	return m
}

// flat prints records one per string with fields separated by single
// spaces, so tests can spell them without tabs. OPT records are left out.
func flat(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

func soaLine(ttl uint32, serial uint32) string {
	return fmt.Sprintf("example.com. %d IN SOA ns1.example.com. hostmaster.example.com. %d 3600 600 86400 60", ttl, serial)
}

// recorder is an in-process [dns.ResponseWriter]: it unpacks what the
// handler writes, so every reply is also checked to pack.
type recorder struct {
	remote net.Addr
	tsig   error
	msgs   []*dns.Msg
	err    error
}

func newRecorder(tcp bool) *recorder {
	if tcp {
		return &recorder{remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}}
	}
	return &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}}
}

func (r *recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		r.err = err
		return err
	}
	_, err = r.Write(b)
	return err
}
func (r *recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		r.err = err
		return 0, err
	}
	r.msgs = append(r.msgs, m)
	return len(b), nil
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return r.tsig }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// serve runs one query through the handler in process and returns its
// only reply.
func serve(t testing.TB, s *Server, m *dns.Msg, tcp bool) *dns.Msg {
	t.Helper()
	w := newRecorder(tcp)
	// Round-trip the query through the wire form, as the server does.
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack query: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(b); err != nil {
		t.Fatalf("unpack query: %v", err)
	}
	s.ServeDNS(w, r)
	if w.err != nil {
		t.Fatalf("reply: %v", w.err)
	}
	if len(w.msgs) != 1 {
		t.Fatalf("got %d replies, want 1", len(w.msgs))
	}
	return w.msgs[0]
}
