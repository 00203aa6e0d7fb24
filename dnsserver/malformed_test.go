package dnsserver

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// packed returns the wire form of m, failing the test if it does not pack.
func packed(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return b
}

// probe is a valid query with an id no raw case uses: its reply marks the
// point after which a reply to the case before it would be late.
func probe(t *testing.T, id uint16) []byte {
	m := query("www.example.com.", dns.TypeA)
	m.Id = id
	return packed(t, m)
}

// rawExchange sends pkt over UDP and returns the reply with id want. When
// noReply is set it checks that none comes instead: the server handles
// each packet in its own goroutine, so "none" cannot be proven without
// waiting, and a fixed wait would be a sleep. It sends valid probe queries
// after pkt, one after the reply to the other, and takes the second probe's
// reply as the point by which a reply to pkt would in all likelihood have
// arrived: a server that answers pkt fails the test, if not every time,
// nearly every time.
func rawExchange(t *testing.T, addr string, pkt []byte, want uint16, noReply bool) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(pkt); err != nil {
		t.Fatalf("write: %v", err)
	}
	const probe1, probe2 = 0xfff1, 0xfff2
	if noReply {
		if _, err := c.Write(probe(t, probe1)); err != nil {
			t.Fatalf("write probe: %v", err)
		}
	}
	buf := make([]byte, 65535)
	for {
		n, err := c.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("no reply: %v", err)
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n < 12 {
			t.Fatalf("got a %d-byte reply", n)
		}
		switch id := binary.BigEndian.Uint16(buf); {
		case id == want:
			m := new(dns.Msg)
			if err := m.Unpack(buf[:n]); err != nil {
				t.Fatalf("unpack reply: %v", err)
			}
			return m
		case noReply && id == probe1:
			if _, err := c.Write(probe(t, probe2)); err != nil {
				t.Fatalf("write probe: %v", err)
			}
		case noReply && id == probe2:
			return nil
		default:
			t.Fatalf("got a reply with id %#x, want %#x", id, want)
		}
	}
}

