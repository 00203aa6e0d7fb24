package dnsserver

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// TestQuery runs every kind of answer over real UDP and TCP on loopback.
func TestQuery(t *testing.T) {
	s := newLoaded(t, Options{})
	addr := start(t, s)

	const serial = 7
	neg := soaLine(60, serial)
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		qclass uint16
		tcp    bool
		rcode  int
		aa     bool
		answer []string
		ns     []string
		extra  []string
	}{
		{name: "apex SOA", qname: "example.com.", qtype: dns.TypeSOA, aa: true,
			answer: []string{soaLine(3600, serial)}},
		{name: "apex NS with glue", qname: "example.com.", qtype: dns.TypeNS, aa: true,
			answer: []string{"example.com. 86400 IN NS ns1.example.com.", "example.com. 86400 IN NS ns2.example.com."},
			extra:  []string{"ns1.example.com. 300 IN A 192.0.2.53", "ns2.example.com. 300 IN AAAA 2001:db8::53"}},
		{name: "apex MX with glue", qname: "example.com.", qtype: dns.TypeMX, aa: true,
			answer: []string{"example.com. 300 IN MX 10 mail.example.com."},
			extra:  []string{"mail.example.com. 300 IN A 192.0.2.25"}},
		{name: "static A", qname: "www.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"www.example.com. 60 IN A 192.0.2.80", "www.example.com. 60 IN A 192.0.2.81"}},
		{name: "class ANY question", qname: "www.example.com.", qtype: dns.TypeA, qclass: dns.ClassANY, aa: true,
			answer: []string{"www.example.com. 60 IN A 192.0.2.80", "www.example.com. 60 IN A 192.0.2.81"}},
		{name: "ANY over UDP is one RRset", qname: "example.com.", qtype: dns.TypeANY, aa: true,
			answer: []string{"example.com. 300 IN A 192.0.2.1"}},
		{name: "ANY over TCP is every RRset", qname: "example.com.", qtype: dns.TypeANY, tcp: true, aa: true,
			answer: []string{
				"example.com. 300 IN A 192.0.2.1",
				"example.com. 86400 IN NS ns1.example.com.", "example.com. 86400 IN NS ns2.example.com.",
				soaLine(3600, serial),
				"example.com. 300 IN MX 10 mail.example.com.",
				`example.com. 300 IN TXT "v=spf1 -all"`,
			}},
		{name: "ANY at a CNAME is the CNAME", qname: "alias.example.com.", qtype: dns.TypeANY, aa: true,
			answer: []string{"alias.example.com. 120 IN CNAME www.example.com."}},
		{name: "ANY at an empty non-terminal", qname: "c.example.com.", qtype: dns.TypeANY, aa: true, ns: []string{neg}},
		{name: "NXDOMAIN", qname: "nope.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{neg}},
		{name: "NODATA", qname: "www.example.com.", qtype: dns.TypeAAAA, aa: true, ns: []string{neg}},
		{name: "empty non-terminal is NODATA", qname: "b.c.example.com.", qtype: dns.TypeA, aa: true, ns: []string{neg}},
		{name: "higher empty non-terminal is NODATA", qname: "c.example.com.", qtype: dns.TypeA, aa: true, ns: []string{neg}},
		{name: "below a leaf is NXDOMAIN", qname: "x.a.b.c.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{neg}},
		{name: "no zone is REFUSED", qname: "www.example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "parent of a zone is REFUSED", qname: "com.", qtype: dns.TypeNS, rcode: dns.RcodeRefused},
		{name: "child zone wins", qname: "www.sub.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"www.sub.example.com. 300 IN A 192.0.2.201"}},
		{name: "child apex NS is authoritative", qname: "sub.example.com.", qtype: dns.TypeNS, aa: true,
			answer: []string{"sub.example.com. 3600 IN NS ns1.sub.example.com."},
			extra:  []string{"ns1.sub.example.com. 3600 IN A 192.0.2.200"}},
		{name: "child NXDOMAIN has the child SOA", qname: "nope.sub.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{"sub.example.com. 60 IN SOA ns1.sub.example.com. hostmaster.example.com. 3 3600 600 86400 60"}},
		{name: "DS at a child apex comes from the parent", qname: "sub.example.com.", qtype: dns.TypeDS, aa: true, ns: []string{neg}},
		{name: "CNAME chased in zone", qname: "alias.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"alias.example.com. 120 IN CNAME www.example.com.", "www.example.com. 60 IN A 192.0.2.80", "www.example.com. 60 IN A 192.0.2.81"}},
		{name: "qtype CNAME is the CNAME", qname: "alias.example.com.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"alias.example.com. 120 IN CNAME www.example.com."}},
		{name: "CNAME chain", qname: "chain1.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{
				"chain1.example.com. 120 IN CNAME chain2.example.com.", "chain2.example.com. 120 IN CNAME alias.example.com.",
				"alias.example.com. 120 IN CNAME www.example.com.", "www.example.com. 60 IN A 192.0.2.80", "www.example.com. 60 IN A 192.0.2.81",
			}},
		{name: "CNAME to nothing is NXDOMAIN", qname: "dangling.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			answer: []string{"dangling.example.com. 120 IN CNAME nothere.example.com."}, ns: []string{neg}},
		{name: "CNAME to NODATA", qname: "empty.example.com.", qtype: dns.TypeAAAA, aa: true,
			answer: []string{"empty.example.com. 120 IN CNAME mail.example.com."}, ns: []string{neg}},
		{name: "CNAME out of zone is not chased", qname: "out.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"out.example.com. 120 IN CNAME www.example.net."}},
		{name: "CNAME loop stops", qname: "loop1.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"loop1.example.com. 120 IN CNAME loop2.example.com.", "loop2.example.com. 120 IN CNAME loop1.example.com."}},
		{name: "CNAME into a delegation is referred", qname: "todeleg.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"todeleg.example.com. 120 IN CNAME www.deleg.example.com."},
			ns:     []string{"deleg.example.com. 3600 IN NS ns.deleg.example.com.", "deleg.example.com. 3600 IN NS ns.example.net."},
			extra:  []string{"ns.deleg.example.com. 3600 IN A 192.0.2.100"}},
		{name: "eight CNAMEs are followed", qname: "c1.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{
				"c1.example.com. 10 IN CNAME c2.example.com.", "c2.example.com. 10 IN CNAME c3.example.com.",
				"c3.example.com. 10 IN CNAME c4.example.com.", "c4.example.com. 10 IN CNAME c5.example.com.",
				"c5.example.com. 10 IN CNAME c6.example.com.", "c6.example.com. 10 IN CNAME c7.example.com.",
				"c7.example.com. 10 IN CNAME c8.example.com.", "c8.example.com. 10 IN CNAME c9.example.com.",
				"c9.example.com. 10 IN A 192.0.2.9",
			}},
		{name: "the ninth CNAME is not", qname: "c0.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{
				"c0.example.com. 10 IN CNAME c1.example.com.",
				"c1.example.com. 10 IN CNAME c2.example.com.", "c2.example.com. 10 IN CNAME c3.example.com.",
				"c3.example.com. 10 IN CNAME c4.example.com.", "c4.example.com. 10 IN CNAME c5.example.com.",
				"c5.example.com. 10 IN CNAME c6.example.com.", "c6.example.com. 10 IN CNAME c7.example.com.",
				"c7.example.com. 10 IN CNAME c8.example.com.",
			}},
		{name: "wildcard", qname: "foo.wild.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"foo.wild.example.com. 30 IN A 192.0.2.99"}},
		{name: "wildcard several labels down", qname: "a.b.wild.example.com.", qtype: dns.TypeTXT, aa: true,
			answer: []string{`a.b.wild.example.com. 30 IN TXT "wildcard"`}},
		{name: "wildcard far down", qname: "l1.l2.l3.l4.l5.l6.l7.l8.l9.wild.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"l1.l2.l3.l4.l5.l6.l7.l8.l9.wild.example.com. 30 IN A 192.0.2.99"}},
		{name: "far below a leaf is NXDOMAIN", qname: "l1.l2.l3.l4.l5.l6.l7.l8.l9.www.example.com.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{neg}},
		{name: "far below a cut is a referral", qname: "l1.l2.l3.l4.l5.l6.l7.l8.l9.deleg.example.com.", qtype: dns.TypeA,
			ns:    []string{"deleg.example.com. 3600 IN NS ns.deleg.example.com.", "deleg.example.com. 3600 IN NS ns.example.net."},
			extra: []string{"ns.deleg.example.com. 3600 IN A 192.0.2.100"}},
		{name: "wildcard NODATA", qname: "foo.wild.example.com.", qtype: dns.TypeAAAA, aa: true, ns: []string{neg}},
		{name: "wildcard name itself", qname: "*.wild.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"*.wild.example.com. 30 IN A 192.0.2.99"}},
		{name: "existing name is no wildcard match", qname: "sub.wild.example.com.", qtype: dns.TypeA, aa: true, ns: []string{neg}},
		{name: "below an existing name is NXDOMAIN", qname: "x.sub.wild.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{neg}},
		{name: "empty non-terminal blocks the wildcard", qname: "deep.wild.example.com.", qtype: dns.TypeA, aa: true, ns: []string{neg}},
		{name: "below an empty non-terminal is NXDOMAIN", qname: "x.deep.wild.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{neg}},
		{name: "wildcard CNAME is chased", qname: "x.cwild.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"x.cwild.example.com. 30 IN CNAME www.example.com.", "www.example.com. 60 IN A 192.0.2.80", "www.example.com. 60 IN A 192.0.2.81"}},
		{name: "referral", qname: "www.deleg.example.com.", qtype: dns.TypeA,
			ns:    []string{"deleg.example.com. 3600 IN NS ns.deleg.example.com.", "deleg.example.com. 3600 IN NS ns.example.net."},
			extra: []string{"ns.deleg.example.com. 3600 IN A 192.0.2.100"}},
		{name: "NS at the cut is a referral", qname: "deleg.example.com.", qtype: dns.TypeNS,
			ns:    []string{"deleg.example.com. 3600 IN NS ns.deleg.example.com.", "deleg.example.com. 3600 IN NS ns.example.net."},
			extra: []string{"ns.deleg.example.com. 3600 IN A 192.0.2.100"}},
		{name: "glue name is a referral", qname: "ns.deleg.example.com.", qtype: dns.TypeA,
			ns:    []string{"deleg.example.com. 3600 IN NS ns.deleg.example.com.", "deleg.example.com. 3600 IN NS ns.example.net."},
			extra: []string{"ns.deleg.example.com. 3600 IN A 192.0.2.100"}},
		{name: "DS at the cut is answered", qname: "deleg.example.com.", qtype: dns.TypeDS, aa: true,
			answer: []string{"deleg.example.com. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"}},
		{name: "DS below the cut is a referral", qname: "x.deleg.example.com.", qtype: dns.TypeDS,
			ns:    []string{"deleg.example.com. 3600 IN NS ns.deleg.example.com.", "deleg.example.com. 3600 IN NS ns.example.net."},
			extra: []string{"ns.deleg.example.com. 3600 IN A 192.0.2.100"}},
		{name: "absent DS at the cut is NODATA", qname: "nods.example.com.", qtype: dns.TypeDS, aa: true, ns: []string{neg}},
		{name: "referral with out-of-cut glue", qname: "x.nods.example.com.", qtype: dns.TypeA,
			ns:    []string{"nods.example.com. 3600 IN NS ns1.example.com."},
			extra: []string{"ns1.example.com. 300 IN A 192.0.2.53"}},
		{name: "0x20 case is kept", qname: "WwW.ExAmPlE.CoM.", qtype: dns.TypeA, aa: true,
			answer: []string{"WwW.ExAmPlE.CoM. 60 IN A 192.0.2.80", "WwW.ExAmPlE.CoM. 60 IN A 192.0.2.81"}},
		{name: "0x20 case through a CNAME", qname: "ALIAS.example.COM.", qtype: dns.TypeA, aa: true,
			answer: []string{"ALIAS.example.COM. 120 IN CNAME www.example.com.", "www.example.com. 60 IN A 192.0.2.80", "www.example.com. 60 IN A 192.0.2.81"}},
		{name: "0x20 case through a wildcard", qname: "FoO.wIlD.example.com.", qtype: dns.TypeA, aa: true,
			answer: []string{"FoO.wIlD.example.com. 30 IN A 192.0.2.99"}},
		{name: "0x20 NXDOMAIN", qname: "NOPE.Example.Com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{neg}},
	}
	for _, tc := range tests {
		for _, network := range []string{"udp", "tcp"} {
			if tc.tcp && network == "udp" {
				continue
			}
			if !tc.tcp && tc.qtype == dns.TypeANY && network == "tcp" {
				continue // ANY differs by transport; the case names its own
			}
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				m := query(tc.qname, tc.qtype)
				m.Id = 0x1234
				m.SetEdns0(4096, false)
				if tc.qclass != 0 {
					m.Question[0].Qclass = tc.qclass
				}
				r := exchange(t, addr, network, m)
				if r.Id != m.Id || !r.Response || r.Opcode != dns.OpcodeQuery {
					t.Errorf("got id %#x response %v opcode %d, want id %#x, a response, QUERY", r.Id, r.Response, r.Opcode, m.Id)
				}
				if r.Rcode != tc.rcode {
					t.Errorf("got rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
				}
				if r.Authoritative != tc.aa {
					t.Errorf("got AA %v, want %v", r.Authoritative, tc.aa)
				}
				if r.Truncated || r.RecursionAvailable {
					t.Errorf("got TC %v RA %v, want neither", r.Truncated, r.RecursionAvailable)
				}
				if len(r.Question) != 1 || r.Question[0] != m.Question[0] {
					t.Errorf("got question %v, want %v", r.Question, m.Question[0])
				}
				if got := flat(r.Answer); !slices.Equal(got, tc.answer) {
					t.Errorf("got answer\n%q\nwant\n%q", got, tc.answer)
				}
				if got := flat(r.Ns); !slices.Equal(got, tc.ns) {
					t.Errorf("got authority\n%q\nwant\n%q", got, tc.ns)
				}
				if got := flat(r.Extra); !slices.Equal(got, tc.extra) {
					t.Errorf("got additional\n%q\nwant\n%q", got, tc.extra)
				}
				if r.IsEdns0() == nil {
					t.Errorf("got no OPT, want one")
				}
			})
		}
	}
}
