// Command failover measures failover detection on loopback, side by side:
// switchboard as one node, switchboard as a 3-node cluster with majority
// quorum, and PowerDNS Authoritative with a LUA ifurlup record at its
// fastest settings.
//
// For each system it starts two backends, A and B, each a separate process
// (this program in its "backend" mode) on its own loopback address, and a
// record that answers with every healthy backend. Then, repeatedly, it
// fails A (SIGKILL: a crash; or SIGSTOP: a silent death), polls DNS every
// 20 ms until the answer lacks A, recovers A (a new process; or SIGCONT)
// and polls until the answer has A again. For a cluster every node is
// polled: the first node to change and the last are both reported. It
// prints min/median/max per system and fault, and writes them, with the
// exact settings, to a Markdown results file.
//
// Run it through bench/failover/run.sh, which installs PowerDNS and builds
// switchboard. Every process it starts it stops, by pid, also on Ctrl-C.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		if err := runBackend(os.Args[2:]); err != nil {
			exitf(err)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	switchboard, pdns string
	reps              int
	systems, faults   string
	out, workdir      string
	keep              bool
	seed              uint64
	limit             time.Duration
	loadStart         string // load average when the run started
	sb                settings
	pd                pdnsSettings
}

func parseFlags() (*options, error) {
	o := &options{}
	flag.StringVar(&o.switchboard, "switchboard", "bin/switchboard", "switchboard binary")
	flag.StringVar(&o.pdns, "pdns", "/usr/sbin/pdns_server", "pdns_server binary")
	flag.IntVar(&o.reps, "reps", 10, "repetitions per system and fault")
	flag.StringVar(&o.systems, "systems", "single,cluster,pdns", "systems to measure: single, cluster, pdns")
	flag.StringVar(&o.faults, "faults", "crash,silent", "faults to inject: crash (SIGKILL), silent (SIGSTOP)")
	flag.StringVar(&o.out, "out", "bench/failover/results.md", "results file (Markdown)")
	flag.StringVar(&o.workdir, "workdir", "", "directory for configs, data and logs (default: a new temporary one, removed unless -keep)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Uint64Var(&o.seed, "seed", 0, "seed of the random fault phases (0: random)")
	flag.DurationVar(&o.limit, "limit", 15*time.Second, "longest wait for one change in the answers")
	flag.DurationVar(&o.sb.interval, "interval", time.Second, "switchboard check interval")
	flag.DurationVar(&o.sb.timeout, "timeout", 300*time.Millisecond, "switchboard check timeout")
	flag.DurationVar(&o.sb.recheck, "recheck", 100*time.Millisecond, "switchboard recheck_interval")
	flag.IntVar(&o.sb.rise, "rise", 2, "switchboard rise")
	flag.IntVar(&o.sb.fall, "fall", 2, "switchboard fall")
	flag.DurationVar(&o.sb.commitTimeout, "commit-timeout", 0, "switchboard cluster.timing.commit_timeout (0: the lan profile's, 50ms)")
	flag.IntVar(&o.pd.checkInterval, "pdns-interval", 1, "PowerDNS lua-health-checks-interval, seconds")
	flag.IntVar(&o.pd.timeout, "pdns-timeout", 1, "PowerDNS ifurlup timeout option, whole seconds (0 would mean none)")
	flag.Parse()
	if o.reps < 1 {
		return nil, errors.New("-reps must be at least 1")
	}
	if o.pd.timeout < 1 || o.pd.checkInterval < 1 {
		return nil, errors.New("-pdns-interval and -pdns-timeout must be at least 1 second")
	}
	o.loadStart = loadAvg()
	if o.seed == 0 {
		o.seed = rand.Uint64()
	}
	return o, nil
}

// result is what was measured for one system and fault.
type result struct {
	system  string
	fault   fault
	servers int
	samples []sample
	// breakdown is where switchboard's failover time went (nil for
	// PowerDNS).
	breakdown *breakdown
	err       error
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Only a work directory made here is removed, and only without -keep.
	remove := o.workdir == "" && !o.keep
	if o.workdir == "" {
		if o.workdir, err = os.MkdirTemp("", "switchboard-failover-"); err != nil {
			return err
		}
	}
	if remove {
		defer os.RemoveAll(o.workdir)
	}
	ps := newProcs()
	defer ps.stopAll()

	// Ctrl-C or SIGTERM: stop every child by pid, then exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "failover: %s; stopping every process started\n", sig)
		ps.stopAll()
		if remove {
			os.RemoveAll(o.workdir)
		}
		os.Exit(130)
	}()

	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	var faults []fault
	for _, f := range strings.Split(o.faults, ",") {
		switch fault(strings.TrimSpace(f)) {
		case crash:
			faults = append(faults, crash)
		case silent:
			faults = append(faults, silent)
		default:
			return fmt.Errorf("-faults: unknown fault %q (want crash, silent)", f)
		}
	}
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	logf("failover benchmark: %d repetitions, seed %d, work dir %s", o.reps, o.seed, o.workdir)

	var results []result
	for _, name := range strings.Split(o.systems, ",") {
		name = strings.TrimSpace(name)
		rs, err := runSystem(ps, o, self, name, faults, rng, logf)
		results = append(results, rs...)
		if err != nil {
			logf("  %s: %v", name, err)
			results = append(results, result{system: name, err: err})
		}
	}
	report := renderReport(o, results)
	fmt.Print("\n" + report)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
		return err
	}
	logf("results written to %s", o.out)
	for _, r := range results {
		if r.err != nil {
			return errors.New("some measurements failed; see the results")
		}
	}
	return nil
}

// runSystem starts one system with fresh backends, measures every fault,
// and stops it all.
func runSystem(ps *procs, o *options, self, name string, faults []fault, rng *rand.Rand, logf func(string, ...any)) ([]result, error) {
	dir := filepath.Join(o.workdir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	bs, err := startBackends(ps, self, dir, "127.0.1.1", "127.0.2.1")
	if err != nil {
		return nil, err
	}
	defer bs.stop()
	var sys *system
	phase := o.sb.interval
	switch name {
	case "single":
		sys, err = startSwitchboard(ps, o.switchboard, dir, 1, o.sb, bs)
	case "cluster":
		sys, err = startSwitchboard(ps, o.switchboard, dir, 3, o.sb, bs)
	case "pdns":
		sys, err = startPDNS(ps, o.pdns, dir, "127.0.0.4", o.pd, bs)
		phase = time.Duration(o.pd.checkInterval) * time.Second
	default:
		return nil, fmt.Errorf("-systems: unknown system %q (want single, cluster, pdns)", name)
	}
	if err != nil {
		return nil, err
	}
	defer sys.stop()
	rn := &runner{bs: bs, res: newResolver(), rng: rng, settle: o.sb.interval, phase: phase, limit: o.limit, progress: logf}
	logf("%s: waiting for both backends in the answers", sys.name)
	if err := rn.waitFull(sys, 60*time.Second); err != nil {
		return nil, err
	}
	var out []result
	for _, f := range faults {
		samples, err := rn.run(sys, f, o.reps)
		r := result{system: sys.name, fault: f, servers: len(sys.servers), samples: samples, err: err}
		if len(sys.logs) > 0 {
			r.breakdown = breakdownOf(sys.logs, samples, "a")
		}
		out = append(out, r)
		if err != nil {
			return out, nil
		}
	}
	return out, nil
}
