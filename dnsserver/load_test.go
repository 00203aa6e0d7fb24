package dnsserver

import (
	"errors"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

func TestLoadRejects(t *testing.T) {
	with := func(extra ...zone.RRset) *zone.Zone {
		z := exampleZone(8)
		z.Records = append(slices.Clone(z.Records), extra...)
		zone.SortRRsets(z.Records)
		return z
	}
	tests := []struct {
		name  string
		zones []*zone.Zone
		want  error
	}{
		{"nil zone", []*zone.Zone{nil}, ErrBadZone},
		{"bad origin", []*zone.Zone{{Origin: "exa mple..com", SOA: testSOA}}, ErrBadZone},
		{"two zones with one origin", []*zone.Zone{exampleZone(8), exampleZone(8)}, ErrBadZone},
		{"record outside the zone", []*zone.Zone{with(mkset("www.example.net.", dns.TypeA, 60, "192.0.2.1"))}, ErrBadZone},
		{"record at the parent", []*zone.Zone{with(mkset("com.", dns.TypeA, 60, "192.0.2.1"))}, ErrBadZone},
		{"suffix that is not a parent", []*zone.Zone{with(mkset("notexample.com.", dns.TypeA, 60, "192.0.2.1"))}, ErrBadZone},
		{"CNAME beside other data", []*zone.Zone{with(mkset("www.example.com.", dns.TypeCNAME, 60, "mail.example.com."))}, ErrBadZone},
		{"CNAME at the apex", []*zone.Zone{with(mkset("example.com.", dns.TypeCNAME, 60, "mail.example.com."))}, ErrBadZone},
		{"DNAME", []*zone.Zone{with(mkset("dname.example.com.", dns.TypeDNAME, 60, "example.net."))}, ErrBadZone},
		{"wildcard NS", []*zone.Zone{with(mkset("*.example.com.", dns.TypeNS, 60, "ns1.example.com."))}, ErrBadZone},
		{"SOA in Records", []*zone.Zone{with(mkset("example.com.", dns.TypeSOA, 60, "a.example.com. b.example.com. 1 2 3 4 5"))}, ErrBadZone},
		{"unparsable rdata", []*zone.Zone{with(zone.RRset{Name: "bad.example.com.", Type: dns.TypeA, TTL: 60, Data: []string{"not-an-address"}})}, ErrBadZone},
		{"unparsable MX", []*zone.Zone{with(zone.RRset{Name: "bad.example.com.", Type: dns.TypeMX, TTL: 60, Data: []string{"ten mail.example.com."}})}, ErrBadZone},
		{"two RRsets with one key", []*zone.Zone{with(mkset("www.example.com.", dns.TypeA, 60, "192.0.2.3"))}, ErrBadZone},
		{"bad SOA mname", []*zone.Zone{func() *zone.Zone { z := exampleZone(8); z.SOA.MName = "ns1 .example.com"; return z }()}, ErrBadZone},
		{"older generation", []*zone.Zone{exampleZone(6)}, ErrStaleGeneration},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLoaded(t, Options{})
			err := s.Load(tc.zones)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			// The old snapshot is still served.
			if serial, ok := s.Serial("example.com."); !ok || serial != 7 {
				t.Errorf("got serial %d %v, want 7 true", serial, ok)
			}
			r := serve(t, s, query("www.example.com.", dns.TypeA), false)
			if len(r.Answer) != 2 {
				t.Errorf("got %d answers, want 2", len(r.Answer))
			}
		})
	}
}

