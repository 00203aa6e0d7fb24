package dnsserver

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/providers/rfc2136/rfc2136test"
	"github.com/switchboard-dns/switchboard/zone"
)

// zoneFile prints z as a master file.
func zoneFile(t *testing.T, z *zone.Zone) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintln(&b, z.SOARecord().String())
	for _, s := range z.Records {
		fmt.Fprintln(&b, s.String())
	}
	return b.Bytes()
}

// startKnot serves zones with Knot DNS on loopback and returns its
// address.
func startKnot(t *testing.T, zones ...*zone.Zone) string {
	t.Helper()
	var zs []rfc2136test.Zone
	for _, z := range zones {
		zs = append(zs, rfc2136test.Zone{Name: z.Origin, File: string(zoneFile(t, z))})
	}
	return rfc2136test.StartKnot(t, rfc2136test.Options{Zones: zs}).Addr()
}

// TestAgainstKnot asks Knot DNS and us the same questions about the same
// zones and compares rcode, AA and the three sections (as sets). The
// cases where we differ on purpose are listed with the reason.
func TestAgainstKnot(t *testing.T) {
	zones := []*zone.Zone{exampleZone(7), subZone(3)}
	knot := startKnot(t, zones...)
	s := New(Options{Logger: testLog})
	if err := s.Load(zones); err != nil {
		t.Fatal(err)
	}
	ours := start(t, s)

	questions := []struct {
		qname  string
		qtype  uint16
		noEDNS bool
	}{
		{"example.com.", dns.TypeSOA, false}, {"example.com.", dns.TypeNS, false}, {"example.com.", dns.TypeMX, false},
		{"example.com.", dns.TypeTXT, false}, {"example.com.", dns.TypeAAAA, false},
		{"www.example.com.", dns.TypeA, false}, {"www.example.com.", dns.TypeAAAA, false}, {"WwW.eXample.com.", dns.TypeA, false},
		{"nope.example.com.", dns.TypeA, false}, {"b.c.example.com.", dns.TypeA, false}, {"c.example.com.", dns.TypeTXT, false},
		{"x.a.b.c.example.com.", dns.TypeA, false},
		{"alias.example.com.", dns.TypeA, false}, {"alias.example.com.", dns.TypeCNAME, false}, {"alias.example.com.", dns.TypeAAAA, false},
		{"chain1.example.com.", dns.TypeA, false}, {"dangling.example.com.", dns.TypeA, false}, {"empty.example.com.", dns.TypeAAAA, false},
		{"out.example.com.", dns.TypeA, false}, {"c1.example.com.", dns.TypeA, false},
		{"foo.wild.example.com.", dns.TypeA, false}, {"foo.wild.example.com.", dns.TypeTXT, false}, {"foo.wild.example.com.", dns.TypeAAAA, false},
		{"a.b.wild.example.com.", dns.TypeA, false}, {"*.wild.example.com.", dns.TypeA, false}, {"sub.wild.example.com.", dns.TypeA, false},
		{"sub.wild.example.com.", dns.TypeTXT, false}, {"x.sub.wild.example.com.", dns.TypeA, false},
		{"deep.wild.example.com.", dns.TypeA, false}, {"x.deep.wild.example.com.", dns.TypeA, false}, {"x.cwild.example.com.", dns.TypeA, false},
		{"FoO.WiLd.example.com.", dns.TypeA, false},
		{"www.deleg.example.com.", dns.TypeA, false}, {"deleg.example.com.", dns.TypeNS, false}, {"deleg.example.com.", dns.TypeA, false},
		{"ns.deleg.example.com.", dns.TypeA, false}, {"deleg.example.com.", dns.TypeDS, false}, {"x.deleg.example.com.", dns.TypeDS, false},
		{"nods.example.com.", dns.TypeDS, false}, {"x.nods.example.com.", dns.TypeA, false},
		{"www.sub.example.com.", dns.TypeA, false}, {"sub.example.com.", dns.TypeNS, false}, {"sub.example.com.", dns.TypeDS, false},
		{"sub.example.com.", dns.TypeSOA, false}, {"nope.sub.example.com.", dns.TypeA, false},
		{"mxbig.example.com.", dns.TypeMX, false}, {"www.bigdeleg.example.com.", dns.TypeA, false},
		{"www.example.org.", dns.TypeA, false}, {"todeleg.example.com.", dns.TypeA, false}, {"loop1.example.com.", dns.TypeA, false},
		{"ALIAS.example.COM.", dns.TypeA, false}, {"c0.example.com.", dns.TypeA, false}, {"example.com.", dns.TypeANY, false},
		{"www.example.com.", dns.TypeANY, false}, {"weighted.example.com.", dns.TypeTXT, false},
		{"mid.example.com.", dns.TypeTXT, true}, {"mid.example.com.", dns.TypeTXT, false}, {"big.example.com.", dns.TypeTXT, false},
		{"mxbig.example.com.", dns.TypeMX, true}, {"www.bigdeleg.example.com.", dns.TypeA, true},
		{"example.com.", dns.TypeNS, true}, {"NoPe.example.com.", dns.TypeA, false}, {"x.cwild.example.com.", dns.TypeAAAA, false},
	}
	// Where we differ from Knot on purpose, by question and transport.
	differs := map[string]string{
		"c0.example.com. A/tcp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"c0.example.com. A/udp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"c1.example.com. A/tcp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"c1.example.com. A/udp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"example.com. ANY/tcp":  "over TCP we answer ANY in full (RFC 8482 section 4.4 leaves it open), Knot minimally",
		"www.example.com. ANY/tcp": "over TCP we answer ANY in full, Knot minimally (same RRset here, " +
			"but the case stays listed with its twin)",
		// Both set TC; Knot keeps what fits, we send empty sections.
		"www.bigdeleg.example.com. A/udp/noedns": "TC replies carry only the question",
		// Knot compresses the CNAME target against the question and so
		// prints it in the question's case ("www.example.COM."); names
		// compare equal either way.
		"ALIAS.example.COM. A/tcp": "compression changes the case of the target",
		"ALIAS.example.COM. A/udp": "compression changes the case of the target",
	}
	sorted := func(rrs []dns.RR) []string {
		out := flat(rrs)
		slices.Sort(out)
		return out
	}
	for _, q := range questions {
		for _, network := range []string{"udp", "tcp"} {
			key := q.qname + " " + dns.TypeToString[q.qtype] + "/" + network
			if q.noEDNS {
				key += "/noedns"
			}
			t.Run(key, func(t *testing.T) {
				if why, ok := differs[key]; ok {
					t.Skipf("differs on purpose: %s", why)
				}
				m := query(q.qname, q.qtype)
				if !q.noEDNS {
					m.SetEdns0(1232, false)
				}
				want := exchange(t, knot, network, m)
				got := exchange(t, ours, network, m)
				if got.Rcode != want.Rcode || got.Authoritative != want.Authoritative || got.Truncated != want.Truncated {
					t.Errorf("got rcode %s AA %v TC %v, Knot %s %v %v", dns.RcodeToString[got.Rcode], got.Authoritative, got.Truncated,
						dns.RcodeToString[want.Rcode], want.Authoritative, want.Truncated)
				}
				for _, sec := range []struct {
					name      string
					got, want []dns.RR
				}{{"answer", got.Answer, want.Answer}, {"authority", got.Ns, want.Ns}, {"additional", got.Extra, want.Extra}} {
					if g, w := sorted(sec.got), sorted(sec.want); !slices.Equal(g, w) {
						t.Errorf("%s: got\n%q\nKnot\n%q", sec.name, g, w)
					}
				}
			})
		}
	}
}
