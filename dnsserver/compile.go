package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

// maxGlue bounds the additional records precomputed for one RRset or
// referral.
const maxGlue = 16

// snapshot is everything the server answers from. It is never modified
// once stored: queries share it without locks.
type snapshot struct {
	zones map[string]*czone // origin -> zone
}

// czone is one compiled zone.
type czone struct {
	origin string
	gen    uint64
	serial uint32
	names  map[string]*node // every name that exists, empty non-terminals included
	apex   *node
	soa    *rrset
	negSOA []dns.RR // the SOA with the negative-caching TTL (RFC 2308 section 3)
	depth  int      // labels of the deepest name
	nodes  []*node  // parents before children; the order of transfers
	recs   []*rrset // the sets in the order of the zone's Records
	slab   []node   // backing store of most nodes
}

// node is one existing name of a zone.
type node struct {
	name   string
	parent *node
	sets   []rrset // sorted by type
	// cut is the highest zone cut at or above the name, nil when the name
	// is authoritative data of the zone.
	cut *node
	// wild is the wildcard child "*.<name>" if it exists.
	wild *node
	// ref is the referral to send for names at or below this cut.
	ref *referral
}

// referral is the precomputed reply for names at or below a zone cut.
type referral struct {
	ns   []dns.RR
	glue []dns.RR
	// glueRequired is set when some glue is below the cut: a referral that
	// loses it is useless (RFC 9471), so it is truncated instead.
	glueRequired bool
}

// rrset is one compiled RRset. Every slice here has cap == len, so a
// reply that appends to it copies rather than writing into the snapshot.
type rrset struct {
	typ   uint16
	ttl   uint32
	data  []string // the zone's rdata, to reuse records across loads
	rrs   []dns.RR
	extra []dns.RR // additional-section records (glue of NS, MX, SRV targets)
	pick  *pick
	// target is the canonical target of a CNAME set.
	target string
	// pos is the set's index in its zone's recs (-1 for the SOA).
	pos int
}

// owner returns the set's owner name.
func (s *rrset) owner() string { return s.rrs[0].Header().Name }

func (n *node) get(t uint16) *rrset {
	for i := range n.sets {
		if n.sets[i].typ == t {
			return &n.sets[i]
		}
	}
	return nil
}

func badZone(origin, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadZone, origin, fmt.Sprintf(format, args...))
}

// compile builds a snapshot from zones, reusing the parsed records of
// prev where the RRset is unchanged.
func compile(zones []*zone.Zone, prev *snapshot) (*snapshot, error) {
	snap := &snapshot{zones: make(map[string]*czone, len(zones))}
	for _, z := range zones {
		if z == nil {
			return nil, fmt.Errorf("%w: nil zone", ErrBadZone)
		}
		origin, err := canonicalOwner(z.Origin)
		if err != nil {
			return nil, badZone(z.Origin, "origin: %v", err)
		}
		if _, dup := snap.zones[origin]; dup {
			return nil, badZone(origin, "loaded twice")
		}
		old := prev.zones[origin]
		if old != nil && z.Generation < old.gen {
			return nil, fmt.Errorf("%w: %s: generation %d, loaded %d", ErrStaleGeneration, origin, z.Generation, old.gen)
		}
		cz, err := compileZone(z, origin, old)
		if err != nil {
			return nil, err
		}
		snap.zones[origin] = cz
	}
	return snap, nil
}

