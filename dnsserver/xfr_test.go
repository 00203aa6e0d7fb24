package dnsserver

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

const (
	tsigName   = "xfr.example.com."
	tsigSecret = "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IQ=="
	otherKey   = "b3RoZXIgb3RoZXIgb3RoZXIgb3RoZXIgb3RoZXI="
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// hostsZone is exampleZone with n more A records, for transfers of several
// messages.
func hostsZone(gen uint64, n int) *zone.Zone {
	z := exampleZone(gen)
	for i := range n {
		z.Records = append(z.Records, mkset(fmt.Sprintf("h%04d.example.com.", i), dns.TypeA, 300, fmt.Sprintf("198.51.100.%d", i%250+1)))
	}
	zone.SortRRsets(z.Records)
	return z
}

// zoneLines is the content a transfer of z must carry, SOA excluded,
// sorted.
func zoneLines(t *testing.T, z *zone.Zone) []string {
	t.Helper()
	var rrs []dns.RR
	for _, s := range z.Records {
		r, err := s.RRs()
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, r...)
	}
	out := flat(rrs)
	slices.Sort(out)
	return out
}

// transferIn runs an AXFR or IXFR with miekg's client and returns the
// records and the number of records in each message.
func transferIn(t *testing.T, addr string, m *dns.Msg, secrets map[string]string) ([]dns.RR, []int, error) {
	t.Helper()
	tr := &dns.Transfer{TsigSecret: secrets, ReadTimeout: 5 * time.Second}
	ch, err := tr.In(m, addr)
	if err != nil {
		return nil, nil, err
	}
	var rrs []dns.RR
	var sizes []int
	for env := range ch {
		if env.Error != nil {
			return nil, nil, env.Error
		}
		rrs = append(rrs, env.RR...)
		sizes = append(sizes, len(env.RR))
	}
	return rrs, sizes, nil
}

func checkFullTransfer(t *testing.T, rrs []dns.RR, sizes []int, z *zone.Zone) {
	t.Helper()
	if len(rrs) < 2 {
		t.Fatalf("got %d records, want at least the two SOA", len(rrs))
	}
	first, last := rrs[0], rrs[len(rrs)-1]
	for _, soa := range []dns.RR{first, last} {
		if s, ok := soa.(*dns.SOA); !ok || s.Serial != z.Serial() {
			t.Errorf("got %v at an end, want the SOA with serial %d", soa, z.Serial())
		}
	}
	got := flat(rrs[1 : len(rrs)-1])
	slices.Sort(got)
	if want := zoneLines(t, z); !slices.Equal(got, want) {
		t.Errorf("got %d records, want %d:\n%q\n%q", len(got), len(want), got, want)
	}
	for i, n := range sizes {
		if n > MaxXFRRecords {
			t.Errorf("message %d has %d records, want at most %d", i, n, MaxXFRRecords)
		}
	}
}