func TestLoadReplaces(t *testing.T) {
	s := newLoaded(t, Options{})
	if serial, ok := s.Serial("EXAMPLE.com"); !ok || serial != 7 {
		t.Errorf("got serial %d %v, want 7 true", serial, ok)
	}
	if _, ok := s.Serial("example.org."); ok {
		t.Errorf("got a serial for example.org., want none")
	}

	// Same generation again is fine (a reload), and a zone left out goes.
	if err := s.Load([]*zone.Zone{exampleZone(7)}); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, ok := s.Serial("sub.example.com."); ok {
		t.Errorf("got sub.example.com. still loaded, want it gone")
	}
	r := serve(t, s, query("www.sub.example.com.", dns.TypeA), false)
	if len(r.Ns) != 1 || r.Authoritative {
		t.Errorf("got %v, want the referral from example.com. now that the child is gone", r)
	}

	// A generation wider than 32 bits: the serial wraps.
	if err := s.Load([]*zone.Zone{exampleZone(1<<32 + 5)}); err != nil {
		t.Fatal(err)
	}
	if serial, _ := s.Serial("example.com."); serial != 5 {
		t.Errorf("got serial %d, want 5", serial)
	}
	r = serve(t, s, query("nope.example.com.", dns.TypeA), false)
	if got, want := flat(r.Ns), []string{soaLine(60, 5)}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLoadReuses: records of an unchanged RRset are shared with the
// previous snapshot, changed ones are not.
func TestLoadReuses(t *testing.T) {
	s := newLoaded(t, Options{})
	before := s.snap.Load().zones["example.com."]
	z := exampleZone(8)
	for i, rs := range z.Records {
		if rs.Name == "mail.example.com." {
			z.Records[i] = mkset(rs.Name, rs.Type, rs.TTL, "192.0.2.26")
		}
	}
	if err := s.Load([]*zone.Zone{z}); err != nil {
		t.Fatal(err)
	}
	after := s.snap.Load().zones["example.com."]
	for _, tc := range []struct {
		name   string
		typ    uint16
		shared bool
	}{
		{"www.example.com.", dns.TypeA, true},
		{"big.example.com.", dns.TypeTXT, true},
		{"mail.example.com.", dns.TypeA, false},
		{"gen.example.com.", dns.TypeCNAME, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, a := before.lookup(tc.name, tc.typ), after.lookup(tc.name, tc.typ)
			if got := &b.rrs[0] == &a.rrs[0]; got != tc.shared {
				t.Errorf("got shared %v, want %v", got, tc.shared)
			}
		})
	}
	// The glue of the apex MX follows the new address.
	r := serve(t, s, query("example.com.", dns.TypeMX), false)
	if got, want := flat(r.Extra), []string{"mail.example.com. 300 IN A 192.0.2.26"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLoadEscapedNames: owner names are matched in the form a query's
// question has after unpacking.
func TestLoadEscapedNames(t *testing.T) {
	z := exampleZone(8)
	z.Records = append(slices.Clone(z.Records),
		mkset(`\065bc.example.com.`, dns.TypeA, 60, "192.0.2.65"),
		mkset(`dot\.ted.example.com.`, dns.TypeA, 60, "192.0.2.66"),
	)
	zone.SortRRsets(z.Records)
	s := New(Options{Logger: testLog})
	if err := s.Load([]*zone.Zone{z}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		qname string
		want  []string
	}{
		{"abc.example.com.", []string{"abc.example.com. 60 IN A 192.0.2.65"}},
		{"ABC.example.com.", []string{"ABC.example.com. 60 IN A 192.0.2.65"}},
		{`dot\.ted.example.com.`, []string{`dot\.ted.example.com. 60 IN A 192.0.2.66`}},
	}
	for _, tc := range tests {
		t.Run(tc.qname, func(t *testing.T) {
			r := serve(t, s, query(tc.qname, dns.TypeA), false)
			if got := flat(r.Answer); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// "ted.example.com." does not exist: the escaped dot is no label
	// boundary, so there is no empty non-terminal either.
	r := serve(t, s, query("ted.example.com.", dns.TypeA), false)
	if r.Rcode != dns.RcodeNameError {
		t.Errorf("got rcode %s for ted.example.com., want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

// TestNoZones: before the first Load everything is REFUSED.
func TestNoZones(t *testing.T) {
	s := New(Options{Logger: testLog})
	r := serve(t, s, query("www.example.com.", dns.TypeA), false)
	if r.Rcode != dns.RcodeRefused {
		t.Errorf("got rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

// TestRootZone: a zone at the root is found for every name.
func TestRootZone(t *testing.T) {
	s := New(Options{Logger: testLog})
	z := &zone.Zone{Origin: ".", Generation: 1, SOA: testSOA, Records: []zone.RRset{
		mkset(".", dns.TypeNS, 60, "a.root-servers.net."),
		mkset("com.", dns.TypeNS, 60, "a.gtld-servers.net."),
	}}
	if err := s.Load([]*zone.Zone{z}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		qname string
		rcode int
		aa    bool
	}{
		{".", dns.RcodeSuccess, true},
		{"www.example.com.", dns.RcodeSuccess, false},
		{"example.", dns.RcodeNameError, true},
	}
	for _, tc := range tests {
		t.Run(tc.qname, func(t *testing.T) {
			r := serve(t, s, query(tc.qname, dns.TypeNS), false)
			if r.Rcode != tc.rcode || r.Authoritative != tc.aa {
				t.Errorf("got rcode %s AA %v, want %s %v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tc.rcode], tc.aa)
			}
		})
	}
}
