package dnsserver

import (
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// request is what the handler learned about a query while checking it.
type request struct {
	r      *dns.Msg
	qname  string // as asked
	lname  string // lower case
	qtype  uint16
	tcp    bool
	edns   bool
	do     bool
	size   uint16    // the client's EDNS buffer size
	tsig   *dns.TSIG // the request's TSIG, if any
	tsigOK bool      // the request's TSIG verified
	snap   *snapshot // the one snapshot this query uses
	w      dns.ResponseWriter
	rp     *reply
}

// reply is the scratch space of one query, pooled: the message, its OPT
// record and backing arrays for its sections, so that a typical reply
// allocates only inside the miekg/dns packer. Nothing of it outlives the
// query: it is cleared when the query is done, so a pooled reply pins no
// old snapshot either.
type reply struct {
	m      dns.Msg
	opt    dns.OPT
	answer [16]dns.RR
	extra  [maxGlue + 2]dns.RR
}

func (s *Server) getReply() *reply {
	return s.replies.Get().(*reply)
}

func (s *Server) putReply(rp *reply) {
	rp.m = dns.Msg{}
	clear(rp.answer[:])
	clear(rp.extra[:])
	s.replies.Put(rp)
}

// ServeDNS answers one query; it implements [dns.Handler]. [Server.Start]
// runs it under miekg/dns servers; a caller running it under a
// [dns.Server] of its own should set that server's MsgAcceptFunc as Start
// does (ServeDNS repeats the checks it depends on, but the default accept
// function answers some packets itself) and, when [Options.TSIG] is set,
// its TsigSecret to the same keys: ServeDNS trusts the writer's
// TsigStatus for the verdict on a signed request.
//
// Replies are packed and written with the writer's Write method (WriteMsg
// for signed ones), from a message that is reused once ServeDNS returns:
// a writer must not keep it.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Response {
		return // never answer a response
	}
	q := request{r: r, w: w, snap: s.snap.Load(), rp: s.getReply()}
	defer s.putReply(q.rp)
	if ra := w.RemoteAddr(); ra != nil {
		_, q.tcp = ra.(*net.TCPAddr)
	}
	m := &q.rp.m
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	m.RecursionDesired = r.RecursionDesired
	m.CheckingDisabled = r.CheckingDisabled
	m.Compress = true
	if len(r.Question) > 0 {
		m.Question = r.Question[:1:1]
	}

	if r.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		s.write(&q, m, false)
		return
	}
	if rcode := q.check(); rcode != dns.RcodeSuccess {
		m.Rcode = rcode
		s.write(&q, m, false)
		return
	}
	if rcode, tsigErr := s.checkTSIG(&q); rcode != dns.RcodeSuccess {
		m.Rcode = rcode
		s.writeTSIGError(&q, m, tsigErr)
		return
	}
	switch {
	case q.r.Question[0].Qclass != dns.ClassINET && q.r.Question[0].Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused
	case q.qtype == dns.TypeOPT || q.qtype == dns.TypeTSIG || q.qtype == dns.TypeTKEY:
		m.Rcode = dns.RcodeFormatError
	case q.qtype == dns.TypeMAILA || q.qtype == dns.TypeMAILB:
		m.Rcode = dns.RcodeNotImplemented
	case q.qtype == dns.TypeAXFR || q.qtype == dns.TypeIXFR:
		s.transfer(&q, m)
		return
	default:
		glueRequired := s.answer(&q, m)
		s.write(&q, m, glueRequired)
		return
	}
	s.write(&q, m, false)
}

