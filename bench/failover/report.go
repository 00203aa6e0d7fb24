package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// renderReport returns the results as Markdown: the settings, the table
// of min/median/max per system, fault and direction, and switchboard's
// breakdown.
func renderReport(o *options, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Run of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %d CPUs shared with other jobs (load average at the start: %s; at the end: %s), %s/%s, %s. Command: `bench/failover/run.sh` (driver flags: `-reps %d -seed %d -systems %s -faults %s`).\n\n",
		runtime.NumCPU(), o.loadStart, loadAvg(), runtime.GOOS, runtime.GOARCH, runtime.Version(), o.reps, o.seed, o.systems, o.faults)
	b.WriteString("Settings:\n\n")
	fmt.Fprintf(&b, "- backends: A on 127.0.1.1, B on 127.0.2.1, same port; each its own process (`failover backend`), HTTP `/healthz` answering `ok`, no server timeouts.\n")
	fmt.Fprintf(&b, "- switchboard check: `{type: http, path: /healthz, body_contains: ok, interval: %s, timeout: %s, recheck_interval: %s, rise: %d, fall: %d, watch: true}`; record `www.bench.example. A`, `steering: all` over pools `pa: [a]`, `pb: [b]`, default panic threshold (0.5).\n",
		o.sb.interval, o.sb.timeout, o.sb.recheck, o.sb.rise, o.sb.fall)
	b.WriteString("- switchboard, 1 node: no cluster section (bootstraps alone), node on 127.0.0.1, probes from 127.0.0.1.\n")
	fmt.Fprintf(&b, "- switchboard, 3-node cluster: 3 voters on 127.0.0.1/.2/.3, each probing from its own address (`source_ip`), `consensus: {quorum: majority}` (2 of 3 observers must say down), `timing: %s`, `tls: {insecure: true}`, no proxy.\n", o.sb.timing())
	fmt.Fprintf(&b, "- PowerDNS: %s, bind backend, on 127.0.0.4; `pdns_server %s`.\n", pdnsVersion(o.pdns), strings.Join(o.pd.args("DIR", "127.0.0.4", "PORT"), " "))
	fmt.Fprintf(&b, "  Record: `%s` (4.7 has no per-record `interval` nor `minimumFailures`: every check runs every `lua-health-checks-interval`, and one failure marks an address down).\n",
		o.pd.luaRecord("PORT", "127.0.1.1", "127.0.2.1"))
	fmt.Fprintf(&b, "- measurement: before each fault the driver waits until the system is armed (switchboard: every node's monitor has A up with its watch connection open), then one switchboard check interval (%s: A has been up and watched for a while, and switchboard's watch reconnect backoff, reset only by a connection that lasted an interval, is back at its minimum), then a random delay uniform in [0, the system's check interval), so the fault lands at a random point of the check cycle. Crash = SIGKILL of A, recovery = a new A process on the same address (timed from when it listens); silent death = SIGSTOP, recovery = SIGCONT. The recovery comes a random delay uniform in [0, the system's check interval) after every node answered without A (or the limit passed). Every node is queried over UDP every %s until its answer lacks A (and is not empty), then until it has A again; limit %s per change. A poll every 20 ms adds 0–20 ms (10 ms on average) to every figure.\n\n", o.sb.interval, pollEvery, o.limit)

	b.WriteString("| system | fault | answer | min s | median s | max s | n |\n|---|---|---|---:|---:|---:|---:|\n")
	for _, r := range results {
		if len(r.samples) == 0 {
			fmt.Fprintf(&b, "| %s | %s | failed: %v | | | | 0 |\n", r.system, r.fault, r.err)
			continue
		}
		for _, dir := range []struct {
			label string
			get   func(sample) []time.Duration
		}{
			{"without A", func(s sample) []time.Duration { return s.down }},
			{"with A again", func(s sample) []time.Duration { return s.up }},
		} {
			var first, last []time.Duration
			var missFirst, missLast int
			for _, s := range r.samples {
				ds := dir.get(s)
				if ds == nil {
					continue // the repetition stopped before this step
				}
				if d := firstSeen(ds); d >= 0 {
					first = append(first, d)
				} else {
					missFirst++
				}
				if d := lastSeen(ds); d >= 0 {
					last = append(last, d)
				} else {
					missLast++
				}
			}
			if r.servers > 1 {
				row(&b, r.system, r.fault.describe(), dir.label+", first node", summarize(first, missFirst))
				row(&b, r.system, r.fault.describe(), dir.label+", all nodes", summarize(last, missLast))
			} else {
				row(&b, r.system, r.fault.describe(), dir.label, summarize(first, missFirst))
			}
		}
		if r.err != nil {
			fmt.Fprintf(&b, "| %s | %s | stopped early: %v | | | | |\n", r.system, r.fault, r.err)
		}
	}

	var any bool
	for _, r := range results {
		if r.breakdown == nil {
			continue
		}
		if !any {
			b.WriteString("\nWhere switchboard's failover time goes (from the nodes' JSON logs; each step timed from the fault):\n\n")
			b.WriteString("| system | fault | step | min s | median s | max s | n |\n|---|---|---|---:|---:|---:|---:|\n")
			any = true
		}
		bd := r.breakdown
		row(&b, r.system, r.fault.describe(), "verdict down, first observer", summarize(bd.verdictFirst, 0))
		if r.servers > 1 {
			row(&b, r.system, r.fault.describe(), "verdict down, quorum-th observer", summarize(bd.verdictQuorum, 0))
		}
		row(&b, r.system, r.fault.describe(), "committed, applied, zone swapped: first node", summarize(bd.appliedFirst, 0))
		if r.servers > 1 {
			row(&b, r.system, r.fault.describe(), "committed, applied, zone swapped: last node", summarize(bd.appliedLast, 0))
		}
		row(&b, r.system, r.fault.describe(), "first answer without A (poller)", summarize(bd.answer, 0))
	}
	return b.String()
}

func row(b *strings.Builder, system, fault, what string, s summary) {
	c := s.cells()
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", system, fault, what, c[0], c[1], c[2], c[3])
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// pdnsVersion returns the installed PowerDNS package version, or
// "PowerDNS Authoritative" if it cannot tell.
func pdnsVersion(bin string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "pdns-server").Output()
	if err != nil || len(out) == 0 {
		return "PowerDNS Authoritative (" + bin + ")"
	}
	return "PowerDNS Authoritative " + strings.TrimSpace(string(out)) + " (Debian `pdns-server`)"
}
