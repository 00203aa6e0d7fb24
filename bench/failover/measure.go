package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// pollEvery is the DNS polling interval of the measurements.
const pollEvery = 20 * time.Millisecond

// fault is a way backend A fails.
type fault string

const (
	// crash is SIGKILL: the process dies and its kernel closes its
	// sockets; recovery is a new process on the same address.
	crash fault = "crash"
	// silent is SIGSTOP: the process stops answering but its connections
	// stay open and its kernel still accepts new ones; recovery is
	// SIGCONT.
	silent fault = "silent"
)

// describe says what the fault and its recovery are, for the table.
func (f fault) describe() string {
	if f == crash {
		return "crash (SIGKILL; new process)"
	}
	return "silent death (SIGSTOP; SIGCONT)"
}

// sample is one repetition: when the fault and the recovery happened, and
// how long each server took to answer without A, then with A again.
type sample struct {
	faultAt, recoverAt time.Time
	// down[i], up[i]: server i's time to the first answer without A
	// (after the fault) and with A (after the recovery); negative if not
	// seen before the limit.
	down, up []time.Duration
}

// resolver queries the servers of a system.
type resolver struct {
	c *dns.Client
}

func newResolver() *resolver {
	return &resolver{c: &dns.Client{Net: "udp", Timeout: 250 * time.Millisecond}}
}

// addrs returns the A records server answers for www, or an error.
func (r *resolver) addrs(server string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(wwwName, dns.TypeA)
	m.RecursionDesired = false
	in, _, err := r.c.Exchange(m, server)
	if err != nil {
		return nil, err
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[in.Rcode])
	}
	var out []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, nil
}

// poll queries every server every [pollEvery] from start until each has
// answered with an address set for which want is true, or until limit. It
// returns, per server, the time from start to its first such answer
// (negative if none came).
func (r *resolver) poll(servers []string, want func([]string) bool, start time.Time, limit time.Duration) []time.Duration {
	got := make([]time.Duration, len(servers))
	for i := range got {
		got[i] = -1
	}
	left := len(servers)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		for i, s := range servers {
			if got[i] >= 0 {
				continue
			}
			as, err := r.addrs(s)
			if err == nil && want(as) {
				got[i] = time.Since(start)
				left--
			}
		}
		if left == 0 || time.Since(start) > limit {
			return got
		}
		<-tick.C
	}
}

// runner runs the repetitions against one system.
type runner struct {
	bs       *backends
	res      *resolver
	rng      *rand.Rand
	settle   time.Duration // quiet time after the system is armed
	phase    time.Duration // then the fault comes at a random point within this
	limit    time.Duration
	progress func(format string, args ...any)
}

// waitFull waits until every server answers with both A and B.
func (rn *runner) waitFull(sys *system, limit time.Duration) error {
	both := func(as []string) bool { return slices.Contains(as, rn.bs.ipA) && slices.Contains(as, rn.bs.ipB) }
	got := rn.res.poll(sys.servers, both, time.Now(), limit)
	for i, d := range got {
		if d < 0 {
			as, err := rn.res.addrs(sys.servers[i])
			return fmt.Errorf("%s: server %s does not answer both backends after %s (last answer %v, %v)", sys.name, sys.servers[i], limit, as, err)
		}
	}
	return nil
}

// rep runs one repetition of fault f against sys.
func (rn *runner) rep(sys *system, f fault) (sample, error) {
	var s sample
	if sys.armed != nil {
		if err := sys.armed(10 * time.Second); err != nil {
			return s, err
		}
	}
	// Armed, the system runs undisturbed for settle (so A has been up and
	// watched for a while, as a backend that fails in production has, and
	// switchboard's watch reconnect backoff is back at its minimum), then
	// the fault lands at a random point of the check cycle, as a real one
	// would. This wait is part of the experiment, not synchronisation.
	time.Sleep(rn.settle + time.Duration(rn.rng.Int64N(int64(rn.phase))))

	withoutA := func(as []string) bool { return len(as) > 0 && !slices.Contains(as, rn.bs.ipA) }
	withA := func(as []string) bool { return slices.Contains(as, rn.bs.ipA) }

	old := rn.bs.a
	sig := syscall.SIGKILL
	if f == silent {
		sig = syscall.SIGSTOP
	}
	s.faultAt = time.Now()
	if err := old.signal(sig); err != nil {
		return s, err
	}
	s.down = rn.res.poll(sys.servers, withoutA, s.faultAt, rn.limit)

	// The recovery, too, comes at a random point of the check cycle:
	// right after the failover it would always land just after the check
	// that saw the failure (PowerDNS would then always take a full
	// interval to see it back). Part of the experiment, not
	// synchronisation.
	time.Sleep(time.Duration(rn.rng.Int64N(int64(rn.phase))))

	switch f {
	case crash:
		<-old.done // reaped: its port is free
		if err := rn.bs.startA(); err != nil {
			return s, err
		}
		s.recoverAt = time.Now()
	case silent:
		s.recoverAt = time.Now()
		if err := old.signal(syscall.SIGCONT); err != nil {
			return s, err
		}
	}
	s.up = rn.res.poll(sys.servers, withA, s.recoverAt, rn.limit)
	return s, nil
}

// run runs reps repetitions of f against sys.
func (rn *runner) run(sys *system, f fault, reps int) ([]sample, error) {
	var out []sample
	for i := range reps {
		s, err := rn.rep(sys, f)
		if err != nil {
			return out, fmt.Errorf("%s, %s, repetition %d: %w", sys.name, f, i+1, err)
		}
		rn.progress("  %-32s %-7s #%-2d  without A: %s   with A again: %s", sys.name, f, i+1, fmtDurs(s.down), fmtDurs(s.up))
		out = append(out, s)
		if slices.ContainsFunc(s.up, func(d time.Duration) bool { return d < 0 }) {
			return out, fmt.Errorf("%s, %s, repetition %d: A not back in the answers after %s", sys.name, f, i+1, rn.limit)
		}
	}
	return out, nil
}

func fmtDurs(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		if d < 0 {
			parts = append(parts, "timeout")
		} else {
			parts = append(parts, secs(d))
		}
	}
	return fmt.Sprint(parts)
}