// check validates the query beyond what acceptMsg sees in the header and
// fills in q; it returns the rcode of the error reply, or success.
func (q *request) check() int {
	r := q.r
	if len(r.Question) != 1 {
		return dns.RcodeFormatError
	}
	for _, sec := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range sec {
			if t := rr.Header().Rrtype; t == dns.TypeOPT || t == dns.TypeTSIG {
				return dns.RcodeFormatError
			}
		}
	}
	var opt *dns.OPT
	for i, rr := range r.Extra {
		switch rr := rr.(type) {
		case *dns.OPT:
			if opt != nil || rr.Hdr.Name != "." {
				return dns.RcodeFormatError
			}
			opt = rr
		case *dns.TSIG:
			if i != len(r.Extra)-1 {
				return dns.RcodeFormatError // RFC 8945 section 5.1: TSIG comes last
			}
			q.tsig = rr
		}
	}
	q.qname = r.Question[0].Name
	q.lname = lower(q.qname)
	q.qtype = r.Question[0].Qtype
	if opt != nil {
		q.edns = true
		q.do = opt.Do()
		q.size = max(opt.UDPSize(), dns.MinMsgSize)
		if opt.Version() != 0 {
			return dns.RcodeBadVers
		}
	}
	return dns.RcodeSuccess
}

// checkTSIG verifies a signed request; it returns the rcode (NOTAUTH) and
// TSIG error of the reply when the request must not be answered.
func (s *Server) checkTSIG(q *request) (rcode int, tsigErr uint16) {
	if q.tsig == nil {
		return dns.RcodeSuccess, 0
	}
	if _, ok := s.tsig[q.tsig.Hdr.Name]; !ok {
		return dns.RcodeNotAuth, dns.RcodeBadKey
	}
	switch err := q.w.TsigStatus(); {
	case err == nil:
		q.tsigOK = true
		return dns.RcodeSuccess, 0
	case errors.Is(err, dns.ErrTime):
		return dns.RcodeNotAuth, dns.RcodeBadTime
	case errors.Is(err, dns.ErrSig):
		return dns.RcodeNotAuth, dns.RcodeBadSig
	default: // unknown algorithm, undecodable MAC
		return dns.RcodeNotAuth, dns.RcodeBadKey
	}
}

// lower returns s in lower case, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// findZone returns the zone of name: the loaded zone with the longest
// origin that is a suffix of it. For DS at a zone's apex the parent zone,
// when loaded, is preferred: DS lives on the parent side of a cut.
func (sn *snapshot) findZone(name string, ds bool) *czone {
	var apexMatch *czone
	for off := 0; ; {
		if z := sn.zones[name[off:]]; z != nil {
			if !(ds && off == 0) {
				return z
			}
			apexMatch = z
		}
		if off >= len(name)-1 {
			return apexMatch
		}
		off = nextLabel(name, off)
	}
}

// answer fills m with the reply to a regular query. It reports whether the
// additional section holds glue a referral needs.
func (s *Server) answer(q *request, m *dns.Msg) (glueRequired bool) {
	z := q.snap.findZone(q.lname, q.qtype == dns.TypeDS)
	if z == nil {
		m.Rcode = dns.RcodeRefused
		return false
	}

	// RFC 1034 section 4.3.2, with the CNAME restart of step 3.a.
	n, how := z.find(q.lname)
	// owner is the name the answer records must carry; rename says they
	// need a copy with it (a wildcard, or the question's own case).
	owner, rename := q.qname, how == wildcard || q.qname != q.lname
	visited := [MaxCNAMEChain + 1]*node{}
	for hops := 0; ; hops++ {
		switch {
		case how == noName:
			m.Authoritative = true
			m.Rcode = dns.RcodeNameError // after a CNAME, RFC 6604: the rcode of the last name
			m.Ns = z.negSOA
			return false
		case how == belowCut,
			n.cut != nil && !(n == n.cut && how == exact && q.qtype == dns.TypeDS):
			// DS at the cut itself is the parent's data and answered
			// below; everything else at or below a cut is referred. After
			// a CNAME the answer so far stays authoritative.
			m.Authoritative = hops > 0
			return refer(m, n.cut)
		}
		m.Authoritative = true
		if how == exact {
			for _, v := range visited[:hops] {
				if v == n {
					return false // a CNAME loop: what we have is the answer
				}
			}
		}
		visited[hops] = n

		if q.qtype == dns.TypeANY && hops == 0 {
			s.answerANY(q, m, z, n, owner, rename)
			return false
		}
		if set := n.get(q.qtype); set != nil {
			m.Answer = s.appendSet(q, m.Answer, set, owner, rename)
			if len(set.extra) > 0 {
				m.Extra = set.extra
			}
			return false
		}
		cname := n.get(dns.TypeCNAME)
		if cname == nil {
			m.Ns = z.negSOA // NODATA (RFC 2308 section 2.2), also at the end of a chain
			return false
		}
		if hops == MaxCNAMEChain {
			return false // the chain is too long: the resolver follows from here
		}
		m.Answer = s.appendSet(q, m.Answer, cname, owner, rename)
		if !inZone(cname.target, z.origin) {
			return false
		}
		n, how = z.find(cname.target)
		owner, rename = cname.target, how == wildcard
	}
}

