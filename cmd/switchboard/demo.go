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

	"github.com/switchboard-dns/switchboard/config"
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
}

func newDemoCmd(g *globals) *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the failover demo on loopback: no config file, no cloud account",
		Long: `demo starts one switchboard node with four local HTTP backends in two
simulated clouds (aws/us-east-1 on 127.0.1.x, gcp/europe-west1 on 127.0.2.x),
serves DNS for demo.example, prints the answer and a health table every
second, stops the aws backends after --down-after, starts them again after
--up-after, prints the measured failover and failback times, and exits
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
	return cmd
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
	apiPort, err := freeTCPPort("127.0.0.1")
	if err != nil {
		return err
	}
	raftPort, err := freeTCPPort("127.0.0.1")
	if err != nil {
		return err
	}
	var doc bytes.Buffer
	err = template.Must(template.New("demo").Parse(demoTemplate)).Execute(&doc, map[string]any{
		"DataDir": dir, "DNS": o.dns, "API": fmt.Sprintf("127.0.0.1:%d", apiPort), "Raft": fmt.Sprintf("127.0.0.1:%d", raftPort), "Backends": backends,
	})
	if err != nil {
		return err
	}
	cfg, err := config.Parse("demo.yaml (embedded)", doc.Bytes())
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	nctx, stop := context.WithCancel(ctx)
	defer stop()
	n, err := startNode(nctx, cfg, "demo.yaml (embedded)", log, nodeOverrides{})
	if err != nil {
		return err
	}
	defer func() { stop(); _ = n.wait() }()

	fmt.Fprintf(out, "switchboard demo: one node, two simulated clouds, DNS on %s, API on %s\n", o.dns, cfg.Node.APIListen)
	host, port, _ := net.SplitHostPort(o.dns)
	fmt.Fprintf(out, "  try:  dig @%s -p %s www.demo.example     switchboard status --api %s\n", host, port, cfg.Node.APIListen)
	fmt.Fprintf(out, "  plan: aws/us-east-1 backends stop at t+%s and start again at t+%s\n\n", o.downAfter, o.upAfter)

	aws := []string{"127.0.1.1", "127.0.1.2"}
	gcp := []string{"127.0.2.1", "127.0.2.2"}
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
			printDemoLine(out, n, o.dns, time.Since(start))
		case <-down.C:
			fmt.Fprintf(out, "t+%-4s ▼ stopping the aws/us-east-1 backends (%s)\n", fmtSecs(time.Since(start)), strings.Join(aws, ", "))
			for _, b := range backends[:2] {
				b.stop()
			}
			watch = waitForAnswer(nctx, o.dns, "www.demo.example.", gcp)
		case <-up.C:
			fmt.Fprintf(out, "t+%-4s ▲ starting the aws/us-east-1 backends again\n", fmtSecs(time.Since(start)))
			for _, b := range backends[:2] {
				if err := b.start(); err != nil {
					return err
				}
			}
			watch = waitForAnswer(nctx, o.dns, "www.demo.example.", aws)
		case d := <-watch:
			watch = nil
			if failover == 0 {
				failover = d
				fmt.Fprintf(out, "t+%-4s ✔ failover: www.demo.example answers gcp %.3fs after the aws backends stopped\n", fmtSecs(time.Since(start)), d.Seconds())
				continue
			}
			failback = d
			fmt.Fprintf(out, "t+%-4s ✔ failback: www.demo.example answers aws %.3fs after the aws backends started\n", fmtSecs(time.Since(start)), d.Seconds())
			fmt.Fprintf(out, "\nmeasured: failover %.3fs, failback %.3fs (checks every 1s, fall 2, rise 2, re-check 100ms, watched connections)\n", failover.Seconds(), failback.Seconds())
			if !o.forever {
				return nil
			}
			fmt.Fprintln(out, "--forever: still serving; Ctrl-C to stop")
		}
	}
}

func fmtSecs(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds())) }

// waitForAnswer polls name every 20 ms and sends how long it took until
// the answer was exactly want.
func waitForAnswer(ctx context.Context, server, name string, want []string) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if got, _, err := lookupA(server, name); err == nil && slices.Equal(got, want) {
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

func printDemoLine(out io.Writer, n *runningNode, server string, el time.Duration) {
	ans, _, err := lookupA(server, "www.demo.example.")
	a := strings.Join(ans, ",")
	switch {
	case err != nil:
		a = "(" + err.Error() + ")"
	case len(ans) == 0:
		a = "(refused: waiting for the first commit)"
	}
	var health []string
	st := n.node.State()
	local := map[string]bool{}
	for _, s := range n.node.Monitor().Status() {
		local[s.Endpoint] = s.Up
	}
	if st != nil && st.Policy != nil {
		for _, e := range st.Policy.Parsed().Endpoints {
			mark := "up"
			if !st.Health[e.Name].Up {
				mark = "DOWN"
			} else if !local[e.Name] {
				mark = "up?" // this observer already sees it down; consensus not yet
			}
			health = append(health, fmt.Sprintf("%s %-4s", e.Name, mark))
		}
	}
	fmt.Fprintf(out, "t+%-4s www → %-21s serial %-3d | %s\n", fmtSecs(el), a, soaSerial(server, "demo.example."), strings.Join(health, "  "))
}

func freeTCPPort(ip string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
