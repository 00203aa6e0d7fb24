package dnsserver

import (
	"math/bits"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

// pick is a compiled [zone.Pick]: weights aligned with the records of its
// set.
type pick struct {
	weights []uint32
	max     int // records per answer, 1..len(weights)
}

// newPick aligns p's weights with the set's rdata. A record without a
// weight counts as weight 0 and weights of absent records are ignored:
// the pick must never make a set unservable.
func newPick(p zone.Pick, data []string) *pick {
	pk := &pick{weights: make([]uint32, len(data)), max: p.MaxAnswers}
	for i, d := range data {
		pk.weights[i] = p.Weights[d]
	}
	if pk.max <= 0 || pk.max > len(data) {
		pk.max = len(data)
	}
	return pk
}

// choose appends to dst up to p.max of rrs (aligned with p.weights),
// drawn by weight without replacement, in the order drawn, so the first
// record of the answer is also weighted. Records of weight 0 are drawn,
// uniformly, only when no record of positive weight is left.
func (p *pick) choose(dst, rrs []dns.RR, rnd func() uint64) []dns.RR {
	n := len(rrs)
	var wbuf [16]uint64
	var ibuf [16]int
	w, idx := wbuf[:0], ibuf[:0]
	if n > len(wbuf) {
		w, idx = make([]uint64, 0, n), make([]int, 0, n)
	}
	var total uint64
	for i := range n {
		w = append(w, uint64(p.weights[i]))
		idx = append(idx, i)
		total += uint64(p.weights[i])
	}
	for left, drawn := n, 0; drawn < p.max; left, drawn = left-1, drawn+1 {
		var j int
		if total == 0 {
			j = int(below(rnd(), uint64(left)))
		} else {
			x := below(rnd(), total)
			for j = 0; j < left-1; j++ {
				if x < w[j] {
					break
				}
				x -= w[j]
			}
		}
		dst = append(dst, rrs[idx[j]])
		total -= w[j]
		w[j], idx[j] = w[left-1], idx[left-1]
	}
	return dst
}

// below maps a uniform 64-bit number to [0, n) by multiplication
// (Lemire); the bias, at most n/2^64, is far below what any test of the
// distribution can see.
func below(r, n uint64) uint64 {
	hi, _ := bits.Mul64(r, n)
	return hi
}