// answerANY answers qtype ANY at n (RFC 8482): over UDP with one RRset,
// over TCP with all of them.
func (s *Server) answerANY(q *request, m *dns.Msg, z *czone, n *node, owner string, rename bool) {
	if len(n.sets) == 0 {
		m.Ns = z.negSOA
		return
	}
	if !q.tcp {
		set := &n.sets[0]
		if c := n.get(dns.TypeCNAME); c != nil {
			set = c
		}
		m.Answer = s.appendSet(q, m.Answer, set, owner, rename)
		return
	}
	for i := range n.sets {
		m.Answer = s.appendSet(q, m.Answer, &n.sets[i], owner, rename)
	}
}

// refer fills m with the referral to the cut.
func refer(m *dns.Msg, cut *node) bool {
	m.Ns = cut.ref.ns
	m.Extra = cut.ref.glue
	return cut.ref.glueRequired
}

// How [czone.find] found a name.
const (
	noName   = iota // the name does not exist and no wildcard matches
	exact           // the name exists
	wildcard        // a wildcard matches the name
	belowCut        // the name is below a zone cut; the node is its closest encloser
)

// find returns the node that answers for the canonical name and how it
// was found.
func (z *czone) find(name string) (*node, int) {
	if n := z.names[name]; n != nil {
		return n, exact
	}
	// The closest encloser: the longest existing ancestor. The apex
	// exists, so the walk ends there at the latest; it starts at the depth
	// of the deepest name, so that a long random name costs no more than
	// a short one.
	off := nextLabel(name, 0)
	for skip := dns.CountLabel(name) - 1 - z.depth; skip > 0; skip-- {
		off = nextLabel(name, off)
	}
	for ; off < len(name); off = nextLabel(name, off) {
		ce := z.names[name[off:]]
		if ce == nil {
			continue
		}
		switch {
		case ce.cut != nil:
			return ce, belowCut
		case ce.wild != nil:
			return ce.wild, wildcard // RFC 4592 section 3.3.1
		default:
			return nil, noName
		}
	}
	return nil, noName
}

// appendSet appends the records of set to dst, drawn by the set's pick if
// it has one, with the owner name owner when rename is set. The answer is
// built in the query's scratch array; a set too big for it and needing no
// change is returned as the snapshot holds it (cap == len, so a later
// append copies rather than writing into the snapshot).
func (s *Server) appendSet(q *request, dst []dns.RR, set *rrset, owner string, rename bool) []dns.RR {
	if len(dst) == 0 {
		if set.pick == nil && !rename && len(set.rrs) > len(q.rp.answer) {
			return set.rrs
		}
		dst = q.rp.answer[:0]
	}
	start := len(dst)
	if set.pick != nil {
		dst = set.pick.choose(dst, set.rrs, s.rand)
	} else {
		dst = append(dst, set.rrs...)
	}
	if rename {
		for i := start; i < len(dst); i++ {
			dst[i] = withOwner(dst[i], owner)
		}
	}
	return dst
}

