package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchboard-dns/switchboard/api"
)

// Names the benchmark zone and record use in every system.
const (
	zoneName = "bench.example."
	wwwName  = "www.bench.example."
)

// system is one DNS system under test, started and serving the record
// over backends A and B.
type system struct {
	name string
	// servers are the DNS addresses to query (one per node).
	servers []string
	// armed waits until the system can see the next failure the way it
	// does in steady state (switchboard: every node's watch connection to
	// A is open again); nil if there is nothing to wait for.
	armed func(limit time.Duration) error
	// logs are the switchboard nodes' JSON logs, for the breakdown.
	logs  []string
	procs []*proc
}

// stop ends the system's processes.
func (s *system) stop() {
	for _, p := range s.procs {
		p.stop(5 * time.Second)
	}
}

// settings are the knobs that are the same for every switchboard node.
type settings struct {
	interval, timeout, recheck time.Duration
	rise, fall                 int
	// commitTimeout is the cluster's cluster.timing.commit_timeout; zero
	// keeps the lan profile's.
	commitTimeout time.Duration
}

// timing returns the cluster.timing section.
func (st settings) timing() string {
	if st.commitTimeout > 0 {
		return fmt.Sprintf("{profile: lan, commit_timeout: %s}", st.commitTimeout)
	}
	return "{profile: lan}"
}

func (st settings) policy(bs *backends, cluster bool) string {
	var b strings.Builder
	if cluster {
		b.WriteString("consensus: {quorum: majority}\n")
	}
	fmt.Fprintf(&b, `zones:
  - name: %[1]s
    providers: [embedded]
    nameservers: [ns1.%[1]s]
    static: ["ns1 60 IN A 127.0.0.1"]
checks:
  web: {type: http, path: /healthz, body_contains: ok, interval: %[2]s, timeout: %[3]s, recheck_interval: %[4]s, rise: %[5]d, fall: %[6]d, watch: true}
endpoints:
  - {name: a, address: %[7]s, port: %[9]d, cloud: cloud-a, region: region-a, check: web}
  - {name: b, address: %[8]s, port: %[9]d, cloud: cloud-b, region: region-b, check: web}
pools:
  pa: {endpoints: [a]}
  pb: {endpoints: [b]}
records:
  - {name: %[10]s, type: A, ttl: 5, steering: all, pools: [pa, pb]}
`, zoneName, st.interval, st.timeout, st.recheck, st.rise, st.fall, bs.ipA, bs.ipB, bs.port, wwwName)
	return b.String()
}

// sbNode is one switchboard node's addresses.
type sbNode struct {
	id, ip              string
	dns, api, raft, dir string
}

// startSwitchboard starts n switchboard nodes on 127.0.0.1..n (one node
// bootstraps alone; several form a static cluster of voters) and returns
// once every node answers with both backends and watches A.
func startSwitchboard(ps *procs, bin, dir string, n int, st settings, bs *backends) (*system, error) {
	var nodes []*sbNode
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		nd := &sbNode{id: fmt.Sprintf("n%d", i+1), ip: ip, dir: filepath.Join(dir, fmt.Sprintf("n%d", i+1))}
		dnsPort, err := freeUDPTCPPort(ip)
		if err != nil {
			return nil, err
		}
		apiPort, err := freePortOn(ip)
		if err != nil {
			return nil, err
		}
		raftPort, err := freePortOn(ip)
		if err != nil {
			return nil, err
		}
		nd.dns = net.JoinHostPort(ip, fmt.Sprint(dnsPort))
		nd.api = net.JoinHostPort(ip, fmt.Sprint(apiPort))
		nd.raft = net.JoinHostPort(ip, fmt.Sprint(raftPort))
		if err := os.MkdirAll(nd.dir, 0o700); err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
	}
	name := "switchboard, 1 node"
	if n > 1 {
		name = fmt.Sprintf("switchboard, %d-node cluster", n)
	}
	sys := &system{name: name}
	for _, nd := range nodes {
		var b strings.Builder
		fmt.Fprintf(&b, "node:\n  id: %s\n  data_dir: %s\n  dns_listen: %s\n  api_listen: %s\n  raft_listen: %s\n  source_ip: %s\n",
			nd.id, filepath.Join(nd.dir, "data"), nd.dns, nd.api, nd.raft, nd.ip)
		if n > 1 {
			fmt.Fprintf(&b, "cluster:\n  tls: {insecure: true}\n  timing: %s\n  peers:\n", st.timing())
			for _, p := range nodes {
				fmt.Fprintf(&b, "    - {id: %s, raft: %q, api: %q}\n", p.id, p.raft, p.api)
			}
		}
		b.WriteString(st.policy(bs, n > 1))
		cfg := filepath.Join(nd.dir, "switchboard.yaml")
		if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
		logPath := filepath.Join(nd.dir, "switchboard.log")
		p, err := ps.start("switchboard "+nd.id, logPath, "", 0, bin, "serve", "--config", cfg, "--log-format", "json", "--log-level", "debug")
		if err != nil {
			sys.stop()
			return nil, err
		}
		sys.procs = append(sys.procs, p)
		sys.servers = append(sys.servers, nd.dns)
		sys.logs = append(sys.logs, logPath)
	}
	sys.armed = func(limit time.Duration) error { return waitWatching(nodes, "a", limit) }
	return sys, nil
}

