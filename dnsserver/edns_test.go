package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

func TestEDNS(t *testing.T) {
	s := newLoaded(t, Options{UDPSize: 1400})
	addr := start(t, s)

	tests := []struct {
		name     string
		size     uint16 // 0: no OPT in the query
		do       bool
		wantOPT  bool
		wantDO   bool
		wantSize uint16
	}{
		{name: "no OPT, none back"},
		{name: "OPT echoed with our size", size: 4096, wantOPT: true, wantSize: 1400},
		{name: "small client size", size: 512, wantOPT: true, wantSize: 1400},
		{name: "DO echoed", size: 4096, do: true, wantOPT: true, wantDO: true, wantSize: 1400},
	}
	for _, tc := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				m := query("www.example.com.", dns.TypeA)
				if tc.size > 0 {
					m.SetEdns0(tc.size, tc.do)
				}
				r := exchange(t, addr, network, m)
				opt := r.IsEdns0()
				if got := opt != nil; got != tc.wantOPT {
					t.Fatalf("got OPT %v, want %v", got, tc.wantOPT)
				}
				if opt == nil {
					return
				}
				if opt.Do() != tc.wantDO {
					t.Errorf("got DO %v, want %v", opt.Do(), tc.wantDO)
				}
				if opt.UDPSize() != tc.wantSize {
					t.Errorf("got size %d, want %d", opt.UDPSize(), tc.wantSize)
				}
				if opt.Version() != 0 {
					t.Errorf("got version %d, want 0", opt.Version())
				}
				if len(r.Answer) != 2 {
					t.Errorf("got %d answers, want 2", len(r.Answer))
				}
			})
		}
	}
}

// TestTruncation sends answers of about 800 bytes (mid), 1700 bytes (big),
// an MX whose optional glue overflows 512 bytes (mxbig) and a referral
// whose required glue does (bigdeleg).
func TestTruncation(t *testing.T) {
	s := newLoaded(t, Options{})
	addr := start(t, s)

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		network   string
		size      uint16 // EDNS size; 0 for no EDNS
		tc        bool
		answers   int
		authority int
		extra     int // OPT excluded
	}{
		{name: "mid without EDNS", qname: "mid.example.com.", qtype: dns.TypeTXT, network: "udp", tc: true},
		{name: "mid with EDNS 1232", qname: "mid.example.com.", qtype: dns.TypeTXT, network: "udp", size: 1232, answers: 20},
		{name: "mid with EDNS 300 is 512", qname: "mid.example.com.", qtype: dns.TypeTXT, network: "udp", size: 300, tc: true},
		{name: "mid over TCP", qname: "mid.example.com.", qtype: dns.TypeTXT, network: "tcp", answers: 20},
		{name: "big with EDNS 4096 is capped", qname: "big.example.com.", qtype: dns.TypeTXT, network: "udp", size: 4096, tc: true},
		{name: "big over TCP", qname: "big.example.com.", qtype: dns.TypeTXT, network: "tcp", answers: 40},
		{name: "optional glue cut by RRset", qname: "mxbig.example.com.", qtype: dns.TypeMX, network: "udp", answers: 4, extra: 12},
		{name: "optional glue kept when it fits", qname: "mxbig.example.com.", qtype: dns.TypeMX, network: "udp", size: 1232, answers: 4, extra: 16},
		{name: "required glue truncates", qname: "www.bigdeleg.example.com.", qtype: dns.TypeA, network: "udp", tc: true},
		{name: "required glue fits", qname: "www.bigdeleg.example.com.", qtype: dns.TypeA, network: "udp", size: 1232, authority: 8, extra: 16},
		{name: "required glue over TCP", qname: "www.bigdeleg.example.com.", qtype: dns.TypeA, network: "tcp", authority: 8, extra: 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := query(tc.qname, tc.qtype)
			limit := 512
			if tc.size > 0 {
				m.SetEdns0(tc.size, false)
				limit = int(max(min(tc.size, DefaultUDPSize), 512))
			}
			r := exchange(t, addr, tc.network, m)
			if r.Truncated != tc.tc {
				t.Errorf("got TC %v, want %v", r.Truncated, tc.tc)
			}
			if len(r.Answer) != tc.answers || len(r.Ns) != tc.authority || len(flat(r.Extra)) != tc.extra {
				t.Errorf("got %d/%d/%d records, want %d/%d/%d", len(r.Answer), len(r.Ns), len(flat(r.Extra)), tc.answers, tc.authority, tc.extra)
			}
			r.Compress = true // as sent
			if got := r.Len(); tc.network == "udp" && got > limit {
				t.Errorf("got a %d-byte reply, want at most %d", got, limit)
			}
			if (tc.size > 0) != (r.IsEdns0() != nil) {
				t.Errorf("got OPT %v, want %v", r.IsEdns0() != nil, tc.size > 0)
			}
			if r.Rcode != dns.RcodeSuccess {
				t.Errorf("got rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
			}
		})
	}
}
