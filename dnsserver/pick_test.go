package dnsserver

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

func seeded(seed uint64) func() uint64 {
	return rand.New(rand.NewPCG(seed, 0x5eed)).Uint64
}

func testRRs(n int) ([]dns.RR, []string) {
	var rrs []dns.RR
	var data []string
	for i := range n {
		d := fmt.Sprintf("192.0.2.%d", i+1)
		rrs = append(rrs, &dns.A{Hdr: dns.RR_Header{Name: "w.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(d)})
		data = append(data, d)
	}
	return rrs, data
}

// TestPickDistribution draws 10,000 answers from a seeded source and
// checks how often each record comes first, and that no answer repeats a
// record.
func TestPickDistribution(t *testing.T) {
	const draws = 10000
	tests := []struct {
		name    string
		weights []uint32
		max     int
		first   []float64 // expected share of each record in first place
		size    int       // records per answer
	}{
		{name: "3:1, one answer", weights: []uint32{3, 1}, max: 1, first: []float64{0.75, 0.25}, size: 1},
		{name: "3:1, both answers", weights: []uint32{3, 1}, max: 2, first: []float64{0.75, 0.25}, size: 2},
		{name: "5:3:2", weights: []uint32{5, 3, 2}, max: 1, first: []float64{0.5, 0.3, 0.2}, size: 1},
		{name: "MaxAnswers 0 is all", weights: []uint32{1, 1, 2}, max: 0, first: []float64{0.25, 0.25, 0.5}, size: 3},
		{name: "weight 0 never first", weights: []uint32{1, 0}, max: 1, first: []float64{1, 0}, size: 1},
		{name: "weight 0 fills up", weights: []uint32{0, 1, 0}, max: 2, first: []float64{0, 1, 0}, size: 2},
		{name: "all weights 0 is uniform", weights: []uint32{0, 0}, max: 1, first: []float64{0.5, 0.5}, size: 1},
		{name: "more answers than records", weights: []uint32{1, 3}, max: 5, first: []float64{0.25, 0.75}, size: 2},
		{name: "many records", weights: []uint32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5}, max: 2,
			first: append(slices.Repeat([]float64{1.0 / 24}, 19), 5.0/24), size: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rrs, data := testRRs(len(tc.weights))
			w := map[string]uint32{}
			for i, d := range data {
				w[d] = tc.weights[i]
			}
			p := newPick(zone.Pick{Weights: w, MaxAnswers: tc.max}, data)
			rnd := seeded(1)
			counts := make([]int, len(rrs))
			index := map[dns.RR]int{}
			for i, rr := range rrs {
				index[rr] = i
			}
			for range draws {
				got := p.choose(nil, rrs, rnd)
				if len(got) != tc.size {
					t.Fatalf("got %d records, want %d", len(got), tc.size)
				}
				seen := map[dns.RR]bool{}
				for _, rr := range got {
					if seen[rr] {
						t.Fatalf("got %v twice in one answer", rr)
					}
					seen[rr] = true
				}
				counts[index[got[0]]]++
			}
			for i, c := range counts {
				share := float64(c) / draws
				if math.Abs(share-tc.first[i]) > 0.02 {
					t.Errorf("record %d first in %.3f of answers, want %.3f ± 0.02", i, share, tc.first[i])
				}
			}
		})
	}
}

// TestPickServed runs the weighted record of exampleZone (3:1, one
// answer) through the handler 10,000 times.
func TestPickServed(t *testing.T) {
	s := newLoaded(t, Options{Rand: seeded(7), AXFRAllow: loopback})
	const draws = 10000
	counts := map[string]int{}
	m := query("weighted.example.com.", dns.TypeA)
	for range draws {
		r := serve(t, s, m, false)
		if len(r.Answer) != 1 {
			t.Fatalf("got %d answers, want 1", len(r.Answer))
		}
		counts[r.Answer[0].(*dns.A).A.String()]++
	}
	if share := float64(counts["192.0.2.11"]) / draws; math.Abs(share-0.75) > 0.02 {
		t.Errorf("192.0.2.11 in %.3f of answers, want 0.75 ± 0.02 (counts %v)", share, counts)
	}
	if counts["192.0.2.11"]+counts["192.0.2.12"] != draws {
		t.Errorf("got counts %v, want only the two records", counts)
	}

	// A transfer carries the whole set.
	w := newRecorder(true)
	ax := new(dns.Msg)
	ax.SetAxfr("example.com.")
	s.ServeDNS(w, ax)
	var weighted int
	for _, r := range w.msgs {
		for _, rr := range r.Answer {
			if rr.Header().Name == "weighted.example.com." {
				weighted++
			}
		}
	}
	if weighted != 2 {
		t.Errorf("got %d weighted records in the transfer, want 2", weighted)
	}
}

// TestPickMissingWeights: records without a weight count as 0, weights of
// absent records are ignored.
func TestPickMissingWeights(t *testing.T) {
	_, data := testRRs(3)
	p := newPick(zone.Pick{Weights: map[string]uint32{data[1]: 2, "203.0.113.1": 9}}, data)
	if got, want := fmt.Sprint(p.weights), "[0 2 0]"; got != want {
		t.Errorf("got weights %s, want %s", got, want)
	}
	if p.max != 3 {
		t.Errorf("got max %d, want 3", p.max)
	}
}
