package dnsserver

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

// TestSwapIsAtomic loads 1,000 generations while queries run, in process
// and over UDP. Each generation g has gen.example.com. CNAME
// g<g>.example.com., a name that does not exist, so every reply carries
// both the generation-marked CNAME and, in the NXDOMAIN's authority
// section, the SOA with the serial: a reply mixing two snapshots would
// show two different numbers.
func TestSwapIsAtomic(t *testing.T) {
	const loads = 1000
	base := exampleZone(0)
	genAt := slices.IndexFunc(base.Records, func(s zone.RRset) bool { return s.Name == "gen.example.com." })
	makeZone := func(g uint64) *zone.Zone {
		z := *base
		z.Generation = g
		z.Records = slices.Clone(base.Records)
		z.Records[genAt] = zone.RRset{Name: "gen.example.com.", Type: dns.TypeCNAME, TTL: 30, Data: []string{fmt.Sprintf("g%d.example.com.", g)}}
		return &z
	}
	s := New(Options{Logger: testLog})
	if err := s.Load([]*zone.Zone{makeZone(0)}); err != nil {
		t.Fatal(err)
	}
	addr := start(t, s)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan struct{}) // closed when the loads are over

	// check returns the generation a reply shows, failing the test if its
	// two marks disagree.
	check := func(r *dns.Msg) (uint32, bool) {
		if r.Rcode != dns.RcodeNameError || len(r.Answer) != 1 || len(r.Ns) != 1 {
			t.Errorf("got %v, want NXDOMAIN with one CNAME and the SOA", r)
			return 0, false
		}
		serial := r.Ns[0].(*dns.SOA).Serial
		target := r.Answer[0].(*dns.CNAME).Target
		if want := fmt.Sprintf("g%d.example.com.", serial); target != want {
			t.Errorf("got CNAME to %s with serial %d, want %s: a mix of snapshots", target, serial, want)
			return 0, false
		}
		return serial, true
	}

	var mu sync.Mutex
	seen := map[uint32]int{}
	var wg sync.WaitGroup
	ready := make(chan struct{}, 6)
	queryLoop := func(ask func() (*dns.Msg, error)) {
		defer wg.Done()
		first := true
		for {
			r, err := ask()
			if err != nil {
				t.Errorf("query: %v", err)
				return
			}
			serial, ok := check(r)
			if !ok {
				return
			}
			mu.Lock()
			seen[serial]++
			mu.Unlock()
			if first {
				ready <- struct{}{}
				first = false
			}
			select {
			case <-done:
				// One more query after the last load: it must see it.
				if r, err := ask(); err == nil {
					if serial, ok := check(r); ok && serial != loads {
						t.Errorf("got serial %d after the last load, want %d", serial, loads)
					}
				}
				return
			case <-ctx.Done():
				t.Errorf("queries: %v", ctx.Err())
				return
			default:
			}
		}
	}
	m := query("gen.example.com.", dns.TypeA)
	for range 4 {
		wg.Add(1)
		go queryLoop(func() (*dns.Msg, error) {
			w := newRecorder(false)
			s.ServeDNS(w, m.Copy())
			if w.err != nil || len(w.msgs) != 1 {
				return nil, fmt.Errorf("got %d replies, error %v", len(w.msgs), w.err)
			}
			return w.msgs[0], nil
		})
	}
	for range 2 {
		wg.Add(1)
		go queryLoop(func() (*dns.Msg, error) {
			c := &dns.Client{Timeout: 5 * time.Second}
			r, _, err := c.ExchangeContext(ctx, m.Copy(), addr)
			return r, err
		})
	}
	// Start loading once every query loop has an answer from generation 0.
	for range 6 {
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatalf("queries did not start: %v", ctx.Err())
		}
	}
	for g := uint64(1); g <= loads; g++ {
		if err := s.Load([]*zone.Zone{makeZone(g)}); err != nil {
			t.Fatalf("Load %d: %v", g, err)
		}
	}
	close(done)
	wg.Wait()
	if len(seen) < 2 {
		t.Errorf("saw generations %v, want the queries to span loads", seen)
	}
	t.Logf("%d distinct generations seen by queries", len(seen))
}