func compileZone(z *zone.Zone, origin string, old *czone) (*czone, error) {
	// Nodes and sets are carved from slabs sized for sorted input (one
	// node per owner name, sets of a name adjacent), which saves an
	// allocation per name on a large zone; what does not fit is allocated
	// on its own.
	names, sets := 1, 0
	for i, rs := range z.Records {
		if !rs.Empty() {
			sets++
		}
		if i == 0 || rs.Name != z.Records[i-1].Name {
			names++
		}
	}
	cz := &czone{
		origin: origin,
		gen:    z.Generation,
		serial: z.Serial(),
		names:  make(map[string]*node, names),
		nodes:  make([]*node, 0, names),
		slab:   make([]node, 0, names),
		recs:   make([]*rrset, 0, sets),
	}
	setSlab := make([]rrset, 0, sets)
	cz.apex = cz.add(origin, nil)

	soa := z.SOARecord()
	soa.Hdr.Name = origin
	if _, ok := dns.IsDomainName(soa.Ns); !ok || !dns.IsFqdn(soa.Ns) {
		return nil, badZone(origin, "SOA mname %q", soa.Ns)
	}
	if _, ok := dns.IsDomainName(soa.Mbox); !ok || !dns.IsFqdn(soa.Mbox) {
		return nil, badZone(origin, "SOA rname %q", soa.Mbox)
	}
	cz.apex.sets = []rrset{{typ: dns.TypeSOA, ttl: soa.Hdr.Ttl, rrs: []dns.RR{soa}, pos: -1}}
	neg := *soa
	neg.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	cz.negSOA = []dns.RR{&neg}

	type ref struct {
		n   *node
		typ uint16
	}
	refs := make([]ref, 0, sets)
	var n *node
	hint := 0 // where the next record probably is in old.recs
	for _, rs := range z.Records {
		if rs.Empty() {
			continue
		}
		if n == nil || rs.Name != n.name {
			name, err := canonicalOwner(rs.Name)
			if err != nil {
				return nil, badZone(origin, "%s: %v", rs.Name, err)
			}
			if !inZone(name, origin) {
				return nil, badZone(origin, "%s is outside the zone", name)
			}
			n = cz.ensure(name)
		}
		if err := servable(rs.Type); err != nil {
			return nil, badZone(origin, "%s %s: %v", n.name, zone.TypeString(rs.Type), err)
		}
		if n.get(rs.Type) != nil {
			return nil, badZone(origin, "%s %s: two RRsets", n.name, zone.TypeString(rs.Type))
		}
		set := rrset{typ: rs.Type, ttl: rs.TTL, data: rs.Data}
		var prev *rrset
		if old != nil {
			// Sorted zones of two generations mostly agree record by
			// record: try the next old record before the map.
			if hint < len(old.recs) && old.recs[hint].typ == rs.Type && old.recs[hint].owner() == n.name {
				prev = old.recs[hint]
			} else {
				prev = old.lookup(n.name, rs.Type)
			}
			if prev != nil {
				hint = prev.pos + 1
			}
		}
		if prev != nil && prev.ttl == rs.TTL && slices.Equal(prev.data, rs.Data) {
			set.rrs = prev.rrs
		} else {
			set.rrs = make([]dns.RR, 0, len(rs.Data))
			for _, d := range rs.Data {
				rr, err := parseRR(n.name, rs.Type, rs.TTL, d)
				if err != nil {
					return nil, badZone(origin, "%v", err)
				}
				set.rrs = append(set.rrs, rr)
			}
		}
		if rs.Type == dns.TypeCNAME {
			if len(set.rrs) != 1 {
				return nil, badZone(origin, "%s: %d CNAME records", n.name, len(set.rrs))
			}
			set.target = strings.ToLower(set.rrs[0].(*dns.CNAME).Target)
		}
		// Extend the node's run in the set slab when its sets are the last
		// ones there, else start one (or, when full, append on its own).
		k := len(setSlab)
		switch {
		case k == cap(setSlab):
			n.sets = append(n.sets, set)
		case len(n.sets) == 0:
			setSlab = append(setSlab, set)
			n.sets = setSlab[k : k+1 : k+1]
		case k > 0 && &n.sets[len(n.sets)-1] == &setSlab[k-1]:
			setSlab = append(setSlab, set)
			n.sets = setSlab[k-len(n.sets) : k+1 : k+1]
		default:
			n.sets = append(n.sets, set)
		}
		refs = append(refs, ref{n, rs.Type})
	}
	for i, r := range refs {
		set := r.n.get(r.typ)
		set.pos = i
		cz.recs = append(cz.recs, set)
	}

	for _, n := range cz.nodes {
		cz.depth = max(cz.depth, dns.CountLabel(n.name))
		if !slices.IsSortedFunc(n.sets, compareSets) {
			// Unsorted input; pointers into the sets are taken only after.
			slices.SortFunc(n.sets, compareSets)
			for i := range n.sets {
				if p := n.sets[i].pos; p >= 0 {
					cz.recs[p] = &n.sets[i]
				}
			}
		}
		if n.get(dns.TypeCNAME) != nil && len(n.sets) > 1 {
			return nil, badZone(origin, "%s: CNAME and other data", n.name)
		}
		if n != cz.apex {
			if n.cut = n.parent.cut; n.cut == nil && n.get(dns.TypeNS) != nil {
				n.cut = n
			}
		}
		if isWildcard(n.name) && n != cz.apex {
			if n.get(dns.TypeNS) != nil {
				return nil, badZone(origin, "%s: wildcard NS", n.name)
			}
			n.parent.wild = n
		}
	}
	cz.soa = cz.apex.get(dns.TypeSOA)

	for k, p := range z.Picks {
		set := cz.lookup(k.Name, k.Type)
		if set == nil || len(set.rrs) < 2 {
			continue // nothing to choose from
		}
		set.pick = newPick(p, set.data)
	}

	for _, n := range cz.nodes {
		if n.cut == n {
			n.ref = cz.referral(n)
		}
		if n.cut != nil {
			continue // only referrals are served from below a cut
		}
		for i := range n.sets {
			set := &n.sets[i]
			switch {
			case set.typ == dns.TypeNS && n == cz.apex,
				set.typ == dns.TypeMX, set.typ == dns.TypeSRV:
				set.extra, _ = cz.glue(set.rrs, nil)
			}
		}
	}
	return cz, nil
}

