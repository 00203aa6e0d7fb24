package dnsserver

import (
	"fmt"
	"net"
	"testing"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

// discard is a ResponseWriter that drops replies, for benchmarks.
type discard struct{ remote net.Addr }

func (d *discard) LocalAddr() net.Addr         { return d.remote }
func (d *discard) RemoteAddr() net.Addr        { return d.remote }
func (d *discard) WriteMsg(m *dns.Msg) error   { _, err := m.Pack(); return err }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) Close() error                { return nil }
func (d *discard) TsigStatus() error           { return nil }
func (d *discard) TsigTimersOnly(bool)         {}
func (d *discard) Hijack()                     {}

var udpClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}

// BenchmarkServeDNS runs the handler in process: lookup, reply assembly,
// packing; no sockets.
func BenchmarkServeDNS(b *testing.B) {
	s := newLoaded(b, Options{})
	edns := func(m *dns.Msg) *dns.Msg { m.SetEdns0(1232, false); return m }
	cases := []struct {
		name string
		q    *dns.Msg
	}{
		{"A", query("www.example.com.", dns.TypeA)},
		{"A/EDNS", edns(query("www.example.com.", dns.TypeA))},
		{"A/0x20", edns(query("wWw.ExaMple.cOm.", dns.TypeA))},
		{"CNAME chain", edns(query("chain1.example.com.", dns.TypeA))},
		{"NXDOMAIN", edns(query("nope.example.com.", dns.TypeA))},
		{"NODATA", edns(query("www.example.com.", dns.TypeAAAA))},
		{"wildcard", edns(query("foo.wild.example.com.", dns.TypeA))},
		{"referral", edns(query("www.deleg.example.com.", dns.TypeA))},
		{"MX with glue", edns(query("example.com.", dns.TypeMX))},
		{"weighted", edns(query("weighted.example.com.", dns.TypeA))},
		{"TC", query("big.example.com.", dns.TypeTXT)},
		{"REFUSED", edns(query("www.example.org.", dns.TypeA))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			w := &discard{remote: udpClient}
			b.ReportAllocs()
			for b.Loop() {
				s.ServeDNS(w, tc.q)
			}
		})
	}
	b.Run("A/EDNS/parallel", func(b *testing.B) {
		q := edns(query("www.example.com.", dns.TypeA))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &discard{remote: udpClient}
			for pb.Next() {
				s.ServeDNS(w, q)
			}
		})
	})
}

// largeZone returns a zone of n RRsets, one record each, of the kinds a
// managed zone holds, built directly in canonical form.
func largeZone(gen uint64, n int) *zone.Zone {
	recs := make([]zone.RRset, 0, n+1)
	recs = append(recs, zone.RRset{Name: "example.com.", Type: dns.TypeNS, TTL: 3600, Data: []string{"ns1.example.com."}})
	for i := range n {
		name := fmt.Sprintf("h%06d.svc%d.example.com.", i, i%100)
		var s zone.RRset
		switch i % 20 {
		case 0, 1:
			s = zone.RRset{Name: name, Type: dns.TypeAAAA, TTL: 60, Data: []string{fmt.Sprintf("2001:db8::%x:%x", i>>16, i&0xffff)}}
		case 2, 3:
			s = zone.RRset{Name: name, Type: dns.TypeCNAME, TTL: 60, Data: []string{fmt.Sprintf("h%06d.svc0.example.com.", i-2)}}
		case 4:
			s = zone.RRset{Name: name, Type: dns.TypeTXT, TTL: 60, Data: []string{fmt.Sprintf(`"record %d"`, i)}}
		case 5:
			s = zone.RRset{Name: name, Type: dns.TypeMX, TTL: 60, Data: []string{"10 mail.example.com."}}
		default:
			s = zone.RRset{Name: name, Type: dns.TypeA, TTL: 60, Data: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}}
		}
		recs = append(recs, s)
	}
	zone.SortRRsets(recs)
	return &zone.Zone{Origin: "example.com.", Generation: gen, SOA: testSOA, Records: recs}
}

// BenchmarkLoad compiles a 100,000-record zone: from nothing, and again
// after one record changed (the steady state: each health change is a new
// generation of an otherwise equal zone).
func BenchmarkLoad(b *testing.B) {
	const n = 100000
	z1 := largeZone(1, n)
	b.Run("100k/fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := New(Options{Logger: testLog})
			if err := s.Load([]*zone.Zone{z1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("100k/one change", func(b *testing.B) {
		s := New(Options{Logger: testLog})
		if err := s.Load([]*zone.Zone{z1}); err != nil {
			b.Fatal(err)
		}
		gen := uint64(1)
		b.ReportAllocs()
		for b.Loop() {
			gen++
			z := *z1
			z.Generation = gen
			z.Records = append([]zone.RRset(nil), z1.Records...)
			i := len(z.Records) / 2
			z.Records[i].Data = []string{fmt.Sprintf("10.255.%d.%d", gen>>8&255, gen&255)}
			z.Records[i].Type = dns.TypeA
			if err := s.Load([]*zone.Zone{&z}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
