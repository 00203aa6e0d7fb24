package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/raft"
)

//go:embed demo.yaml
var demoTemplate string

type demoBackend struct {
	Name, Cloud, Region, IP string
	Port                    int

	mu  sync.Mutex
	srv *http.Server
}

func (b *demoBackend) addr() string { return net.JoinHostPort(b.IP, fmt.Sprint(b.Port)) }

// start listens on the backend's address, retrying briefly while a
// previous listener's port is released.
func (b *demoBackend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", b.addr()); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("backend %s: %w", b.Name, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s (%s/%s)\n", b.Name, b.Cloud, b.Region)
	})
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func(s *http.Server) { _ = s.Serve(ln) }(b.srv)
	return nil
}

// stop closes the listener and every connection, as a crashed process's
// kernel would.
func (b *demoBackend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		_ = b.srv.Close()
		b.srv = nil
	}
}

type demoOptions struct {
	dns       string
	forever   bool
	downAfter time.Duration
	upAfter   time.Duration
	endAfter  time.Duration
	drill     time.Duration // length of the region drill; 0: none
}

func newDemoCmd(g *globals) *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the failover demo on loopback: no config file, no cloud account",
		Long: `demo starts a three-node switchboard cluster on 127.0.0.1-3 (each node in
its own simulated cloud) with four local HTTP backends in two simulated
clouds (aws/us-east-1 on 127.0.1.x, gcp/europe-west1 on 127.0.2.x), serves
DNS for demo.example on every node, prints the answer, the serial of every
node and the consensus health every second, stops the aws backends after
--down-after, starts them again after --up-after, prints the failover and
failback times measured on all three nodes, then runs the same failure as a
simulated region drill (--drill) and prints its measured report, and exits
(--forever keeps it running).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-level") {
				g.logLevel = "error" // the demo prints its own table
			}
			return runDemo(cmd.Context(), g, o)
		},
	}
	cmd.Flags().StringVar(&o.dns, "dns", "127.0.0.1:5353", "address to serve DNS on")
	cmd.Flags().BoolVar(&o.forever, "forever", false, "keep running after the failback")
	cmd.Flags().DurationVar(&o.downAfter, "down-after", 10*time.Second, "when to stop the primary cloud's backends")
	cmd.Flags().DurationVar(&o.upAfter, "up-after", 20*time.Second, "when to start them again")
	cmd.Flags().DurationVar(&o.drill, "drill", 5*time.Second, "after the failback, run a simulated region drill of aws/us-east-1 this long and print its report (0: skip)")
	return cmd
}

// demoNode is one node of the demo cluster.
type demoNode struct {
	ID, IP, Cloud, Region   string
	DataDir, DNS, API, Raft string
	run                     *runningNode
}

func runDemo(ctx context.Context, g *globals, o demoOptions) error {
	if o.upAfter <= o.downAfter {
		return fmt.Errorf("--up-after (%s) must be later than --down-after (%s)", o.upAfter, o.downAfter)
	}
	log, err := g.logger("error")
	if err != nil {
		return err
	}
	out := g.stdout
	dir, err := os.MkdirTemp("", "switchboard-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	backends := []*demoBackend{
		{Name: "aws-use1-a", Cloud: "aws", Region: "us-east-1", IP: "127.0.1.1"},
		{Name: "aws-use1-b", Cloud: "aws", Region: "us-east-1", IP: "127.0.1.2"},
		{Name: "gcp-euw1-a", Cloud: "gcp", Region: "europe-west1", IP: "127.0.2.1"},
		{Name: "gcp-euw1-b", Cloud: "gcp", Region: "europe-west1", IP: "127.0.2.2"},
	}
	for _, b := range backends {
		if b.Port, err = freeTCPPort(b.IP); err != nil {
			return fmt.Errorf("backend %s: %w", b.Name, err)
		}
		if err := b.start(); err != nil {
			return err
		}
		defer b.stop()
	}

	// Three nodes, each in its own simulated cloud: node 1 serves DNS on
	// --dns, nodes 2 and 3 on the same port of 127.0.0.2 and .3.
	dnsHost, dnsPort, err := net.SplitHostPort(o.dns)
	if err != nil {
		return fmt.Errorf("--dns %q: %w", o.dns, err)
	}
	nodes := []*demoNode{
		{ID: "n1", IP: "127.0.0.1", Cloud: "aws", Region: "us-east-1"},
		{ID: "n2", IP: "127.0.0.2", Cloud: "gcp", Region: "europe-west1"},
		{ID: "n3", IP: "127.0.0.3", Cloud: "azure", Region: "westeurope"},
	}
	for i, n := range nodes {
		n.DataDir = fmt.Sprintf("%s/%s", dir, n.ID)
		host := n.IP
		if i == 0 {
			host = dnsHost
		}
		n.DNS = net.JoinHostPort(host, dnsPort)
		apiPort, err := freeTCPPort(n.IP)
		if err != nil {
			return err
		}
		raftPort, err := freeTCPPort(n.IP)
		if err != nil {
			return err
		}
		n.API, n.Raft = net.JoinHostPort(n.IP, fmt.Sprint(apiPort)), net.JoinHostPort(n.IP, fmt.Sprint(raftPort))
	}
	nctx, stop := context.WithCancel(ctx)
	defer stop()
	for _, n := range nodes {
		var doc bytes.Buffer
		if err := template.Must(template.New("demo").Parse(demoTemplate)).Execute(&doc, map[string]any{"Node": n, "Nodes": nodes, "Backends": backends}); err != nil {
			return err
		}
		cfg, err := config.Parse("demo.yaml (embedded)", doc.Bytes())
		if err != nil {
			return fmt.Errorf("demo config: %w", err)
		}
		if n.run, err = startNode(nctx, cfg, "demo.yaml (embedded)", log.With("node", n.ID), nodeOverrides{}); err != nil {
			return fmt.Errorf("demo node %s: %w", n.ID, err)
		}
		defer func(r *runningNode) { stop(); _ = r.wait() }(n.run)
	}

	fmt.Fprintf(out, "switchboard demo: a 3-node cluster (n1 aws, n2 gcp, n3 azure) on 127.0.0.1-3, two simulated clouds of backends\n")
	fmt.Fprintf(out, "  DNS on %s, %s, %s; API of n1 on %s\n", nodes[0].DNS, nodes[1].DNS, nodes[2].DNS, nodes[0].API)
	fmt.Fprintf(out, "  try:  dig @%s -p %s www.demo.example     switchboard status --api %s\n", dnsHost, dnsPort, nodes[0].API)
	fmt.Fprintf(out, "  plan: aws/us-east-1 backends stop at t+%s and start again at t+%s\n\n", o.downAfter, o.upAfter)

	aws := []string{"127.0.1.1", "127.0.1.2"}
	gcp := []string{"127.0.2.1", "127.0.2.2"}
	servers := make([]string, len(nodes))
	for i, n := range nodes {
		servers[i] = n.DNS
	}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	down := time.NewTimer(o.downAfter)
	up := time.NewTimer(o.upAfter)
	var failover, failback time.Duration
	var watch <-chan time.Duration
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			printDemoLine(out, nodes[0].run, servers, time.Since(start))
		case <-down.C:
			fmt.Fprintf(out, "t+%-4s ▼ stopping the aws/us-east-1 backends (%s)\n", fmtSecs(time.Since(start)), strings.Join(aws, ", "))
			for _, b := range backends[:2] {
				b.stop()
			}
			watch = waitForAnswer(nctx, servers, "www.demo.example.", gcp)
		case <-up.C:
			fmt.Fprintf(out, "t+%-4s ▲ starting the aws/us-east-1 backends again\n", fmtSecs(time.Since(start)))
			for _, b := range backends[:2] {
				if err := b.start(); err != nil {
					return err
				}
			}
			watch = waitForAnswer(nctx, servers, "www.demo.example.", aws)
		case d := <-watch:
			watch = nil
			if failover == 0 {
				failover = d
				fmt.Fprintf(out, "t+%-4s ✔ failover: every node answers gcp %.3fs after the aws backends stopped\n", fmtSecs(time.Since(start)), d.Seconds())
				continue
			}
			failback = d
			fmt.Fprintf(out, "t+%-4s ✔ failback: every node answers aws %.3fs after the aws backends started\n", fmtSecs(time.Since(start)), d.Seconds())
			fmt.Fprintf(out, "\nmeasured on all 3 nodes: failover %.3fs, failback %.3fs (checks every 1s, fall 2, rise 2, re-check 100ms, watched connections, 2 of 3 observers must agree)\n", failover.Seconds(), failback.Seconds())
			if o.drill > 0 {
				// The same failure as a drill: simulated at the health
				// layer, recorded in the log, reverted at its deadline,
				// and measured on every node's DNS.
				tick.Stop()
				fmt.Fprintf(out, "\n▶ region drill: switchboard drill run --scope region:aws/us-east-1 --mode simulated --duration %s --api %s\n\n", o.drill, nodes[0].API)
				r := &drillRunner{out: out, cl: newFailoverClient(nodes[0].API), req: api.DrillRequest{Scope: "region:aws/us-east-1", Mode: raft.DrillSimulated, Duration: o.drill.String()}}
				if err := r.run(nctx); err != nil {
					return fmt.Errorf("demo drill: %w", err)
				}
				tick.Reset(time.Second)
			}
			if !o.forever {
				return nil
			}
			fmt.Fprintln(out, "--forever: still serving; Ctrl-C to stop")
		}
	}
}

func fmtSecs(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds())) }

// waitForAnswer polls name on every server every 20 ms and sends how
// long it took until all of them answered exactly want.
func waitForAnswer(ctx context.Context, servers []string, name string, want []string) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		pending := slices.Clone(servers)
		for {
			pending = slices.DeleteFunc(pending, func(s string) bool {
				got, _, err := lookupA(s, name)
				return err == nil && slices.Equal(got, want)
			})
			if len(pending) == 0 {
				ch <- time.Since(start)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ch
}

// lookupA returns the sorted A records of name and the zone serial in the
// authority or an extra SOA query.
func lookupA(server, name string) ([]string, uint32, error) {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, 0, nil
}

func soaSerial(server, zone string) uint32 {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	r, _, err := c.Exchange(m, server)
	if err != nil || len(r.Answer) == 0 {
		return 0
	}
	if s, ok := r.Answer[0].(*dns.SOA); ok {
		return s.Serial
	}
	return 0
}

func printDemoLine(out io.Writer, n *runningNode, servers []string, el time.Duration) {
	ans, _, err := lookupA(servers[0], "www.demo.example.")
	a := strings.Join(ans, ",")
	switch {
	case err != nil:
		a = "(" + err.Error() + ")"
	case len(ans) == 0:
		a = "(refused: waiting for the first commit)"
	}
	var serials []string
	for _, s := range servers {
		serials = append(serials, fmt.Sprint(soaSerial(s, "demo.example.")))
	}
	var health []string
	st := n.node.State()
	if st != nil && st.Policy != nil {
		for _, e := range st.Policy.Parsed().Endpoints {
			d := st.Health[e.Name]
			mark := "up"
			if !d.Up {
				mark = "DOWN"
			} else if d.Down > 0 {
				mark = fmt.Sprintf("up(%d/%d)", d.Down, d.Need) // some observers say down; not yet the quorum
			}
			health = append(health, fmt.Sprintf("%s %-4s", e.Name, mark))
		}
	}
	fmt.Fprintf(out, "t+%-4s www → %-21s serials %-8s | %s\n", fmtSecs(el), a, strings.Join(serials, "/"), strings.Join(health, "  "))
}

func freeTCPPort(ip string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