func compareSets(a, b rrset) int { return int(a.typ) - int(b.typ) }

// add creates the node for name under parent.
func (cz *czone) add(name string, parent *node) *node {
	var n *node
	if len(cz.slab) < cap(cz.slab) {
		cz.slab = append(cz.slab, node{name: name, parent: parent})
		n = &cz.slab[len(cz.slab)-1]
	} else {
		n = &node{name: name, parent: parent}
	}
	cz.names[name] = n
	cz.nodes = append(cz.nodes, n)
	return n
}

// ensure returns the node for name, creating it and its missing
// ancestors (the empty non-terminals) down from the apex.
func (cz *czone) ensure(name string) *node {
	if n := cz.names[name]; n != nil {
		return n
	}
	parent := cz.ensure(name[nextLabel(name, 0):])
	return cz.add(name, parent)
}

// lookup returns the set of the given name and type, or nil. It accepts a
// nil zone.
func (cz *czone) lookup(name string, t uint16) *rrset {
	if cz == nil {
		return nil
	}
	n := cz.names[name]
	if n == nil {
		return nil
	}
	return n.get(t)
}

// referral builds the referral for the cut at n.
func (cz *czone) referral(n *node) *referral {
	ns := n.get(dns.TypeNS)
	ref := &referral{ns: ns.rrs}
	var required bool
	ref.glue, required = cz.glue(ns.rrs, n)
	ref.glueRequired = required
	return ref
}

// glue returns the in-zone addresses of the targets of NS, MX or SRV
// records, at most maxGlue of them. With cut nil only authoritative
// addresses are used; for a referral (cut set) any in-zone address is,
// and required reports whether one of them is at or below the cut.
func (cz *czone) glue(rrs []dns.RR, cut *node) (out []dns.RR, required bool) {
	var seen []string
	for _, rr := range rrs {
		var target string
		switch rr := rr.(type) {
		case *dns.NS:
			target = rr.Ns
		case *dns.MX:
			target = rr.Mx
		case *dns.SRV:
			target = rr.Target
		}
		target = strings.ToLower(target)
		if slices.Contains(seen, target) {
			continue
		}
		seen = append(seen, target)
		t := cz.names[target]
		if t == nil || (cut == nil && t.cut != nil) {
			continue
		}
		for _, typ := range []uint16{dns.TypeA, dns.TypeAAAA} {
			set := t.get(typ)
			if set == nil {
				continue
			}
			for _, a := range set.rrs {
				if len(out) == maxGlue {
					return slices.Clip(out), required
				}
				out = append(out, a)
				if cut != nil && inZone(t.name, cut.name) {
					required = true
				}
			}
		}
	}
	return slices.Clip(out), required
}

// servable rejects the types the server must not or cannot serve from
// zone data.
func servable(t uint16) error {
	switch t {
	case dns.TypeSOA:
		return fmt.Errorf("the SOA comes from the zone's SOA fields, not Records")
	case dns.TypeDNAME:
		return fmt.Errorf("DNAME is not supported")
	case dns.TypeNone, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeIXFR,
		dns.TypeAXFR, dns.TypeMAILA, dns.TypeMAILB, dns.TypeANY:
		return fmt.Errorf("meta type")
	}
	return nil
}

