package controller

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

// verify queries the provider's nameservers until each answers every
// managed RRset of j's zone exactly (records and TTL), or the provider's
// verify timeout passes. It stops early, reporting superseded, when a
// newer job for the zone is queued: that one will be verified instead.
func (w *worker) verify(ctx context.Context, j *job) (verified, superseded bool) {
	r := w.t.r
	deadline := r.opts.Now().Add(w.verifyTimeout())
	servers := w.set.Load().common.Nameservers
	if len(servers) == 0 {
		rctx, cancel := context.WithDeadline(ctx, deadline)
		servers = resolveNS(rctx, j.desired)
		cancel()
	}
	if len(servers) == 0 {
		w.log.Warn("no nameservers to verify against: set verify_nameservers or make the zone's NS names resolvable", "zone", j.desired.Origin)
		return false, false
	}
	want := j.desired.ManagedRecords()
	ok := map[string]bool{}
	for {
		for _, srv := range servers {
			if ok[srv] {
				continue
			}
			match, err := answers(ctx, srv, want, r.opts.QueryTimeout)
			if err != nil {
				w.log.Debug("verify query failed", "server", srv, "err", err)
			}
			ok[srv] = match
		}
		all := len(servers) > 0
		for _, srv := range servers {
			all = all && ok[srv]
		}
		if all {
			return true, false
		}
		if w.hasNewer(j) {
			return false, true
		}
		left := deadline.Sub(r.opts.Now())
		if left <= 0 {
			return false, false
		}
		// The last round is at the deadline itself.
		if err := r.opts.Wait(ctx, min(r.opts.VerifyInterval, left)); err != nil {
			return false, false
		}
	}
}

// answers reports whether server answers every set in want exactly.
func answers(ctx context.Context, server string, want []zone.RRset, timeout time.Duration) (bool, error) {
	for _, s := range want {
		got, found, err := queryRRset(ctx, server, s.Key(), timeout)
		if err != nil {
			return false, err
		}
		if !found || !got.Equal(s) {
			return false, nil
		}
	}
	return true, nil
}

// queryRRset asks server for one RRset, without recursion, over UDP and
// over TCP when the answer is truncated.
func queryRRset(ctx context.Context, server string, k zone.Key, timeout time.Duration) (zone.RRset, bool, error) {
	m := new(dns.Msg)
	m.SetQuestion(k.Name, k.Type)
	m.RecursionDesired = false
	m.SetEdns0(4096, false)
	var in *dns.Msg
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: timeout}
		resp, _, err := c.ExchangeContext(ctx, m, server)
		if err != nil {
			return zone.RRset{}, false, fmt.Errorf("controller: verify: query %s at %s: %w", k, server, err)
		}
		in = resp
		if !resp.Truncated {
			break
		}
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return zone.RRset{}, false, fmt.Errorf("controller: verify: %s at %s: rcode %s", k, server, dns.RcodeToString[in.Rcode])
	}
	var rrs []dns.RR
	for _, rr := range in.Answer {
		h := rr.Header()
		if h.Rrtype == k.Type && strings.EqualFold(dns.Fqdn(h.Name), k.Name) {
			rrs = append(rrs, rr)
		}
	}
	sets := zone.FromRRs(rrs)
	if len(sets) == 0 {
		return zone.RRset{}, false, nil
	}
	return sets[0], true, nil
}

// resolveNS returns host:53 for every address of the zone's apex NS names,
// through the system resolver: the default when a provider lists no
// verify_nameservers.
func resolveNS(ctx context.Context, z *zone.Zone) []string {
	ns, ok := z.Lookup(zone.Key{Name: z.Origin, Type: dns.TypeNS})
	if !ok {
		return nil
	}
	var out []string
	for _, host := range ns.Data {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			out = append(out, net.JoinHostPort(a, "53"))
		}
	}
	return out
}
