package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/dnsserver"
	"github.com/switchboard-dns/switchboard/health"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/raft"
)

func newServeCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run a switchboard node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger("info")
			if err != nil {
				return err
			}
			cfg, err := config.Load(file)
			if err != nil {
				var errs config.Errors
				if errors.As(err, &errs) {
					return &exitError{code: 1, err: fmt.Errorf("invalid config:\n%w", errs)}
				}
				return err
			}
			if !cfg.HasNode() {
				return fmt.Errorf("%s has no node section; serve needs one (id, data_dir, dns_listen, api_listen, raft_listen)", file)
			}
			n, err := startNode(cmd.Context(), cfg, file, log, nodeOverrides{})
			if err != nil {
				return err
			}
			return n.wait()
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "config file (required)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// nodeOverrides adjust a node for the demo and tests.
type nodeOverrides struct {
	onState func(*controller.State)
}

// runningNode is a started node: Raft, controller, DNS server, API.
type runningNode struct {
	cfg   *config.Config
	log   *slog.Logger
	raft  *raft.Node
	node  *controller.Node
	dns   *dnsserver.Server
	api   *api.Server
	http  *http.Server
	dnsUD net.Addr
	apiLn net.Listener
	done  chan error
}

// startNode opens the node's Raft state, loads the last committed zones
// into the DNS server before it listens (so a restarted node answers at
// once), then starts DNS, the API and the controller. It returns once all
// listeners are up; wait blocks until ctx ends and everything has stopped.
func startNode(ctx context.Context, cfg *config.Config, source string, log *slog.Logger, ov nodeOverrides) (_ *runningNode, err error) {
	log = log.With("node", cfg.Node.ID)
	fsm := raft.NewFSM(controller.NewDeriver())
	ropts, err := raftOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	ropts.FSM = fsm
	rn, err := raft.Open(ropts)
	if err != nil {
		return nil, err
	}
	cleanup := []func(){func() { _ = rn.Shutdown() }}
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	dns := dnsserver.New(dnsserver.Options{Logger: log})
	mon := health.NewMonitor(health.Options{MaxConcurrent: cfg.Node.MaxConcurrentChecks, Logger: log})
	var probeSource netip.Addr
	if cfg.Node.SourceIP != "" {
		probeSource = netip.MustParseAddr(cfg.Node.SourceIP) // validated
	}
	node := controller.NewNode(controller.NodeOptions{
		ID:              cfg.Node.ID,
		Source:          probeSource,
		Raft:            rn,
		Monitor:         mon,
		Sinks:           []controller.ZoneSink{dns},
		BootstrapPolicy: bootstrapPolicy(cfg),
		PolicySource:    source,
		Logger:          log,
		OnState:         ov.onState,
		Info: &raft.NodeInfo{
			Raft: rn.Addr(), API: cfg.Node.APIListen, DNS: cfg.Node.DNSListen,
			Cloud: cfg.Node.Cloud, Region: cfg.Node.Region, Voter: ropts.Voter,
		},
	})
	if err := node.Sync(); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	cleanup = append(cleanup, cancel)
	udp, _, err := dns.Start(runCtx, cfg.Node.DNSListen)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	cleanup = append(cleanup, func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = dns.Shutdown(sctx)
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The reconciler runs on every node and writes to the external
	// providers only while this node leads.
	rec, err := controller.NewReconciler(controller.ReconcilerOptions{
		Node:      cfg.Node.ID,
		Cluster:   controller.NewRaftCluster(rn),
		Providers: controller.RegistryProviders(providerRegistry(), providers.Env{Getenv: os.Getenv, Logger: log}),
		Registry:  reg,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	recDone := make(chan struct{})
	go func() { defer close(recDone); _ = rec.Run(runCtx) }()
	cleanup = append(cleanup, func() { cancel(); <-recDone })
	a := api.New(api.Options{Node: node, Serial: dns.Serial, Registry: reg, Logger: log, Cloud: cfg.Node.Cloud, Region: cfg.Node.Region})
	ln, err := net.Listen("tcp", cfg.Node.APIListen)
	if err != nil {
		return nil, fmt.Errorf("api: listen: %w", err)
	}
	hs := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	cleanup = append(cleanup, func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = hs.Shutdown(sctx)
	})
	n := &runningNode{cfg: cfg, log: log, raft: rn, node: node, dns: dns, api: a, http: hs, dnsUD: udp, apiLn: ln, done: make(chan error, 1)}
	log.Info("switchboard node started", "version", version, "dns", udp.String(), "api", ln.Addr().String(), "raft", rn.Addr())
	steps := cleanup
	go func() {
		runErr := node.Run(runCtx)
		for i := len(steps) - 1; i >= 0; i-- {
			steps[i]()
		}
		log.Info("switchboard node stopped")
		n.done <- runErr
	}()
	return n, nil
}

// wait blocks until the node has stopped.
func (n *runningNode) wait() error {
	err := <-n.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// bootstrapPolicy returns the file's policy when it has one.
func bootstrapPolicy(cfg *config.Config) *config.Policy {
	p := cfg.Policy
	if len(p.Zones) == 0 && len(p.Endpoints) == 0 && len(p.Records) == 0 {
		return nil
	}
	return &p
}

// raftOptions turns the node and cluster sections into Raft options:
// how a node without state becomes a member, mutual TLS, timing, the
// source address of node connections.
//
//   - no peers, no join, not an observer: a single node that bootstraps
//     itself;
//   - listed among the peers: a static bootstrap once every peer answers
//     (or a join through them if they already run a cluster);
//   - otherwise (join addresses, or an observer): join through the join
//     addresses, or the peers' Raft addresses.
func raftOptions(cfg *config.Config, log *slog.Logger) (raft.Options, error) {
	c := cfg.Cluster
	o := raft.Options{
		ID:        cfg.Node.ID,
		DataDir:   cfg.Node.DataDir,
		Listen:    cfg.Node.RaftListen,
		Advertise: cfg.Node.RaftAdvertise,
		Timeouts:  c.Timing.Resolve(),
		Logger:    log,
		Voter:     !c.Observer,
	}
	if cfg.Node.SourceIP != "" {
		o.Source = netip.MustParseAddr(cfg.Node.SourceIP) // validated
	}
	self := false
	for _, p := range c.Peers {
		self = self || p.ID == cfg.Node.ID
	}
	switch {
	case len(c.Peers) == 0 && len(c.Join) == 0 && !c.Observer:
		o.Admission = raft.AdmitSingle
	case self && !c.Observer:
		o.Admission = raft.AdmitStatic
		for _, p := range c.Peers {
			o.Peers = append(o.Peers, raft.Peer{ID: p.ID, Addr: p.Raft})
		}
	default:
		o.Admission = raft.AdmitJoin
		o.JoinAddrs = append(o.JoinAddrs, c.Join...)
		if len(o.JoinAddrs) == 0 {
			for _, p := range c.Peers {
				o.JoinAddrs = append(o.JoinAddrs, p.Raft)
			}
		}
	}
	switch t := c.TLS; {
	case t.Insecure:
		log.Warn("cluster traffic is neither encrypted nor authenticated (cluster.tls.insecure: true): anyone who reaches the Raft port can join the cluster and change its state")
	case t.CA != "":
		tc, err := raft.LoadTLS(t.CA, t.Cert, t.Key)
		if err != nil {
			return o, err
		}
		o.TLS = tc
	default:
		// A single node without TLS: its node channel still accepts
		// writes, so it should only be reachable from this machine.
		if host, _, err := net.SplitHostPort(cfg.Node.RaftListen); err == nil {
			if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
				log.Warn("raft_listen is not a loopback address and the node channel has no TLS: anyone who reaches it can write to this node; bind it to 127.0.0.1 or configure cluster.tls", "raft_listen", cfg.Node.RaftListen)
			}
		}
	}
	return o, nil
}