// waitWatching waits until every node's own monitor says endpoint ep is up
// and its watch connection is open.
func waitWatching(nodes []*sbNode, ep string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, nd := range nodes {
		for {
			ok, err := watching(nd.api, ep)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("switchboard %s: no open watch on %s after %s (last error: %v)", nd.id, ep, limit, err)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	return nil
}

func watching(apiAddr, ep string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apiAddr+"/v1/status", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var st api.NodeStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return false, err
	}
	for _, e := range st.Endpoints {
		if e.Endpoint == ep && e.Local != nil {
			return e.Local.Up && e.Local.Watching, nil
		}
	}
	return false, fmt.Errorf("endpoint %s not in status", ep)
}

// pdnsSettings are the PowerDNS knobs, written into the results.
type pdnsSettings struct {
	checkInterval int // lua-health-checks-interval, seconds
	timeout       int // ifurlup timeout option, seconds (an integer)
}

// luaRecord returns the LUA record text of www.
func (ps pdnsSettings) luaRecord(port, ipA, ipB string) string {
	return fmt.Sprintf(`www 5 IN LUA A "ifurlup('http://www.bench.example:%s/healthz', {{'%s', '%s'}}, {selector='all', backupSelector='all', stringmatch='ok', timeout='%d'})"`,
		port, ipA, ipB, ps.timeout)
}

// args returns pdns_server's command line.
func (ps pdnsSettings) args(dir, listenIP, port string) []string {
	return []string{
		"--config-dir=" + dir,
		"--socket-dir=" + dir,
		"--guardian=no",
		"--daemon=no",
		"--disable-syslog=yes",
		"--write-pid=no",
		"--setuid=",
		"--setgid=",
		"--launch=bind",
		"--bind-config=" + filepath.Join(dir, "named.conf"),
		"--local-address=" + listenIP,
		"--local-port=" + port,
		"--enable-lua-records=yes",
		fmt.Sprintf("--lua-health-checks-interval=%d", ps.checkInterval),
		"--cache-ttl=0",
		"--query-cache-ttl=0",
		"--negquery-cache-ttl=0",
		"--zone-cache-refresh-interval=0",
		"--webserver=no",
		"--api=no",
		"--receiver-threads=1",
		"--distributor-threads=1",
		"--loglevel=6",
	}
}

// startPDNS starts PowerDNS Authoritative with the bind backend serving
// the zone with a LUA ifurlup record over A and B.
func startPDNS(ps *procs, bin, dir, listenIP string, set pdnsSettings, bs *backends) (*system, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	zoneFile := filepath.Join(dir, "bench.example.zone")
	zoneText := fmt.Sprintf(`$ORIGIN %[1]s
$TTL 60
@ IN SOA ns1.%[1]s hostmaster.%[1]s 1 3600 600 86400 5
@ IN NS ns1.%[1]s
ns1 IN A 127.0.0.1
%[2]s
`, zoneName, set.luaRecord(fmt.Sprint(bs.port), bs.ipA, bs.ipB))
	if err := os.WriteFile(zoneFile, []byte(zoneText), 0o600); err != nil {
		return nil, err
	}
	named := fmt.Sprintf("options { directory %q; };\nzone %q { type master; file %q; };\n", dir, strings.TrimSuffix(zoneName, "."), zoneFile)
	if err := os.WriteFile(filepath.Join(dir, "named.conf"), []byte(named), 0o600); err != nil {
		return nil, err
	}
	// An empty pdns.conf, so that nothing from /etc/powerdns applies.
	if err := os.WriteFile(filepath.Join(dir, "pdns.conf"), nil, 0o600); err != nil {
		return nil, err
	}
	port, err := freeUDPTCPPort(listenIP)
	if err != nil {
		return nil, err
	}
	p, err := ps.start("pdns_server", filepath.Join(dir, "pdns.log"), "", 0, bin, set.args(dir, listenIP, fmt.Sprint(port))...)
	if err != nil {
		return nil, err
	}
	return &system{
		name:    "PowerDNS 4.7 LUA ifurlup",
		servers: []string{net.JoinHostPort(listenIP, fmt.Sprint(port))},
		procs:   []*proc{p},
	}, nil
}