// withOwner returns a copy of rr with another owner name. The copy is
// shallow for the common types (rdata slices are shared, which is safe:
// nothing writes to them).
func withOwner(rr dns.RR, owner string) dns.RR {
	switch rr := rr.(type) {
	case *dns.A:
		c := *rr
		c.Hdr.Name = owner
		return &c
	case *dns.AAAA:
		c := *rr
		c.Hdr.Name = owner
		return &c
	case *dns.CNAME:
		c := *rr
		c.Hdr.Name = owner
		return &c
	case *dns.TXT:
		c := *rr
		c.Hdr.Name = owner
		return &c
	case *dns.MX:
		c := *rr
		c.Hdr.Name = owner
		return &c
	case *dns.NS:
		c := *rr
		c.Hdr.Name = owner
		return &c
	case *dns.SOA:
		c := *rr
		c.Hdr.Name = owner
		return &c
	case *dns.SRV:
		c := *rr
		c.Hdr.Name = owner
		return &c
	}
	c := dns.Copy(rr)
	c.Header().Name = owner
	return c
}

// limit returns the largest reply the client accepts.
func (s *Server) limit(q *request) int {
	switch {
	case q.tcp:
		return dns.MaxMsgSize
	case q.edns:
		return int(min(q.size, s.udpSize))
	default:
		return dns.MinMsgSize
	}
}

// write completes m (EDNS, TSIG), fits it into the client's limit and
// sends it.
func (s *Server) write(q *request, m *dns.Msg, glueRequired bool) {
	if m.Rcode == dns.RcodeFormatError {
		// FORMERR replies carry the question only: whatever made the query
		// malformed may be in the other sections, the OPT included.
		m.Answer, m.Ns, m.Extra = nil, nil, nil
	} else if q.edns {
		if m.Rcode == dns.RcodeBadVers {
			m.Answer, m.Ns, m.Extra = nil, nil, nil
		}
		opt := &q.rp.opt
		s.setOPT(q, opt)
		if len(m.Extra) < len(q.rp.extra) {
			m.Extra = append(append(q.rp.extra[:0], m.Extra...), opt)
		} else {
			m.Extra = append(m.Extra, opt)
		}
	}
	if q.tsigOK {
		s.writeSigned(q, m, glueRequired)
		return
	}

	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	limit := s.limit(q)
	buf, err := m.PackBuffer(*bp)
	if err == nil && len(buf) > limit {
		s.shrink(q, m, glueRequired, limit)
		buf, err = m.PackBuffer(*bp)
	}
	if err != nil || len(buf) > limit {
		s.log.Error("pack reply", "qname", q.qname, "qtype", dns.Type(q.qtype).String(), "size", len(buf), "err", err)
		s.servfail(q, m)
		if buf, err = m.PackBuffer(*bp); err != nil {
			return
		}
	}
	if _, err := q.w.Write(buf); err != nil {
		s.log.Debug("write reply", "remote", q.w.RemoteAddr(), "err", err)
	}
}

// shrink makes m fit in limit after it did not: first by dropping whole
// RRsets from the end of the additional section, which needs no TC (RFC
// 2181 section 9), then, over UDP, by sending TC with only the question
// (and OPT) left. Glue a referral needs is never dropped alone: without it
// the referral is truncated. Over TCP m may stay too big; the caller
// turns it into SERVFAIL.
func (s *Server) shrink(q *request, m *dns.Msg, glueRequired bool, limit int) {
	opt := m.IsEdns0()
	var keep []dns.RR
	if opt != nil {
		keep = []dns.RR{opt}
	}
	extra := m.Extra[:len(m.Extra)-len(keep)]
	if !glueRequired {
		for k := len(extra); k > 0; {
			k = lastSetStart(extra[:k])
			m.Extra = append(extra[:k:k], keep...)
			if m.Len() <= limit {
				return
			}
		}
	}
	if q.tcp {
		return
	}
	m.Truncated = true
	m.Answer, m.Ns, m.Extra = nil, nil, keep
}

