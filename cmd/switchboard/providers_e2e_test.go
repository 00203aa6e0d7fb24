package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/clouddns/clouddnstest"
	"github.com/switchboard-dns/switchboard/providers/rfc2136/rfc2136test"
	"github.com/switchboard-dns/switchboard/providers/route53/route53test"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// providersSection is added to e2eConfig: the zone is also published to
// a real BIND (RFC 2136 with TSIG), the Route 53 fake and the Cloud DNS
// fake, each verified by querying its own DNS address. Its verbs follow
// e2eConfig's nine.
//
// Azure DNS is not in it: its fake (azurednstest) is the SDK's in-process
// fake transport, which a separate process cannot reach over HTTP.
const providersSection = `
providers:
  bind:
    type: rfc2136
    server: "%[10]s"
    tsig_key: "%[11]s"
    tsig_secret_env: SB_E2E_TSIG_SECRET
    verify_nameservers: ["%[10]s"]
    verify_timeout: 20s
  r53:
    type: route53
    hosted_zone_id: "%[12]s"
    endpoint: "%[13]s"
    requests_per_second: 50
    verify_nameservers: ["%[14]s"]
    verify_timeout: 20s
  gcp:
    type: clouddns
    project: e2e-project
    managed_zone: e2e-zone
    endpoint: "%[15]s"
    verify_nameservers: ["%[16]s"]
    verify_timeout: 20s
`

// providersConfig is e2eConfig with the zone's providers listed and
// defined.
var providersConfig = strings.Replace(e2eConfig, "    providers: [embedded]\n", "    providers: [embedded, bind, r53, gcp]\n", 1) + providersSection

const (
	e2eZone  = "e2e.example."
	e2eWWW   = "www.e2e.example."
	e2eFence = "_switchboard.e2e.example."
)

// e2eNode is the running binary with its providers.
type e2eNode struct {
	dns, api string
	bind     *rfc2136test.Server
	r53      *route53test.Server
	gcp      *clouddnstest.Server
	// servers maps each provider (and "embedded") to the DNS address
	// its content is served on.
	servers map[string]string
}

// e2eProviders are the providers the reconciler writes, in the zone's order.
var e2eProviders = []string{"bind", "r53", "gcp"}

// foreignRRsets are records BIND holds that the policy does not name;
// one shares its owner with the managed www A.
func foreignRRsets() []zone.RRset {
	return []zone.RRset{
		zone.MustRRset("legacy.e2e.example.", dns.TypeA, 300, "192.0.2.7", "192.0.2.8"),
		zone.MustRRset("www.e2e.example.", dns.TypeAAAA, 300, "2001:db8::7"),
		zone.MustRRset("e2e.example.", dns.TypeMX, 3600, "10 mail.example.net."),
		zone.MustRRset("e2e.example.", dns.TypeTXT, 3600, `"v=spf1 -all"`),
		zone.MustRRset("old.e2e.example.", dns.TypeCNAME, 60, "legacy.e2e.example."),
	}
}

// startProvidersNode starts BIND (seeded with foreignRRsets), the Route
// 53 and Cloud DNS fakes, and the switchboard binary writing to them.
func startProvidersNode(t *testing.T, a, b *backend) *e2eNode {
	t.Helper()
	bind := rfc2136test.StartBIND(t, rfc2136test.Options{
		Zones:      []rfc2136test.Zone{{Name: e2eZone}},
		Algorithms: []string{"hmac-sha256"},
	})
	bind.Update(t, func(m *dns.Msg) {
		for _, s := range foreignRRsets() {
			rrs, err := s.RRs()
			if err != nil {
				t.Fatal(err)
			}
			m.Insert(rrs)
		}
	})
	r53 := route53test.New(t)
	zoneID := r53.AddZone(e2eZone)
	gcp, err := clouddnstest.Start("e2e-project", "e2e-zone", e2eZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcp.Close)

	// The binary inherits the test's environment: the TSIG secret, and
	// static AWS credentials for the fake (the default chain reads them
	// first). Cloud DNS with an endpoint and no credentials is reached
	// unauthenticated.
	key := bind.Key(t, "hmac-sha256")
	t.Setenv("SB_E2E_TSIG_SECRET", key.Secret)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDE2ETEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "e2e-test-secret")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")

	dir := t.TempDir()
	dnsPort, apiPort, raftPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	doc := fmt.Sprintf(providersConfig, filepath.Join(dir, "data"), dnsPort, apiPort, raftPort, a.port(), b.port(), "1s", 2, 2,
		bind.Addr(), key.Name, zoneID, r53.URL(), r53.DNSAddr(), gcp.URL(), gcp.DNSAddr())
	if !strings.Contains(doc, "[embedded, bind, r53, gcp]") {
		t.Fatal("e2eConfig no longer lists its zone's providers as [embedded]: update providersConfig")
	}
	cfg := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	startProc(t, "serve", "--config", cfg, "--log-format", "json")
	n := &e2eNode{
		dns: fmt.Sprintf("127.0.0.1:%d", dnsPort), api: fmt.Sprintf("127.0.0.1:%d", apiPort),
		bind: bind, r53: r53, gcp: gcp,
	}
	n.servers = map[string]string{"embedded": n.dns, "bind": bind.Addr(), "r53": r53.DNSAddr(), "gcp": gcp.DNSAddr()}
	return n
}