func TestAXFR(t *testing.T) {
	z := hostsZone(9, 300)
	s := New(Options{Logger: testLog, AXFRAllow: loopback})
	if err := s.Load([]*zone.Zone{z}); err != nil {
		t.Fatal(err)
	}
	addr := start(t, s)

	m := new(dns.Msg)
	m.SetAxfr("example.com.")
	rrs, sizes, err := transferIn(t, addr, m, nil)
	if err != nil {
		t.Fatalf("AXFR: %v", err)
	}
	checkFullTransfer(t, rrs, sizes, z)
	if len(sizes) < 4 {
		t.Errorf("got %d messages, want at least 4 for %d records", len(sizes), len(rrs))
	}

	t.Run("IXFR from an old serial is a full transfer", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetIxfr("example.com.", 5, "ns1.example.com.", "hostmaster.example.com.")
		rrs, sizes, err := transferIn(t, addr, m, nil)
		if err != nil {
			t.Fatalf("IXFR: %v", err)
		}
		checkFullTransfer(t, rrs, sizes, z)
	})

	for _, tc := range []struct {
		name    string
		serial  uint32
		network string
	}{
		{"IXFR from the current serial", 9, "tcp"},
		{"IXFR from a newer serial", 10, "tcp"},
		{"IXFR over UDP", 5, "udp"},
	} {
		t.Run(tc.name+" is one SOA", func(t *testing.T) {
			m := new(dns.Msg)
			m.SetIxfr("example.com.", tc.serial, "ns1.example.com.", "hostmaster.example.com.")
			r := exchange(t, addr, tc.network, m)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
				t.Fatalf("got rcode %s AA %v, want NOERROR AA", dns.RcodeToString[r.Rcode], r.Authoritative)
			}
			if got, want := flat(r.Answer), []string{soaLine(3600, 9)}; !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestAXFRRefused(t *testing.T) {
	z := exampleZone(9)
	open := New(Options{Logger: testLog, AXFRAllow: loopback})
	closed := New(Options{Logger: testLog})
	elsewhere := New(Options{Logger: testLog, AXFRAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	for _, s := range []*Server{open, closed, elsewhere} {
		if err := s.Load([]*zone.Zone{z}); err != nil {
			t.Fatal(err)
		}
	}
	openAddr, closedAddr, elsewhereAddr := start(t, open), start(t, closed), start(t, elsewhere)

	tests := []struct {
		name    string
		addr    string
		qname   string
		qtype   uint16
		network string
		rcode   int
	}{
		{"AXFR over UDP", openAddr, "example.com.", dns.TypeAXFR, "udp", dns.RcodeRefused},
		{"no AXFRAllow", closedAddr, "example.com.", dns.TypeAXFR, "tcp", dns.RcodeRefused},
		{"no AXFRAllow, IXFR", closedAddr, "example.com.", dns.TypeIXFR, "tcp", dns.RcodeRefused},
		{"address not allowed", elsewhereAddr, "example.com.", dns.TypeAXFR, "tcp", dns.RcodeRefused},
		{"not a zone apex", openAddr, "www.example.com.", dns.TypeAXFR, "tcp", dns.RcodeNotAuth},
		{"not a zone", openAddr, "example.org.", dns.TypeAXFR, "tcp", dns.RcodeNotAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := query(tc.qname, tc.qtype)
			if tc.qtype == dns.TypeIXFR {
				m.SetIxfr(tc.qname, 1, "ns1.example.com.", "hostmaster.example.com.")
			}
			r := exchange(t, tc.addr, tc.network, m)
			if r.Rcode != tc.rcode {
				t.Errorf("got rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if len(r.Answer) != 0 {
				t.Errorf("got %d answers, want none", len(r.Answer))
			}
		})
	}
}

func TestTSIG(t *testing.T) {
	z := hostsZone(9, 300)
	s := New(Options{Logger: testLog, AXFRAllow: loopback, TSIG: map[string]string{"XFR.example.com": tsigSecret}})
	if err := s.Load([]*zone.Zone{z}); err != nil {
		t.Fatal(err)
	}
	addr := start(t, s)
	good := map[string]string{tsigName: tsigSecret}

	t.Run("signed AXFR", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetAxfr("example.com.")
		m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
		// The client verifies the signature of every message.
		rrs, sizes, err := transferIn(t, addr, m, good)
		if err != nil {
			t.Fatalf("AXFR: %v", err)
		}
		checkFullTransfer(t, rrs, sizes, z)
	})

	t.Run("unsigned AXFR is refused", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetAxfr("example.com.")
		r := exchange(t, addr, "tcp", m)
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("got rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
		}
	})

	for _, network := range []string{"udp", "tcp"} {
		t.Run("signed query/"+network, func(t *testing.T) {
			m := query("www.example.com.", dns.TypeA)
			m.SetTsig(tsigName, dns.HmacSHA512, 300, time.Now().Unix())
			c := &dns.Client{Net: network, TsigSecret: good, Timeout: 5 * time.Second}
			r, _, err := c.Exchange(m, addr)
			if err != nil {
				t.Fatalf("exchange (verifies the reply's TSIG): %v", err)
			}
			if r.IsTsig() == nil {
				t.Fatalf("got an unsigned reply, want a signed one")
			}
			if len(r.Answer) != 2 {
				t.Errorf("got %d answers, want 2", len(r.Answer))
			}
		})
	}

	tests := []struct {
		name    string
		key     string
		secret  string
		skew    time.Duration
		tsigErr uint16
	}{
		{"bad signature", tsigName, otherKey, 0, dns.RcodeBadSig},
		{"unknown key", "other.example.com.", otherKey, 0, dns.RcodeBadKey},
		{"clock skew", tsigName, tsigSecret, -time.Hour, dns.RcodeBadTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := query("www.example.com.", dns.TypeA)
			m.SetTsig(tc.key, dns.HmacSHA256, 300, time.Now().Add(tc.skew).Unix())
			c := &dns.Client{Net: "udp", TsigSecret: map[string]string{tc.key: tc.secret}, Timeout: 5 * time.Second}
			r, _, _ := c.Exchange(m, addr) // the reply may not verify: that is the point
			if r == nil {
				t.Fatal("got no reply")
			}
			if r.Rcode != dns.RcodeNotAuth {
				t.Errorf("got rcode %s, want NOTAUTH", dns.RcodeToString[r.Rcode])
			}
			ts := r.IsTsig()
			if ts == nil {
				t.Fatal("got no TSIG in the reply, want one with the error")
			}
			if ts.Error != tc.tsigErr {
				t.Errorf("got TSIG error %s, want %s", dns.RcodeToString[int(ts.Error)], dns.RcodeToString[int(tc.tsigErr)])
			}
			if signed := ts.MAC != ""; signed != (tc.tsigErr == dns.RcodeBadTime) {
				t.Errorf("got signed %v, want %v", signed, tc.tsigErr == dns.RcodeBadTime)
			}
			if len(r.Answer) != 0 {
				t.Errorf("got %d answers, want none", len(r.Answer))
			}
		})
	}
}

// TestTSIGWithoutKeys: a signed request to a server without keys is
// BADKEY, not answered as if unsigned.
func TestTSIGWithoutKeys(t *testing.T) {
	s := newLoaded(t, Options{})
	addr := start(t, s)
	m := query("www.example.com.", dns.TypeA)
	m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "udp", TsigSecret: map[string]string{tsigName: tsigSecret}, Timeout: 5 * time.Second}
	r, _, _ := c.Exchange(m, addr)
	if r == nil {
		t.Fatal("got no reply")
	}
	if ts := r.IsTsig(); r.Rcode != dns.RcodeNotAuth || ts == nil || ts.Error != dns.RcodeBadKey {
		t.Errorf("got rcode %s TSIG %v, want NOTAUTH with BADKEY", dns.RcodeToString[r.Rcode], ts)
	}
}
