package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

func newDrillCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Run, follow, abort and report failover drills",
	}
	cmd.AddCommand(newDrillRunCmd(g), newDrillAbortCmd(g), newDrillListCmd(g), newDrillReportCmd(g))
	return cmd
}

func apiFlag(cmd *cobra.Command, addr *string) {
	cmd.Flags().StringVar(addr, "api", "", "API address of a node (default $SWITCHBOARD_API or "+defaultAPI+")")
}

func newDrillRunCmd(g *globals) *cobra.Command {
	var addr, jsonFile string
	req := api.DrillRequest{}
	cmd := &cobra.Command{
		Use:   "run --scope SCOPE [--mode simulated|live] [--duration 10m] [--dry-run] [--force]",
		Short: "Start a drill, follow its timeline until it ends, and print its report",
		Long: `Start a drill on a scope: endpoint:NAME, pool:NAME, region:CLOUD/REGION,
cloud:CLOUD or provider:NAME. A simulated drill injects the failure (the
endpoints count as down, or the provider as unavailable); a live drill
injects nothing and measures the failure you cause. The drill ends at its
deadline (--duration) even if this command or the node it talks to dies.
Ctrl-C aborts the drill. --dry-run prints which records would change on
which provider and commits nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Scope == "" {
				return &exitError{code: 1, err: errors.New("drill run needs --scope")}
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			r := &drillRunner{out: g.stdout, cl: newFailoverClient(addr), req: req, jsonFile: jsonFile}
			return r.run(ctx)
		},
	}
	cmd.Flags().StringVar(&req.Scope, "scope", "", "what fails: endpoint:NAME, pool:NAME, region:CLOUD/REGION, cloud:CLOUD or provider:NAME")
	cmd.Flags().StringVar(&req.Mode, "mode", raft.DrillSimulated, "simulated (inject the failure) or live (measure the failure you cause)")
	cmd.Flags().StringVar(&req.Duration, "duration", api.DefaultDrillDuration.String(), "auto-revert deadline")
	cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "print which records would change on which provider; commit nothing")
	cmd.Flags().BoolVar(&req.Force, "force", false, "drill even if a record would be left with no healthy pool")
	cmd.Flags().StringVar(&jsonFile, "json", "", "also write the report as JSON to this file")
	apiFlag(cmd, &addr)
	return cmd
}

func newDrillAbortCmd(g *globals) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "abort ID",
		Short: "End a drill now: the failure is restored at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ir api.IndexResponse
			if err := newAPIClient(addr).do(cmd.Context(), "POST", "/v1/drills/"+args[0]+"/abort", nil, &ir); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(g.stdout, "drill %s aborted (index %d)\n", args[0], ir.Index)
			return nil
		},
	}
	apiFlag(cmd, &addr)
	return cmd
}

func newDrillListCmd(g *globals) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the running drills and the last ended ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ds []api.DrillSummary
			if err := newAPIClient(addr).do(cmd.Context(), "GET", "/v1/drills", nil, &ds); err != nil {
				return &exitError{code: 1, err: err}
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSCOPE\tMODE\tSTATE\tSTART\tDEADLINE\tBY")
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Scope, d.Mode, d.State, d.Start.UTC().Format(time.RFC3339), d.Deadline.UTC().Format(time.RFC3339), d.By)
			}
			return tw.Flush()
		},
	}
	apiFlag(cmd, &addr)
	return cmd
}

func newDrillReportCmd(g *globals) *cobra.Command {
	var addr, jsonFile string
	cmd := &cobra.Command{
		Use:   "report ID [--json FILE]",
		Short: "Print a drill's timeline as Markdown, and optionally write it as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rep api.DrillReport
			if err := newAPIClient(addr).do(cmd.Context(), "GET", "/v1/drills/"+args[0], nil, &rep); err != nil {
				return &exitError{code: 1, err: err}
			}
			return writeReport(g.stdout, &rep, jsonFile)
		},
	}
	cmd.Flags().StringVar(&jsonFile, "json", "", "write the report as JSON to this file")
	apiFlag(cmd, &addr)
	return cmd
}

func writeReport(w io.Writer, rep *api.DrillReport, jsonFile string) error {
	fmt.Fprint(w, rep.Markdown())
	if jsonFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonFile, append(b, '\n'), 0o644); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("drill report: %w", err)}
	}
	return nil
}

// failoverClient talks to one node's API and moves to another member's
// when it cannot reach it, so that following a drill survives the death
// of the node it started on.
type failoverClient struct {
	mu    sync.Mutex
	addrs []string
	cur   int
}

func newFailoverClient(addr string) *failoverClient {
	return &failoverClient{addrs: []string{newAPIClient(addr).base}}
}

// learn adds the members' API addresses.
func (c *failoverClient) learn(addrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range addrs {
		a = newAPIClient(a).base
		if !slices.Contains(c.addrs, a) {
			c.addrs = append(c.addrs, a)
		}
	}
}

func (c *failoverClient) do(ctx context.Context, method, path string, in, out any) error {
	c.mu.Lock()
	addrs, cur := slices.Clone(c.addrs), c.cur
	c.mu.Unlock()
	var err error
	for i := range addrs {
		k := (cur + i) % len(addrs)
		cl := newAPIClient(addrs[k])
		cl.http.Timeout = 3 * time.Second
		err = cl.do(ctx, method, path, in, out)
		var ae *apiError
		if err == nil || errors.As(err, &ae) && ae.Status != 503 || ctx.Err() != nil {
			c.mu.Lock()
			c.cur = k
			c.mu.Unlock()
			return err
		}
	}
	return err
}

// drillRunner runs one drill from the terminal.
type drillRunner struct {
	out      io.Writer
	cl       *failoverClient
	req      api.DrillRequest
	jsonFile string
}

func (r *drillRunner) run(ctx context.Context) error {
	// The first Ctrl-C aborts the drill, and the command still waits for
	// its end: requests must outlive the signal's cancelling of ctx.
	ctx = context.WithoutCancel(ctx)
	dry := r.req
	dry.DryRun = true
	var preview api.DrillResponse
	if err := r.cl.do(ctx, "POST", "/v1/drills", dry, &preview); err != nil {
		return &exitError{code: 1, err: err}
	}
	printPreview(r.out, &preview)
	if r.req.DryRun {
		if preview.Guard != "" {
			fmt.Fprintf(r.out, "\nthe guard rails would refuse it now: %s\n", preview.Guard)
		}
		return nil
	}
	if preview.Guard != "" {
		return &exitError{code: 1, err: fmt.Errorf("drill refused: %s", preview.Guard)}
	}
	var cs api.ClusterStatus
	if err := r.cl.do(ctx, "GET", "/v1/cluster", nil, &cs); err != nil {
		return &exitError{code: 1, err: err}
	}
	var apis []string
	var targets []dnsTarget
	for _, m := range cs.Members {
		if m.API != "" {
			apis = append(apis, m.API)
		}
		if m.DNS != "" {
			targets = append(targets, dnsTarget{node: m.ID, addr: reachableDNS(m.DNS, m.Raft, m.API)})
		} else if m.Member {
			fmt.Fprintf(r.out, "note: %s has registered no DNS address yet; its answers are not measured\n", m.ID)
		}
	}
	r.cl.learn(apis)
	checks, err := dnsChecks(preview.Changes)
	if err != nil {
		return &exitError{code: 1, err: err}
	}

	var started api.DrillResponse
	if err := r.cl.do(ctx, "POST", "/v1/drills", r.req, &started); err != nil {
		return &exitError{code: 1, err: err}
	}
	id := started.ID
	fmt.Fprintf(r.out, "\ndrill %s started at index %d, %s, auto-revert at %s\n", id, started.Index, started.Mode, started.Deadline.UTC().Format(time.RFC3339Nano))
	fmt.Fprintln(r.out, "Ctrl-C aborts the drill.")
	fmt.Fprintln(r.out)

	// Every node's DNS, every 20 ms, from now on.
	pctx, stopPolls := context.WithCancel(context.Background())
	defer stopPolls()
	results := make(chan dnsResult, 2*len(targets)+1)
	var wg sync.WaitGroup
	if len(checks) > 0 {
		for _, t := range targets {
			wg.Go(func() { pollDNS(pctx, t, checks, results) })
		}
	}
	pollsDone := make(chan struct{})
	go func() { wg.Wait(); close(pollsDone) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)

	var rep api.DrillReport
	measured := 0 // DNS answers measured (each committed as an observed step)
	var pending []dnsResult
	// take prints a DNS measurement and queues it to be committed.
	take := func(res dnsResult) {
		what := "the drill's content"
		if res.phase == controller.PhaseRestore {
			what = "the original content again"
		}
		fmt.Fprintf(r.out, "  %s  dns %-7s %s answers %s  (measured)\n", res.at.UTC().Format("15:04:05.000"), res.phase, res.node, what)
		pending = append(pending, res)
		measured++
	}
	// commitPending commits the queued measurements as drill facts,
	// through any node; what fails stays queued for the next try.
	commitPending := func() {
		pending = slices.DeleteFunc(pending, func(res dnsResult) bool {
			err := r.cl.do(ctx, "POST", "/v1/drills/"+id+"/observed", api.ObservedRequest{Phase: res.phase, What: "answering", Subject: "dns " + res.node, When: res.at, Detail: res.addr}, nil)
			var ae *apiError
			return err == nil || errors.As(err, &ae) && ae.Status == 409
		})
	}
	printed := 0
	var ended time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	aborted := false
	for {
		select {
		case <-sig:
			if aborted {
				return &exitError{code: 1, err: fmt.Errorf("interrupted; drill %s was aborted", id)}
			}
			aborted = true
			fmt.Fprintln(r.out, "aborting the drill ...")
			if err := r.cl.do(ctx, "POST", "/v1/drills/"+id+"/abort", nil, nil); err != nil {
				fmt.Fprintf(r.out, "abort: %v\n", err)
			}
		case res := <-results:
			take(res)
		case <-tick.C:
		}
		commitPending()
		if err := r.cl.do(ctx, "GET", "/v1/drills/"+id, nil, &rep); err != nil {
			continue // the node is down or has no leader yet: keep trying
		}
		if len(rep.Timeline) < printed {
			// Another node answered, one that has not applied as
			// much of the log yet: wait for it to catch up.
			continue
		}
		for _, e := range rep.Timeline[printed:] {
			fmt.Fprintln(r.out, timelineLine(e))
		}
		printed = len(rep.Timeline)
		if rep.State != "ended" {
			continue
		}
		if ended.IsZero() {
			ended = time.Now()
		}
		select {
		case <-pollsDone:
		default:
			// Give the DNS pollers a little time to see the last
			// nodes answer the restore; nodes that died never will.
			if time.Since(ended) < 5*time.Second {
				continue
			}
		}
		if len(pending) > 0 && time.Since(ended) < 10*time.Second {
			continue
		}
		break
	}
	stopPolls()
	<-pollsDone
	// The pollers may have sent their last results just before they
	// ended: take them too, or the report misses those nodes.
	for drained := false; !drained; {
		select {
		case res := <-results:
			take(res)
		default:
			drained = true
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(pending) > 0 && time.Now().Before(deadline); {
		commitPending()
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond) // retry pacing while the cluster settles
		}
	}
	// Read the final report, with the DNS measurements. The node that
	// answers may not have applied the last of them yet: wait (briefly)
	// until it shows every DNS answer this command measured.
	for deadline := time.Now().Add(3 * time.Second); ; {
		if err := r.cl.do(ctx, "GET", "/v1/drills/"+id, nil, &rep); err != nil {
			return &exitError{code: 1, err: err}
		}
		seen := 0
		for _, e := range rep.Timeline {
			if e.Step == raft.StepObserved && e.What == "answering" {
				seen++
			}
		}
		if seen >= measured || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	fmt.Fprintln(r.out)
	return writeReport(r.out, &rep, r.jsonFile)
}

func timelineLine(e api.TimelineEntry) string {
	since := ""
	if e.SinceMS != -1 {
		since = fmt.Sprintf("%+9.1fms", e.SinceMS)
	}
	parts := []string{e.Step}
	for _, s := range []string{e.Phase, e.What, e.Subject, e.Detail} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return fmt.Sprintf("  %s %12s  %s", e.At.UTC().Format("15:04:05.000"), since, strings.Join(parts, " "))
}

func printPreview(w io.Writer, p *api.DrillResponse) {
	target := "endpoints " + strings.Join(p.Endpoints, ", ")
	if p.Provider != "" {
		target = "provider " + p.Provider + " (its writes fail while the drill runs; the other providers keep converging)"
	}
	fmt.Fprintf(w, "drill %s (%s): %s\n", p.Scope, p.Mode, target)
	if len(p.Changes) == 0 {
		fmt.Fprintln(w, "no record's answer changes")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tNOW\tDURING THE DRILL\tPROVIDERS WRITTEN")
	for _, c := range p.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Record, strings.Join(c.Before, ","), strings.Join(c.After, ","), strings.Join(c.Providers, ","))
	}
	tw.Flush()
}

// dnsTarget is a node's DNS server.
type dnsTarget struct{ node, addr string }

// dnsCheck is a record whose answer the drill changes.
type dnsCheck struct {
	name          string
	qtype         uint16
	before, after []string
}

// dnsResult is when a node first answered the drill's content (phase
// inject) or the original content again (phase restore).
type dnsResult struct {
	node, addr, phase string
	at                time.Time
}

func dnsChecks(changes []controller.DrillChange) ([]dnsCheck, error) {
	var out []dnsCheck
	for _, c := range changes {
		name, typ, ok := strings.Cut(c.Record, " ")
		t, tok := zone.ParseType(typ)
		if !ok || !tok {
			return nil, fmt.Errorf("drill: record %q", c.Record)
		}
		out = append(out, dnsCheck{name: name, qtype: t, before: c.Before, after: c.After})
	}
	return out, nil
}

// subset reports whether every element of got is in set, and got is not
// empty. A weighted record may answer a part of its set.
func subset(got, set []string) bool {
	if len(got) == 0 {
		return false
	}
	for _, g := range got {
		if !slices.Contains(set, g) {
			return false
		}
	}
	return true
}

// pollInterval is how often the CLI queries every node's DNS.
const pollInterval = 20 * time.Millisecond

// pollDNS queries t every [pollInterval] and reports when every check
// first answers its drill content, then when every check answers its
// original content again.
func pollDNS(ctx context.Context, t dnsTarget, checks []dnsCheck, out chan<- dnsResult) {
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	phase := controller.PhaseInject
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := time.Now()
		all := true
		for _, ch := range checks {
			got, err := answerData(c, t.addr, ch)
			if err != nil {
				all = false
				break
			}
			switch phase {
			case controller.PhaseInject:
				all = all && subset(got, ch.after)
			default:
				// Back to the original: inside it, and not only the
				// drill's answer any more.
				all = all && subset(got, ch.before) && !subset(got, ch.after)
			}
		}
		if !all {
			continue
		}
		select {
		case out <- dnsResult{node: t.node, addr: t.addr, phase: phase, at: at}:
		case <-ctx.Done():
			return
		}
		if phase == controller.PhaseRestore {
			return
		}
		phase = controller.PhaseRestore
	}
}

func answerData(c *dns.Client, addr string, ch dnsCheck) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(ch.name, ch.qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("drill: %s: rcode %s", addr, dns.RcodeToString[r.Rcode])
	}
	for _, s := range zone.FromRRs(r.Answer) {
		if s.Name == strings.ToLower(ch.name) && s.Type == ch.qtype {
			return s.Data, nil
		}
	}
	return nil, nil
}

// reachableDNS turns a node's DNS listen address into one to query: a
// wildcard host (":53", "0.0.0.0:53", "[::]:53") takes the host of the
// node's advertised Raft address, or else of its API address.
func reachableDNS(dnsAddr string, others ...string) string {
	host, port, err := net.SplitHostPort(dnsAddr)
	if err != nil {
		return dnsAddr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return dnsAddr
	}
	for _, o := range others {
		h, _, err := net.SplitHostPort(o)
		if ip := net.ParseIP(h); err == nil && h != "" && (ip == nil || !ip.IsUnspecified()) {
			return net.JoinHostPort(h, port)
		}
	}
	return dnsAddr
}