// status reads GET /v1/status.
func (n *e2eNode) status(t *testing.T) (api.NodeStatus, error) {
	t.Helper()
	var st api.NodeStatus
	resp, err := http.Get("http://" + n.api + "/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: HTTP %d", resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// generation is the zone's generation in st (0: not there).
func generation(st api.NodeStatus) uint64 {
	for _, z := range st.Zones {
		if z.Origin == e2eZone {
			return z.Generation
		}
	}
	return 0
}

// syncOf is provider's sync status for the zone in st.
func syncOf(st api.NodeStatus, provider string) (raft.SyncStatus, bool) {
	for _, s := range st.Sync {
		if s.Provider == provider && s.Zone == e2eZone {
			return s, true
		}
	}
	return raft.SyncStatus{}, false
}

// metrics scrapes GET /metrics and returns the samples of the reconciler's
// per-provider series for the zone, keyed "name provider".
func (n *e2eNode) metrics(t *testing.T) (map[string]float64, error) {
	t.Helper()
	resp, err := http.Get("http://" + n.api + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		// The error counter is per provider and kind (summed here); the
		// gauges are per provider and zone.
		isErrors := name == "switchboard_provider_write_errors_total"
		if !ok || !strings.HasPrefix(name, "switchboard_provider_") || (!isErrors && !strings.Contains(rest, `zone="`+e2eZone+`"`)) {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		_, prov, ok := strings.Cut(labels, `provider="`)
		if !ok {
			continue
		}
		prov, _, _ = strings.Cut(prov, `"`)
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", line, err)
		}
		out[name+" "+prov] += v
	}
	return out, sc.Err()
}

// fence reads the fencing record's generation at a DNS server.
func fence(addr string) (uint64, error) {
	_, r, err := query(addr, e2eFence, dns.TypeTXT)
	if err != nil {
		return 0, err
	}
	sets := zone.FromRRs(r.Answer)
	if len(sets) != 1 {
		return 0, fmt.Errorf("%s TXT at %s: got %d RRsets, want 1", e2eFence, addr, len(sets))
	}
	return providers.ParseFence(sets[0])
}

// poll calls cond every 20 ms until it holds or limit passes, and returns
// how long it took; it fails the test with what cond last reported.
func poll(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s; last: %s", what, limit, last)
		}
		<-tick.C
	}
}

// converged reports whether every server in servers answers www with want
// and every provider in provs is verified at gen in st, with its fence
// at gen.
func (n *e2eNode) converged(t *testing.T, want []string, provs []string) (bool, string) {
	t.Helper()
	st, err := n.status(t)
	if err != nil {
		return false, err.Error()
	}
	gen := generation(st)
	for _, p := range append([]string{"embedded"}, provs...) {
		got, _, err := query(n.servers[p], e2eWWW, dns.TypeA)
		if err != nil || !slices.Equal(got, want) {
			return false, fmt.Sprintf("%s answers %v (%v), want %v", p, got, err, want)
		}
	}
	for _, p := range provs {
		s, ok := syncOf(st, p)
		if !ok || s.Applied != gen || s.Verified != gen {
			return false, fmt.Sprintf("%s sync %+v, want applied = verified = generation %d", p, s, gen)
		}
		if f, err := fence(n.servers[p]); err != nil || f != gen {
			return false, fmt.Sprintf("%s fence %d (%v), want %d", p, f, err, gen)
		}
	}
	return true, ""
}

