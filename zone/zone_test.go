package zone

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestNewRRsetCanonical(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		name string
		in   RRset
		want RRset
	}{
		{
			name: "AAAA in non-canonical text",
			in:   MustRRset("WWW.Example.com", dns.TypeAAAA, 60, "2001:DB8:0:0::1", "2001:db8::1"),
			want: RRset{Name: "www.example.com.", Type: dns.TypeAAAA, TTL: 60, Data: []string{"2001:db8::1"}},
		},
		{
			name: "A sorted and deduplicated",
			in:   MustRRset("a.example.com.", dns.TypeA, 30, "192.0.2.2", "192.0.2.1", "192.0.2.2"),
			want: RRset{Name: "a.example.com.", Type: dns.TypeA, TTL: 30, Data: []string{"192.0.2.1", "192.0.2.2"}},
		},
		{
			name: "CNAME target case folded",
			in:   MustRRset("c.example.com.", dns.TypeCNAME, 30, "Target.Example.NET."),
			want: RRset{Name: "c.example.com.", Type: dns.TypeCNAME, TTL: 30, Data: []string{"target.example.net."}},
		},
		{
			name: "TXT longer than 255 bytes split into strings",
			in:   MustRRset("t.example.com.", dns.TypeTXT, 30, `"`+long+`"`),
			want: RRset{Name: "t.example.com.", Type: dns.TypeTXT, TTL: 30, Data: []string{`"` + long[:255] + `" "` + long[255:] + `"`}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.in.Equal(tc.want) {
				t.Errorf("got %#v, want %#v", tc.in, tc.want)
			}
		})
	}
}

func TestNewRRsetErrors(t *testing.T) {
	cases := []struct {
		name string
		typ  uint16
		ttl  uint32
		data string
	}{
		{"bad name", dns.TypeA, 1, "192.0.2.1"},
		{"ipv6 in A", dns.TypeA, 1, "2001:db8::1"},
		{"ttl too large", dns.TypeA, MaxTTL + 1, "192.0.2.1"},
		{"garbage MX", dns.TypeMX, 1, "mx.example.com."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "ok.example.com."
			if tc.name == "bad name" {
				name = "bad..name"
			}
			if _, err := NewRRset(name, tc.typ, tc.ttl, tc.data); err == nil {
				t.Errorf("NewRRset(%q, %s, %q): got nil error, want one", name, TypeString(tc.typ), tc.data)
			}
		})
	}
}

func TestFromRRsRoundTrip(t *testing.T) {
	in := MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.1", "192.0.2.2")
	rrs, err := in.RRs()
	if err != nil {
		t.Fatal(err)
	}
	// A smaller TTL on one record wins for the set (RFC 2181 5.2).
	rrs[1].Header().Ttl = 20
	rrs[0].Header().Name = "WWW.EXAMPLE.COM."
	got := FromRRs(rrs)
	want := MustRRset("www.example.com.", dns.TypeA, 20, "192.0.2.1", "192.0.2.2")
	if len(got) != 1 || !got[0].Equal(want) {
		t.Errorf("FromRRs: got %v, want %v", got, want)
	}
}

func TestCompareNames(t *testing.T) {
	ordered := []string{"example.com.", "a.example.com.", "z.a.example.com.", "b.example.com.", "example.net."}
	for i := range ordered {
		for j := range ordered {
			got := CompareNames(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if (got < 0) != (want < 0) || (got > 0) != (want > 0) {
				t.Errorf("CompareNames(%q, %q): got %d, want sign %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestDiff(t *testing.T) {
	a1 := MustRRset("a.example.com.", dns.TypeA, 30, "192.0.2.1")
	a2 := MustRRset("a.example.com.", dns.TypeA, 30, "192.0.2.2")
	a1ttl := MustRRset("a.example.com.", dns.TypeA, 60, "192.0.2.1")
	b := MustRRset("b.example.com.", dns.TypeA, 30, "192.0.2.3")
	c := MustRRset("c.example.com.", dns.TypeCNAME, 30, "x.example.net.")
	cases := []struct {
		name             string
		current, desired []RRset
		want             []string // kind key
	}{
		{"no-op", []RRset{a1, b}, []RRset{b, a1}, nil},
		{"create", nil, []RRset{a1}, []string{"create a.example.com. A"}},
		{"delete", []RRset{a1}, nil, []string{"delete a.example.com. A"}},
		{"update data", []RRset{a1}, []RRset{a2}, []string{"update a.example.com. A"}},
		{"ttl-only change is an update", []RRset{a1}, []RRset{a1ttl}, []string{"update a.example.com. A"}},
		{"empty desired is a delete", []RRset{a1}, []RRset{{Name: a1.Name, Type: a1.Type, TTL: 30}}, []string{"delete a.example.com. A"}},
		{"mixed, sorted", []RRset{c, a1}, []RRset{b, a2}, []string{"update a.example.com. A", "create b.example.com. A", "delete c.example.com. CNAME"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ch := range Diff(tc.current, tc.desired) {
				got = append(got, ch.Kind()+" "+ch.Key.String())
				if ch.Old != nil && ch.New != nil && ch.Old.Equal(*ch.New) {
					t.Errorf("update with equal old and new: %v", ch)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestZoneLookupAndHash(t *testing.T) {
	z := &Zone{
		Origin: "example.com.",
		SOA:    SOA{MName: "ns1.example.com.", RName: "hostmaster.example.com.", Minimum: 60, TTL: 3600},
		Records: []RRset{
			MustRRset("example.com.", dns.TypeNS, 3600, "ns1.example.com."),
			MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.1"),
		},
		Managed: []Key{{Name: "www.example.com.", Type: dns.TypeA}},
	}
	if s, ok := z.Lookup(Key{Name: "www.example.com.", Type: dns.TypeA}); !ok || s.Data[0] != "192.0.2.1" {
		t.Errorf("Lookup www A: got %v %v", s, ok)
	}
	if _, ok := z.Lookup(Key{Name: "www.example.com.", Type: dns.TypeAAAA}); ok {
		t.Errorf("Lookup www AAAA: found, want absent")
	}
	if !z.IsManaged(Key{Name: "www.example.com.", Type: dns.TypeA}) || z.IsManaged(Key{Name: "example.com.", Type: dns.TypeNS}) {
		t.Errorf("IsManaged wrong")
	}
	h1 := z.ContentHash()
	z2 := *z
	z2.Generation = 99
	if z2.ContentHash() != h1 {
		t.Errorf("generation changed the content hash")
	}
	z2.Records = slices.Clone(z.Records)
	z2.Records[1] = MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.2")
	if z2.ContentHash() == h1 {
		t.Errorf("a record change left the content hash unchanged")
	}
	z3 := *z
	z3.Picks = map[Key]Pick{{Name: "www.example.com.", Type: dns.TypeA}: {Weights: map[string]uint32{"192.0.2.1": 3}}}
	if z3.ContentHash() == h1 {
		t.Errorf("a pick change left the content hash unchanged")
	}
	if got := z.SOARecord().Serial; got != 0 {
		t.Errorf("serial: got %d, want 0", got)
	}
}
