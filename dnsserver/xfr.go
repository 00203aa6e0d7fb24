package dnsserver

import (
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// maxXFRBytes bounds the uncompressed size of the records of one transfer
// message, well inside the 65535 bytes of a TCP message.
const maxXFRBytes = 32 << 10

// transfer answers AXFR and IXFR.
func (s *Server) transfer(q *request, m *dns.Msg) {
	if !s.mayTransfer(q) {
		m.Rcode = dns.RcodeRefused
		s.write(q, m, false)
		return
	}
	z := q.snap.zones[q.lname]
	if z == nil {
		m.Rcode = dns.RcodeNotAuth // RFC 5936 section 2.2.1: not our zone
		s.write(q, m, false)
		return
	}
	m.Authoritative = true
	if q.qtype == dns.TypeIXFR && (!q.tcp || s.ixfrCurrent(q, z)) {
		// RFC 1995 section 2 and 4: a client that is current, and any
		// client over UDP, gets our SOA alone; the latter retries over TCP.
		m.Answer = z.soa.rrs
		s.write(q, m, false)
		return
	}
	if !q.tcp {
		m.Rcode = dns.RcodeRefused // AXFR over UDP (RFC 5936 section 4.2)
		s.write(q, m, false)
		return
	}
	s.axfr(q, m, z)
}

// mayTransfer applies the transfer ACL: the client's address must be in
// AXFRAllow and, when TSIG keys are configured, the request signed.
func (s *Server) mayTransfer(q *request) bool {
	if len(s.tsig) > 0 && !q.tsigOK {
		return false
	}
	var addr netip.Addr
	switch a := q.w.RemoteAddr().(type) {
	case *net.TCPAddr:
		addr = a.AddrPort().Addr()
	case *net.UDPAddr:
		addr = a.AddrPort().Addr()
	default:
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.axfrAllow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ixfrCurrent reports whether the IXFR client's serial (from the SOA in
// the request's authority section) is not older than ours, in serial
// number arithmetic (RFC 1982).
func (s *Server) ixfrCurrent(q *request, z *czone) bool {
	for _, rr := range q.r.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return int32(z.serial-soa.Serial) <= 0
		}
	}
	return false
}

// axfr streams the zone over TCP: the SOA, every record, the SOA again,
// in messages of at most MaxXFRRecords records and maxXFRBytes bytes.
// The whole transfer comes from the one snapshot the query started with.
func (s *Server) axfr(q *request, first *dns.Msg, z *czone) {
	stop := s.stopping()
	m := first
	size := 0
	send := func() bool {
		select {
		case <-stop:
			return false
		default:
		}
		if q.edns {
			m.Extra = []dns.RR{s.opt(q)}
		}
		if q.tsigOK {
			m.SetTsig(q.tsig.Hdr.Name, q.tsig.Algorithm, q.tsig.Fudge, time.Now().Unix())
			if err := q.w.WriteMsg(m); err != nil {
				s.log.Debug("axfr write", "zone", z.origin, "remote", q.w.RemoteAddr(), "err", err)
				return false
			}
			q.w.TsigTimersOnly(true) // RFC 8945 section 5.3.1
		} else {
			buf, err := m.Pack()
			if err == nil {
				_, err = q.w.Write(buf)
			}
			if err != nil {
				s.log.Debug("axfr write", "zone", z.origin, "remote", q.w.RemoteAddr(), "err", err)
				return false
			}
		}
		m = &dns.Msg{MsgHdr: first.MsgHdr, Compress: true}
		size = 0
		return true
	}
	add := func(rr dns.RR) bool {
		l := dns.Len(rr)
		if len(m.Answer) == MaxXFRRecords || (len(m.Answer) > 0 && size+l > maxXFRBytes) {
			if !send() {
				return false
			}
		}
		m.Answer = append(m.Answer, rr)
		size += l
		return true
	}

	soa := z.soa.rrs[0]
	if !add(soa) {
		return
	}
	for _, n := range z.nodes {
		for i := range n.sets {
			set := &n.sets[i]
			if set.typ == dns.TypeSOA {
				continue
			}
			for _, rr := range set.rrs {
				if !add(rr) {
					return
				}
			}
		}
	}
	if add(soa) {
		send()
	}
}