// canonicalOwner returns name as the server indexes it: lower case, fully
// qualified, and with escapes in the form miekg/dns prints when it unpacks
// a question, so that "\065" in zone data and "a" in a query meet.
func canonicalOwner(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty name")
	}
	name = dns.Fqdn(name)
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("invalid name %q", name)
	}
	if strings.IndexByte(name, '\\') >= 0 {
		buf := make([]byte, 256)
		off, err := dns.PackDomainName(name, buf, 0, nil, false)
		if err != nil {
			return "", fmt.Errorf("invalid name %q: %w", name, err)
		}
		name, _, err = dns.UnpackDomainName(buf[:off], 0)
		if err != nil {
			return "", fmt.Errorf("invalid name %q: %w", name, err)
		}
	}
	return strings.ToLower(name), nil
}

// parseRR builds one record from canonical rdata. The common types are
// built directly, which makes loading a large zone several times faster
// than going through the zone-file parser; the rest use it.
func parseRR(name string, typ uint16, ttl uint32, data string) (dns.RR, error) {
	hdr := dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: ttl}
	switch typ {
	case dns.TypeA:
		if a, err := netip.ParseAddr(data); err == nil && a.Is4() {
			return &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())}, nil
		}
	case dns.TypeAAAA:
		if a, err := netip.ParseAddr(data); err == nil && a.Is6() && a.Zone() == "" {
			return &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())}, nil
		}
	case dns.TypeCNAME:
		if plainName(data) {
			return &dns.CNAME{Hdr: hdr, Target: data}, nil
		}
	case dns.TypeNS:
		if plainName(data) {
			return &dns.NS{Hdr: hdr, Ns: data}, nil
		}
	case dns.TypePTR:
		if plainName(data) {
			return &dns.PTR{Hdr: hdr, Ptr: data}, nil
		}
	case dns.TypeMX:
		if pref, target, ok := strings.Cut(data, " "); ok && plainName(target) {
			if p, err := strconv.ParseUint(pref, 10, 16); err == nil {
				return &dns.MX{Hdr: hdr, Preference: uint16(p), Mx: target}, nil
			}
		}
	}
	rr, err := dns.NewRR(name + " " + strconv.FormatUint(uint64(ttl), 10) + " IN " + zone.TypeString(typ) + " " + data)
	if err != nil {
		return nil, fmt.Errorf("%s %s %q: %w", name, zone.TypeString(typ), data, err)
	}
	if rr == nil || rr.Header().Rrtype != typ {
		return nil, fmt.Errorf("%s %s %q: does not parse as %s", name, zone.TypeString(typ), data, zone.TypeString(typ))
	}
	rr.Header().Name = name // share the owner string
	return rr, nil
}

// plainName reports whether s is a fully qualified name without escapes,
// which the fast paths of parseRR can take as it is.
func plainName(s string) bool {
	if !dns.IsFqdn(s) || strings.IndexByte(s, '\\') >= 0 || strings.IndexByte(s, ' ') >= 0 {
		return false
	}
	_, ok := dns.IsDomainName(s)
	return ok
}

// nextLabel returns the offset in name of the label after the one at off:
// for the last label ("com." in "example.com.") the offset of the root
// ("."), and for the root len(name).
func nextLabel(name string, off int) int {
	if off >= len(name)-1 {
		return len(name)
	}
	i, end := dns.NextLabel(name, off)
	if end {
		return len(name) - 1
	}
	return i
}

// inZone reports whether the canonical name is at or below the canonical
// origin, respecting escaped dots.
func inZone(name, origin string) bool {
	if origin == "." || name == origin {
		return true
	}
	if len(name) <= len(origin) || !strings.HasSuffix(name, origin) || name[len(name)-len(origin)-1] != '.' {
		return false
	}
	// The dot before the suffix must not be escaped.
	bs := 0
	for i := len(name) - len(origin) - 2; i >= 0 && name[i] == '\\'; i-- {
		bs++
	}
	return bs%2 == 0
}

func isWildcard(name string) bool {
	return len(name) >= 2 && name[0] == '*' && name[1] == '.'
}