func TestMalformed(t *testing.T) {
	s := newLoaded(t, Options{})
	addr := start(t, s)

	const id = 0x4242
	q := func() *dns.Msg {
		m := query("www.example.com.", dns.TypeA)
		m.Id = id
		return m
	}
	tests := []struct {
		name      string
		pkt       func(t *testing.T) []byte
		noReply   bool
		rcode     int
		opcode    int
		question  bool // the reply echoes the question
		opt       bool // the reply has an OPT record
		answer    bool // the reply has answers
		wantExtra int  // records in the additional section, OPT included
	}{
		{name: "valid", pkt: func(t *testing.T) []byte { return packed(t, q()) },
			rcode: dns.RcodeSuccess, question: true, answer: true},
		{name: "no question", pkt: func(t *testing.T) []byte {
			m := q()
			m.Question = nil
			return packed(t, m)
		}, rcode: dns.RcodeFormatError},
		{name: "two questions", pkt: func(t *testing.T) []byte {
			m := q()
			m.Question = append(m.Question, dns.Question{Name: "example.com.", Qtype: dns.TypeSOA, Qclass: dns.ClassINET})
			return packed(t, m)
		}, rcode: dns.RcodeFormatError},
		{name: "header only, QDCOUNT 1", pkt: func(t *testing.T) []byte {
			return packed(t, q())[:12]
		}, rcode: dns.RcodeFormatError},
		{name: "question cut short", pkt: func(t *testing.T) []byte {
			return packed(t, q())[:16]
		}, rcode: dns.RcodeFormatError},
		{name: "bad label length", pkt: func(t *testing.T) []byte {
			b := packed(t, q())
			b[12] = 0x3f // "www" now claims 63 bytes
			return b
		}, rcode: dns.RcodeFormatError},
		{name: "answer section in a query", pkt: func(t *testing.T) []byte {
			m := q()
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(192, 0, 2, 1)}}
			return packed(t, m)
		}, rcode: dns.RcodeFormatError},
		{name: "two OPT records", pkt: func(t *testing.T) []byte {
			m := q()
			m.SetEdns0(1232, false)
			m.SetEdns0(1232, false)
			return packed(t, m)
		}, rcode: dns.RcodeFormatError, question: true},
		{name: "OPT with an owner name", pkt: func(t *testing.T) []byte {
			m := q()
			m.SetEdns0(1232, false)
			m.Extra[0].Header().Name = "example.com."
			return packed(t, m)
		}, rcode: dns.RcodeFormatError, question: true},
		{name: "OPT in the authority section", pkt: func(t *testing.T) []byte {
			m := q()
			m.SetEdns0(1232, false)
			m.Ns, m.Extra = m.Extra, nil
			return packed(t, m)
		}, rcode: dns.RcodeFormatError, question: true},
		{name: "TSIG not last", pkt: func(t *testing.T) []byte {
			m := q()
			m.SetTsig("key.", dns.HmacSHA256, 300, time.Now().Unix())
			m.Extra[0].(*dns.TSIG).MAC = "00"
			m.Extra[0].(*dns.TSIG).MACSize = 1
			m.SetEdns0(1232, false)
			return packed(t, m)
		}, rcode: dns.RcodeFormatError, question: true},
		{name: "EDNS version 1", pkt: func(t *testing.T) []byte {
			m := q()
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return packed(t, m)
		}, rcode: dns.RcodeBadVers, question: true, opt: true, wantExtra: 1},
		{name: "opcode NOTIFY", pkt: func(t *testing.T) []byte {
			m := q()
			m.Opcode = dns.OpcodeNotify
			return packed(t, m)
		}, rcode: dns.RcodeNotImplemented, opcode: dns.OpcodeNotify},
		{name: "opcode UPDATE", pkt: func(t *testing.T) []byte {
			m := q()
			m.Opcode = dns.OpcodeUpdate
			return packed(t, m)
		}, rcode: dns.RcodeNotImplemented, opcode: dns.OpcodeUpdate},
		{name: "opcode STATUS", pkt: func(t *testing.T) []byte {
			m := q()
			m.Opcode = dns.OpcodeStatus
			return packed(t, m)
		}, rcode: dns.RcodeNotImplemented, opcode: dns.OpcodeStatus},
		{name: "response is dropped", pkt: func(t *testing.T) []byte {
			m := q()
			m.Response = true
			return packed(t, m)
		}, noReply: true},
		{name: "short packet is dropped", pkt: func(t *testing.T) []byte {
			return packed(t, q())[:11]
		}, noReply: true},
		{name: "class CH is refused", pkt: func(t *testing.T) []byte {
			m := q()
			m.Question[0].Qclass = dns.ClassCHAOS
			return packed(t, m)
		}, rcode: dns.RcodeRefused, question: true},
		{name: "class NONE is refused", pkt: func(t *testing.T) []byte {
			m := q()
			m.Question[0].Qclass = dns.ClassNONE
			return packed(t, m)
		}, rcode: dns.RcodeRefused, question: true},
		{name: "qtype OPT", pkt: func(t *testing.T) []byte {
			m := q()
			m.Question[0].Qtype = dns.TypeOPT
			return packed(t, m)
		}, rcode: dns.RcodeFormatError, question: true},
		{name: "qtype MAILB", pkt: func(t *testing.T) []byte {
			m := q()
			m.Question[0].Qtype = dns.TypeMAILB
			return packed(t, m)
		}, rcode: dns.RcodeNotImplemented, question: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rawExchange(t, addr, tc.pkt(t), id, tc.noReply)
			if tc.noReply {
				if r != nil {
					t.Fatalf("got reply %v, want none", r)
				}
				return
			}
			if r == nil {
				t.Fatalf("got no reply, want rcode %s", dns.RcodeToString[tc.rcode])
			}
			if r.Rcode != tc.rcode {
				t.Errorf("got rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if r.Opcode != tc.opcode {
				t.Errorf("got opcode %d, want %d", r.Opcode, tc.opcode)
			}
			if !r.Response {
				t.Errorf("got QR clear, want set")
			}
			if got := len(r.Question) == 1 && r.Question[0].Name == "www.example.com."; got != tc.question {
				t.Errorf("got question %v, want echoed %v", r.Question, tc.question)
			}
			if got := r.IsEdns0() != nil; got != tc.opt {
				t.Errorf("got OPT %v, want %v", got, tc.opt)
			}
			if got := len(r.Answer) > 0; got != tc.answer {
				t.Errorf("got answer %v, want some: %v", r.Answer, tc.answer)
			}
			if len(r.Extra) != tc.wantExtra {
				t.Errorf("got %d additional records, want %d", len(r.Extra), tc.wantExtra)
			}
		})
	}
}

// TestAcceptMsg checks the header filter on its own, for the cases the
// raw test sends.
func TestAcceptMsg(t *testing.T) {
	const qr = 1 << 15
	tests := []struct {
		name string
		h    dns.Header
		want dns.MsgAcceptAction
	}{
		{"query", dns.Header{Qdcount: 1}, dns.MsgAccept},
		{"query with OPT and TSIG", dns.Header{Qdcount: 1, Arcount: 2}, dns.MsgAccept},
		{"IXFR with its SOA", dns.Header{Qdcount: 1, Nscount: 1}, dns.MsgAccept},
		{"response", dns.Header{Bits: qr, Qdcount: 1}, dns.MsgIgnore},
		{"NOTIFY", dns.Header{Bits: dns.OpcodeNotify << 11, Qdcount: 1, Ancount: 1}, dns.MsgRejectNotImplemented},
		{"UPDATE", dns.Header{Bits: dns.OpcodeUpdate << 11, Qdcount: 1, Nscount: 5}, dns.MsgRejectNotImplemented},
		{"no question", dns.Header{}, dns.MsgReject},
		{"two questions", dns.Header{Qdcount: 2}, dns.MsgReject},
		{"answers", dns.Header{Qdcount: 1, Ancount: 1}, dns.MsgReject},
		{"two authority records", dns.Header{Qdcount: 1, Nscount: 2}, dns.MsgReject},
		{"three additional records", dns.Header{Qdcount: 1, Arcount: 3}, dns.MsgReject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := acceptMsg(tc.h); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestServeDNSDropsResponses checks the handler's own guard, for callers
// that use it under a server with another accept function.
func TestServeDNSDropsResponses(t *testing.T) {
	s := newLoaded(t, Options{})
	m := query("www.example.com.", dns.TypeA)
	m.Response = true
	w := newRecorder(false)
	s.ServeDNS(w, m)
	if len(w.msgs) != 0 {
		t.Errorf("got %d replies, want 0", len(w.msgs))
	}
}
