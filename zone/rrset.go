// Package zone is the common language of steering, providers and the DNS
// server: RRsets in a canonical form, the content of a zone at one
// generation, and the difference between two contents.
//
// Every value here is canonical on construction: owner names are lower-case
// fully qualified names, rdata is the presentation form printed by
// miekg/dns (so "2001:DB8:0::1" and "2001:db8::1" are the same record), and
// the records of an RRset are sorted and free of duplicates. Two RRsets with
// the same records therefore compare equal with [RRset.Equal] whatever text
// they were written in, which is what compare-and-swap against a provider
// needs.
package zone

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// MaxTTL is the largest TTL RFC 2181 section 8 allows (2^31 - 1).
const MaxTTL = 2147483647

// Key names an RRset: an owner name and a type.
type Key struct {
	// Name is a lower-case fully qualified domain name.
	Name string
	// Type is an RR type such as [dns.TypeA].
	Type uint16
}

// String prints the key as "www.example.com. A".
func (k Key) String() string {
	return k.Name + " " + TypeString(k.Type)
}

// Less orders keys by name in DNS canonical order (RFC 4034 section 6.1),
// then by type.
func (k Key) Less(o Key) bool {
	if c := CompareNames(k.Name, o.Name); c != 0 {
		return c < 0
	}
	return k.Type < o.Type
}

// RRset is the set of records sharing an owner name and type, with one TTL.
//
// Construct it with [NewRRset] or [FromRRs] so that it is canonical; the zero
// value is not a valid RRset.
type RRset struct {
	Name string   `json:"name"`
	Type uint16   `json:"type"`
	TTL  uint32   `json:"ttl"`
	Data []string `json:"data"` // rdata in canonical presentation form, sorted, unique
}

// Key returns the name and type of the set.
func (s RRset) Key() Key { return Key{Name: s.Name, Type: s.Type} }

// String prints the set as zone file lines, one per record.
func (s RRset) String() string {
	var b strings.Builder
	for i, d := range s.Data {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s\t%d\tIN\t%s\t%s", s.Name, s.TTL, TypeString(s.Type), d)
	}
	return b.String()
}

// Equal reports whether both sets have the same key, TTL and records.
func (s RRset) Equal(o RRset) bool {
	return s.Name == o.Name && s.Type == o.Type && s.TTL == o.TTL && slices.Equal(s.Data, o.Data)
}

// SameData reports whether both sets hold the same records, ignoring the TTL.
func (s RRset) SameData(o RRset) bool {
	return s.Name == o.Name && s.Type == o.Type && slices.Equal(s.Data, o.Data)
}

// Empty reports whether the set holds no records.
func (s RRset) Empty() bool { return len(s.Data) == 0 }

// Clone returns a deep copy.
func (s RRset) Clone() RRset {
	s.Data = slices.Clone(s.Data)
	return s
}

// RRs returns the set as miekg/dns records. Data produced by [NewRRset]
// always parses; a set built by hand with bad data returns an error.
func (s RRset) RRs() ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(s.Data))
	for _, d := range s.Data {
		rr, err := parseRR(s.Name, s.Type, s.TTL, d)
		if err != nil {
			return nil, err
		}
		out = append(out, rr)
	}
	return out, nil
}

// ErrBadRRset reports an RRset that cannot be built: bad name, unknown type,
// unparsable rdata or a TTL out of range.
var ErrBadRRset = errors.New("zone: bad rrset")

// NewRRset builds a canonical RRset. Name may lack the trailing dot and use
// any case; each data item is rdata in presentation form ("192.0.2.1",
// "10 mx.example.com.", "\"some text\""). Data that is relative is rejected
// rather than completed with an origin: callers pass fully qualified names.
func NewRRset(name string, typ uint16, ttl uint32, data ...string) (RRset, error) {
	if ttl > MaxTTL {
		return RRset{}, fmt.Errorf("%w: ttl %d out of range 0..%d", ErrBadRRset, ttl, MaxTTL)
	}
	if _, ok := dns.TypeToString[typ]; !ok || typ == dns.TypeNone || typ == dns.TypeANY {
		return RRset{}, fmt.Errorf("%w: unknown type %d", ErrBadRRset, typ)
	}
	n, err := CanonicalName(name)
	if err != nil {
		return RRset{}, fmt.Errorf("%w: %w", ErrBadRRset, err)
	}
	s := RRset{Name: n, Type: typ, TTL: ttl, Data: make([]string, 0, len(data))}
	for _, d := range data {
		rr, err := parseRR(n, typ, ttl, d)
		if err != nil {
			return RRset{}, err
		}
		s.Data = append(s.Data, rdataOf(rr))
	}
	s.normalise()
	return s, nil
}