// lastSetStart returns the index of the first record of the last RRset in
// rrs (records of one RRset are adjacent).
func lastSetStart(rrs []dns.RR) int {
	last := rrs[len(rrs)-1].Header()
	i := len(rrs) - 1
	for i > 0 {
		h := rrs[i-1].Header()
		if h.Rrtype != last.Rrtype || h.Name != last.Name {
			break
		}
		i--
	}
	return i
}

// servfail turns m into an empty SERVFAIL, for replies that cannot be
// sent.
func (s *Server) servfail(q *request, m *dns.Msg) {
	m.Rcode = dns.RcodeServerFailure
	m.Authoritative, m.Truncated = false, false
	m.Answer, m.Ns, m.Extra = nil, nil, nil
	if q.edns {
		m.Extra = []dns.RR{s.opt(q)}
	}
}

// opt returns a new OPT record for our reply. It is built per reply:
// packing writes the extended rcode into it.
func (s *Server) opt(q *request) *dns.OPT {
	o := new(dns.OPT)
	s.setOPT(q, o)
	return o
}

// setOPT makes o the OPT record of our reply to q.
func (s *Server) setOPT(q *request, o *dns.OPT) {
	*o = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(s.udpSize)
	if q.do {
		o.SetDo()
	}
}

// tsigOverhead is room kept for the TSIG record of a signed reply: the
// key and algorithm names plus fixed fields and a 64-byte MAC
// (HMAC-SHA512) and 6 bytes of other data (BADTIME).
func tsigOverhead(t *dns.TSIG) int {
	return len(t.Hdr.Name) + 2 + 10 + len(t.Algorithm) + 2 + 6 + 2 + 2 + 64 + 2 + 2 + 2 + 6
}

// writeSigned signs m with the request's key and sends it.
func (s *Server) writeSigned(q *request, m *dns.Msg, glueRequired bool) {
	limit := s.limit(q) - tsigOverhead(q.tsig)
	if m.Len() > limit {
		s.shrink(q, m, glueRequired, limit)
		if m.Len() > limit {
			s.servfail(q, m)
		}
	}
	m.SetTsig(q.tsig.Hdr.Name, q.tsig.Algorithm, q.tsig.Fudge, time.Now().Unix())
	if err := q.w.WriteMsg(m); err != nil {
		s.log.Debug("write signed reply", "remote", q.w.RemoteAddr(), "err", err)
	}
}

// writeTSIGError sends the NOTAUTH reply to a request whose TSIG failed
// (RFC 8945 section 5.3.2): unsigned for BADKEY and BADSIG, signed for
// BADTIME, with our time in the other data.
func (s *Server) writeTSIGError(q *request, m *dns.Msg, tsigErr uint16) {
	if q.edns {
		m.Extra = append(m.Extra, s.opt(q))
	}
	now := time.Now().Unix()
	t := &dns.TSIG{
		Hdr:        dns.RR_Header{Name: q.tsig.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm:  q.tsig.Algorithm,
		TimeSigned: q.tsig.TimeSigned,
		Fudge:      q.tsig.Fudge,
		OrigId:     m.Id,
		Error:      tsigErr,
	}
	if tsigErr == dns.RcodeBadTime {
		var b [6]byte
		for i := range b {
			b[i] = byte(uint64(now) >> (8 * (5 - i)))
		}
		t.OtherLen, t.OtherData = 6, hex.EncodeToString(b[:])
		m.Extra = append(m.Extra, t)
		if err := q.w.WriteMsg(m); err != nil {
			s.log.Debug("write tsig error", "remote", q.w.RemoteAddr(), "err", err)
		}
		return
	}
	m.Extra = append(m.Extra, t)
	buf, err := m.Pack()
	if err != nil {
		s.log.Error("pack tsig error", "err", err)
		return
	}
	if _, err := q.w.Write(buf); err != nil {
		s.log.Debug("write tsig error", "remote", q.w.RemoteAddr(), "err", err)
	}
}