// checkSynced checks status and metrics for provs at the zone's current
// generation: applied = verified = generation in both, lag 0.
func (n *e2eNode) checkSynced(t *testing.T, provs []string) uint64 {
	t.Helper()
	st, err := n.status(t)
	if err != nil {
		t.Fatal(err)
	}
	gen := generation(st)
	if gen == 0 {
		t.Fatalf("status has no generation for %s: %+v", e2eZone, st.Zones)
	}
	if s := serial(t, n.dns, e2eZone); uint64(s) != gen {
		t.Errorf("embedded SOA serial: got %d, want the generation %d", s, gen)
	}
	m, err := n.metrics(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range provs {
		s, ok := syncOf(st, p)
		if !ok || s.Applied != gen || s.Verified != gen || s.Error != "" || s.Unverified {
			t.Errorf("status sync of %s: got %+v, want applied = verified = %d, no error", p, s, gen)
		}
		for _, name := range []string{"switchboard_provider_generation_wanted", "switchboard_provider_generation_applied", "switchboard_provider_generation_verified"} {
			if v, ok := m[name+" "+p]; !ok || v != float64(gen) {
				t.Errorf("metric %s{provider=%q}: got %v (present %v), want %d", name, p, v, ok, gen)
			}
		}
		if v := m["switchboard_provider_lag_seconds "+p]; v != 0 {
			t.Errorf("metric switchboard_provider_lag_seconds{provider=%q}: got %v, want 0", p, v)
		}
	}
	return gen
}

// foreignAtBIND returns BIND's RRsets that the policy does not manage
// (the managed www A, the fence and the SOA, whose serial BIND bumps on
// every update, left out), each printed in presentation format.
func foreignAtBIND(t *testing.T, s *rfc2136test.Server) []string {
	t.Helper()
	var out []string
	for _, set := range s.Dump(t) {
		k := set.Key()
		if k == (zone.Key{Name: e2eWWW, Type: dns.TypeA}) || k.Name == e2eFence || k.Type == dns.TypeSOA {
			continue
		}
		out = append(out, set.String())
	}
	return out
}

// TestEndToEndProviders runs the real binary with the reconciler writing
// one zone to a real BIND and to the Route 53 and Cloud DNS fakes, and
// checks over DNS, /v1/status and /metrics that every provider follows a
// health change, that records it does not manage stay untouched, and that
// a provider whose API fails lags alone and catches up when it heals.
func TestEndToEndProviders(t *testing.T) {
	a, b := newBackend(t, "127.0.1.1"), newBackend(t, "127.0.2.1")
	n := startProvidersNode(t, a, b)
	// What BIND holds before switchboard touches it: the seeded foreign
	// records and the zone's own NS.
	foreignBefore := foreignAtBIND(t, n.bind)
	if len(foreignBefore) != len(foreignRRsets())+1 {
		t.Fatalf("BIND before the start: got %d foreign RRsets %q, want %d (seeded + NS)", len(foreignBefore), foreignBefore, len(foreignRRsets())+1)
	}

	both := []string{"127.0.1.1", "127.0.2.1"}
	took := poll(t, 60*time.Second, "the first policy at every provider", func() (bool, string) {
		return n.converged(t, both, e2eProviders)
	})
	g1 := n.checkSynced(t, e2eProviders)
	t.Logf("start → embedded and %v verified with both backends: %s (generation %d)", e2eProviders, took.Round(time.Millisecond), g1)

	// Backend a stops: the embedded server and every provider drop it.
	t.Run("backend stop reaches every provider", func(t *testing.T) {
		a.stop()
		stopped := time.Now()
		seen := map[string]time.Duration{}
		verified := map[string]time.Duration{}
		poll(t, 30*time.Second, "every answer without a, every provider verified", func() (bool, string) {
			for p, addr := range n.servers {
				if _, ok := seen[p]; ok {
					continue
				}
				if got, _, err := query(addr, e2eWWW, dns.TypeA); err == nil && slices.Equal(got, []string{"127.0.2.1"}) {
					seen[p] = time.Since(stopped)
				}
			}
			st, err := n.status(t)
			if err != nil {
				return false, err.Error()
			}
			gen := generation(st)
			for _, p := range e2eProviders {
				if s, ok := syncOf(st, p); ok && gen > g1 && s.Verified == gen {
					if _, ok := verified[p]; !ok {
						verified[p] = time.Since(stopped)
					}
				}
			}
			return len(seen) == len(n.servers) && len(verified) == len(e2eProviders),
				fmt.Sprintf("answers changed %v, verified %v, generation %d", seen, verified, gen)
		})
		g2 := n.checkSynced(t, e2eProviders)
		if g2 <= g1 {
			t.Errorf("generation after the stop: got %d, want more than %d", g2, g1)
		}
		t.Logf("backend a stopped → embedded answer without a: %s", seen["embedded"].Round(time.Millisecond))
		for _, p := range e2eProviders {
			t.Logf("backend a stopped → %s answers without a: %s, verified in status: %s", p,
				seen[p].Round(time.Millisecond), verified[p].Round(time.Millisecond))
		}
		if ok, why := n.converged(t, []string{"127.0.2.1"}, e2eProviders); !ok {
			t.Errorf("after the stop: %s", why)
		}
	})
	if t.Failed() {
		return
	}

	// Route 53's API fails every request; a health change (a comes back)
	// still reaches the others, and Route 53's lag shows.
	t.Run("route53 outage lags alone and heals", func(t *testing.T) {
		st, err := n.status(t)
		if err != nil {
			t.Fatal(err)
		}
		gBefore := generation(st)
		m0, err := n.metrics(t)
		if err != nil {
			t.Fatal(err)
		}
		errsBefore := m0["switchboard_provider_write_errors_total r53"]
		n.r53.FailNext(100000, http.StatusServiceUnavailable, "ServiceUnavailable", "e2e outage")
		t.Cleanup(n.r53.ClearFaults)
		a.start()
		started := time.Now()
		others := []string{"bind", "gcp"}
		took := poll(t, 30*time.Second, "bind and gcp to converge while r53 fails", func() (bool, string) {
			return n.converged(t, both, others)
		})
		gOut := n.checkSynced(t, others)
		if gOut <= gBefore {
			t.Fatalf("generation after a came back: got %d, want more than %d", gOut, gBefore)
		}
		t.Logf("backend a started (r53 down) → embedded, bind, gcp verified with both: %s (generation %d)", took.Round(time.Millisecond), gOut)

		// The lag is visible in the metrics and in status, and Route 53
		// still serves the previous answer: nothing half-written.
		poll(t, 10*time.Second, "r53's lag in /metrics", func() (bool, string) {
			m, err := n.metrics(t)
			if err != nil {
				return false, err.Error()
			}
			lag, applied, wanted := m["switchboard_provider_lag_seconds r53"], m["switchboard_provider_generation_applied r53"], m["switchboard_provider_generation_wanted r53"]
			return lag > 0 && applied < float64(gOut) && wanted == float64(gOut),
				fmt.Sprintf("lag %v, applied %v, wanted %v (generation %d)", lag, applied, wanted, gOut)
		})
		// Keep it down through several retries (backoff 200 ms, 400 ms,
		// 800 ms, ...): the others stay converged meanwhile.
		var m map[string]float64
		poll(t, 20*time.Second, "three failed r53 attempts", func() (bool, string) {
			var err error
			if m, err = n.metrics(t); err != nil {
				return false, err.Error()
			}
			errs := m["switchboard_provider_write_errors_total r53"]
			return errs-errsBefore >= 3, fmt.Sprintf("%v r53 errors since the outage began", errs-errsBefore)
		})
		if ok, why := n.converged(t, both, others); !ok {
			t.Errorf("the others during the r53 outage: %s", why)
		}
		st, err = n.status(t)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := syncOf(st, "r53"); !ok || s.Applied >= gOut || s.Verified >= gOut {
			t.Errorf("status sync of r53 during the outage: got %+v, want applied and verified < %d", s, gOut)
		}
		if got, _, err := query(n.servers["r53"], e2eWWW, dns.TypeA); err != nil || !slices.Equal(got, []string{"127.0.2.1"}) {
			t.Errorf("r53 answer during the outage: got %v (%v), want the previous [127.0.2.1]", got, err)
		}
		t.Logf("r53 during the outage: lag %.1fs, applied %v, wanted %v, write errors %v",
			m["switchboard_provider_lag_seconds r53"], m["switchboard_provider_generation_applied r53"],
			m["switchboard_provider_generation_wanted r53"], m["switchboard_provider_write_errors_total r53"])
		outage := time.Since(started)

		n.r53.ClearFaults()
		took = poll(t, 60*time.Second, "r53 to converge after healing", func() (bool, string) {
			return n.converged(t, both, e2eProviders)
		})
		if g := n.checkSynced(t, e2eProviders); g != gOut {
			t.Errorf("generation after healing: got %d, want %d (no change in between)", g, gOut)
		}
		t.Logf("r53 down for %s; healed → r53 verified: %s", outage.Round(time.Millisecond), took.Round(time.Millisecond))
	})

	// Hands off what is not ours: BIND's other records are as they were.
	if got := foreignAtBIND(t, n.bind); !slices.Equal(got, foreignBefore) {
		t.Errorf("BIND's unmanaged records changed:\ngot  %q\nwant %q", got, foreignBefore)
	}
}
