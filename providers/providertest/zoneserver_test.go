package providertest

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

func TestAnswer(t *testing.T) {
	sets := map[zone.Key]zone.RRset{}
	for _, s := range []zone.RRset{
		zone.MustRRset("example.com.", dns.TypeSOA, 60, "ns1.example.com. h.example.com. 1 60 60 60 60"),
		zone.MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.1", "192.0.2.2"),
		zone.MustRRset("alias.example.com.", dns.TypeCNAME, 30, "www.example.com."),
		zone.MustRRset("a.b.example.com.", dns.TypeTXT, 30, `"deep"`),
	} {
		sets[s.Key()] = s
	}
	content := func(q string) (string, map[zone.Key]zone.RRset, bool) {
		if !zone.InZone(q, "example.com.") {
			return "", nil, false
		}
		return "example.com.", sets, true
	}
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		answers   int
		authority bool
	}{
		{"RRset", "WWW.example.com.", dns.TypeA, dns.RcodeSuccess, 2, false},
		{"CNAME for another type", "alias.example.com.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"NODATA", "www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, 0, true},
		{"empty non-terminal is NODATA", "b.example.com.", dns.TypeA, dns.RcodeSuccess, 0, true},
		{"NXDOMAIN", "nope.example.com.", dns.TypeA, dns.RcodeNameError, 0, true},
		{"outside the zone", "example.org.", dns.TypeA, dns.RcodeRefused, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := new(dns.Msg)
			req.SetQuestion(tc.qname, tc.qtype)
			m := Answer(req, true, content)
			if m.Rcode != tc.rcode || len(m.Answer) != tc.answers || (len(m.Ns) == 1) != tc.authority {
				t.Errorf("got rcode %s, %d answers, %d authority; want %s, %d, SOA in authority %v",
					dns.RcodeToString[m.Rcode], len(m.Answer), len(m.Ns), dns.RcodeToString[tc.rcode], tc.answers, tc.authority)
			}
			if tc.rcode != dns.RcodeRefused && !m.Authoritative {
				t.Errorf("got a non-authoritative answer, want AA")
			}
		})
	}
	bad := new(dns.Msg)
	if m := Answer(bad, true, content); m.Rcode != dns.RcodeFormatError {
		t.Errorf("no question: got %s, want FORMERR", dns.RcodeToString[m.Rcode])
	}
}
