package zone

import (
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"slices"

	"github.com/miekg/dns"
)

// SOA holds the fields of a zone's SOA record other than its serial, which
// is always the zone's [Zone.Generation].
type SOA struct {
	MName   string `json:"mname"`
	RName   string `json:"rname"`
	Refresh uint32 `json:"refresh"`
	Retry   uint32 `json:"retry"`
	Expire  uint32 `json:"expire"`
	Minimum uint32 `json:"minimum"` // negative-caching TTL (RFC 2308)
	TTL     uint32 `json:"ttl"`
}

// Pick says how the embedded server answers a weighted RRset: on every
// query it chooses up to MaxAnswers of the set's records, each with
// probability proportional to its weight. Providers that cannot choose per
// query publish the whole set.
type Pick struct {
	// Weights maps a record's rdata (as in [RRset.Data]) to its weight.
	// Every record of the set has an entry; a weight of 0 means the record
	// is only chosen when no record with a positive weight is left.
	Weights map[string]uint32 `json:"weights"`
	// MaxAnswers bounds the records in one answer; 0 means all.
	MaxAnswers int `json:"max_answers"`
}

// Zone is the desired content of one zone at one generation. It is a value:
// once built and handed on, nobody mutates it, so the DNS server, the
// reconciler and the API can share it without locks.
type Zone struct {
	// Origin is the zone's apex, a canonical name.
	Origin string `json:"origin"`
	// Generation grows by one with every change of the content below. The
	// SOA serial is Generation modulo 2^32.
	Generation uint64 `json:"generation"`
	SOA        SOA    `json:"soa"`
	// Records holds every RRset of the zone except the SOA: the apex NS,
	// static records and managed records, sorted by key.
	Records []RRset `json:"records"`
	// Managed lists the keys of Records that the policy steers, sorted.
	// Only these (and the fencing record) are ever written to providers.
	Managed []Key `json:"managed"`
	// Picks holds the weighted-answer rules of managed RRsets that have
	// them.
	Picks map[Key]Pick `json:"-"`
}

// Serial returns the SOA serial for the zone's generation.
func (z *Zone) Serial() uint32 { return uint32(z.Generation) }

// SOARecord returns the zone's SOA record.
func (z *Zone) SOARecord() *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: z.Origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: z.SOA.TTL},
		Ns:      z.SOA.MName,
		Mbox:    z.SOA.RName,
		Serial:  z.Serial(),
		Refresh: z.SOA.Refresh,
		Retry:   z.SOA.Retry,
		Expire:  z.SOA.Expire,
		Minttl:  z.SOA.Minimum,
	}
}

// Lookup returns the RRset with the given key.
func (z *Zone) Lookup(k Key) (RRset, bool) {
	i, ok := slices.BinarySearchFunc(z.Records, k, func(s RRset, k Key) int {
		if c := CompareNames(s.Name, k.Name); c != 0 {
			return c
		}
		return int(s.Type) - int(k.Type)
	})
	if !ok {
		return RRset{}, false
	}
	return z.Records[i], true
}

// IsManaged reports whether the policy steers the RRset with key k.
func (z *Zone) IsManaged(k Key) bool {
	_, ok := slices.BinarySearchFunc(z.Managed, k, compareKeys)
	return ok
}

// ManagedRecords returns the managed RRsets, sorted by key.
func (z *Zone) ManagedRecords() []RRset {
	out := make([]RRset, 0, len(z.Managed))
	for _, k := range z.Managed {
		if s, ok := z.Lookup(k); ok {
			out = append(out, s)
		}
	}
	return out
}

// ContentHash digests everything about the zone except its generation, so
// that a new generation is minted exactly when the content changes.
func (z *Zone) ContentHash() [32]byte {
	h := sha256.New()
	var buf [8]byte
	str := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	num := func(n uint64) {
		binary.BigEndian.PutUint64(buf[:], n)
		h.Write(buf[:])
	}
	str(z.Origin)
	str(z.SOA.MName)
	str(z.SOA.RName)
	for _, n := range []uint32{z.SOA.Refresh, z.SOA.Retry, z.SOA.Expire, z.SOA.Minimum, z.SOA.TTL} {
		num(uint64(n))
	}
	num(uint64(len(z.Records)))
	for _, s := range z.Records {
		str(s.Name)
		num(uint64(s.Type))
		num(uint64(s.TTL))
		num(uint64(len(s.Data)))
		for _, d := range s.Data {
			str(d)
		}
	}
	num(uint64(len(z.Managed)))
	for _, k := range z.Managed {
		str(k.Name)
		num(uint64(k.Type))
	}
	keys := slices.SortedFunc(maps.Keys(z.Picks), compareKeys)
	num(uint64(len(keys)))
	for _, k := range keys {
		p := z.Picks[k]
		str(k.Name)
		num(uint64(k.Type))
		num(uint64(p.MaxAnswers))
		for _, d := range slices.Sorted(maps.Keys(p.Weights)) {
			str(d)
			num(uint64(p.Weights[d]))
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func compareKeys(a, b Key) int {
	if c := CompareNames(a.Name, b.Name); c != 0 {
		return c
	}
	return int(a.Type) - int(b.Type)
}

// SortKeys sorts keys in canonical order.
func SortKeys(keys []Key) { slices.SortFunc(keys, compareKeys) }

// Change is one RRset-level difference between a provider's current content
// and the desired content. Old is the content the change expects to find
// (nil: the RRset must not exist); New is what it writes (nil: delete). A
// provider applies a Change only if the RRset still equals Old at the moment
// of the write: that is the compare-and-swap.
type Change struct {
	Key Key    `json:"key"`
	Old *RRset `json:"old,omitempty"`
	New *RRset `json:"new,omitempty"`
}

// Kind names the change: "create", "update" or "delete".
func (c Change) Kind() string {
	switch {
	case c.Old == nil:
		return "create"
	case c.New == nil:
		return "delete"
	default:
		return "update"
	}
}

// Diff returns the changes that turn current into desired, sorted by key.
// Both must be canonical; RRsets present in neither are not mentioned, and
// an RRset equal in both (records and TTL) yields no change. Empty sets in
// desired are treated as absent, so Diff never plans an empty RRset.
func Diff(current, desired []RRset) []Change {
	cur := make(map[Key]RRset, len(current))
	for _, s := range current {
		if !s.Empty() {
			cur[s.Key()] = s
		}
	}
	var out []Change
	seen := make(map[Key]bool, len(desired))
	for _, d := range desired {
		if d.Empty() {
			continue
		}
		k := d.Key()
		seen[k] = true
		c, ok := cur[k]
		switch {
		case !ok:
			n := d.Clone()
			out = append(out, Change{Key: k, New: &n})
		case !c.Equal(d):
			o, n := c.Clone(), d.Clone()
			out = append(out, Change{Key: k, Old: &o, New: &n})
		}
	}
	for _, s := range current {
		k := s.Key()
		if s.Empty() || seen[k] {
			continue
		}
		o := s.Clone()
		out = append(out, Change{Key: k, Old: &o})
	}
	slices.SortFunc(out, func(a, b Change) int { return compareKeys(a.Key, b.Key) })
	return out
}