// MustRRset is [NewRRset] that panics on error, for tests and constants.
func MustRRset(name string, typ uint16, ttl uint32, data ...string) RRset {
	s, err := NewRRset(name, typ, ttl, data...)
	if err != nil {
		panic(err)
	}
	return s
}

// FromRRs groups records into canonical RRsets, sorted by key. When the
// records of one set disagree on the TTL the smallest wins, as RFC 2181
// section 5.2 asks of a receiver. Class is ignored (everything here is IN).
func FromRRs(rrs []dns.RR) []RRset {
	byKey := map[Key]*RRset{}
	var order []Key
	for _, rr := range rrs {
		h := rr.Header()
		k := Key{Name: strings.ToLower(dns.Fqdn(h.Name)), Type: h.Rrtype}
		s, ok := byKey[k]
		if !ok {
			s = &RRset{Name: k.Name, Type: k.Type, TTL: h.Ttl}
			byKey[k] = s
			order = append(order, k)
		}
		if h.Ttl < s.TTL {
			s.TTL = h.Ttl
		}
		s.Data = append(s.Data, rdataOf(rr))
	}
	out := make([]RRset, 0, len(order))
	for _, k := range order {
		s := byKey[k]
		s.normalise()
		out = append(out, *s)
	}
	SortRRsets(out)
	return out
}

func (s *RRset) normalise() {
	for i, d := range s.Data {
		s.Data[i] = canonicalRdata(s.Type, d)
	}
	slices.Sort(s.Data)
	s.Data = slices.Compact(s.Data)
}

// canonicalRdata lower-cases the domain names inside rdata for the types
// whose names RFC 4034 section 6.2 says compare case-insensitively, so that
// "CNAME WWW.Example.COM." and "CNAME www.example.com." are one record.
func canonicalRdata(typ uint16, d string) string {
	switch typ {
	case dns.TypeCNAME, dns.TypeNS, dns.TypePTR, dns.TypeDNAME:
		return strings.ToLower(d)
	}
	return d
}

func parseRR(name string, typ uint16, ttl uint32, data string) (dns.RR, error) {
	ts := TypeString(typ)
	line := fmt.Sprintf("%s %d IN %s %s", name, ttl, ts, data)
	rr, err := dns.NewRR(line)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s %q: %s", ErrBadRRset, name, ts, data, parseMessage(err))
	}
	if rr == nil {
		return nil, fmt.Errorf("%w: %s %s: empty rdata", ErrBadRRset, name, ts)
	}
	if rr.Header().Rrtype != typ {
		return nil, fmt.Errorf("%w: %s %s %q: parsed as %s", ErrBadRRset, name, ts, data, TypeString(rr.Header().Rrtype))
	}
	return rr, nil
}

// parseMessage strips the file/line decoration miekg/dns puts on parse errors
// of single lines, which only repeats what the caller already knows.
func parseMessage(err error) string {
	var pe *dns.ParseError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return err.Error()
}

// rdataOf returns the presentation form of a record's rdata.
func rdataOf(rr dns.RR) string {
	full := rr.String()
	hdr := rr.Header().String()
	return strings.TrimSpace(strings.TrimPrefix(full, hdr))
}

// TypeString prints an RR type ("A", "TYPE65534").
func TypeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

// ParseType parses an RR type name, case-insensitively ("aaaa" → AAAA).
func ParseType(s string) (uint16, bool) {
	t, ok := dns.StringToType[strings.ToUpper(s)]
	return t, ok
}

// CanonicalName returns name as a lower-case fully qualified domain name, or
// an error when it is not a valid domain name.
func CanonicalName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty domain name")
	}
	n := strings.ToLower(dns.Fqdn(name))
	if _, ok := dns.IsDomainName(n); !ok {
		return "", fmt.Errorf("invalid domain name %q", name)
	}
	return n, nil
}

// InZone reports whether name is at or below origin. Both must be canonical.
func InZone(name, origin string) bool {
	return dns.IsSubDomain(origin, name)
}

// CompareNames compares two canonical names in DNS canonical order: label
// by label from the root, so "example.com." < "a.example.com." <
// "b.example.com.".
func CompareNames(a, b string) int {
	if a == b {
		return 0
	}
	la := dns.SplitDomainName(a)
	lb := dns.SplitDomainName(b)
	i, j := len(la)-1, len(lb)-1
	for i >= 0 && j >= 0 {
		if c := strings.Compare(la[i], lb[j]); c != 0 {
			return c
		}
		i--
		j--
	}
	switch {
	case i < 0 && j < 0:
		return 0
	case i < 0:
		return -1
	default:
		return 1
	}
}

// SortRRsets sorts sets by key in canonical order.
func SortRRsets(sets []RRset) {
	slices.SortFunc(sets, func(a, b RRset) int {
		if c := CompareNames(a.Name, b.Name); c != 0 {
			return c
		}
		return int(a.Type) - int(b.Type)
	})
}
