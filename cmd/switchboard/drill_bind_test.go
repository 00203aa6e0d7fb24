package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// namedServer is a real BIND 9 primary for c.example. on loopback,
// updatable with one TSIG key.
type namedServer struct {
	addr, secret string
}

// startNamedC runs named for c.example. in the foreground and stops it by
// its pid when the test ends. A missing binary skips the test, except in
// CI (make test installs bind9), where it fails.
func startNamedC(t *testing.T) *namedServer {
	t.Helper()
	bin, err := exec.LookPath("named")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/named"); err2 == nil {
			bin = "/usr/sbin/named"
		} else if os.Getenv("CI") != "" {
			t.Fatalf("named not found and CI is set: %v", err)
		} else {
			t.Skipf("named not found (%v); make test installs bind9", err)
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	ns := &namedServer{secret: base64.StdEncoding.EncodeToString(key)}
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	conf := fmt.Sprintf(`options {
	directory %q;
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	pid-file %q;
	session-keyfile %q;
	managed-keys-directory %q;
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
key "sb." { algorithm hmac-sha256; secret %q; };
zone "c.example." { type primary; file "c.example.zone"; allow-update { key "sb."; }; allow-transfer { key "sb."; }; };
`, dir, port, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), dir, ns.secret)
	zoneFile := "$ORIGIN c.example.\n@ 3600 IN SOA ns1.c.example. hostmaster.c.example. 1 3600 600 86400 60\n@ 3600 IN NS ns1.c.example.\nns1 3600 IN A 127.0.0.1\n"
	for name, content := range map[string]string{"named.conf": conf, "c.example.zone": zoneFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := startNamedProc(t, bin, filepath.Join(dir, "named.conf"))
	ns.addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion("c.example.", dns.TypeSOA)
		r, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(m, ns.addr)
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			return ns
		}
		if p.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("named does not serve c.example.: %v\n%s", err, p.output())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// startNamedProc starts named like [startProc] starts switchboard: its
// output is kept and it is stopped by its pid when the test ends.
func startNamedProc(t *testing.T, bin, conf string) *proc {
	t.Helper()
	saved := binary
	binary = bin
	defer func() { binary = saved }()
	return startProc(t, "-g", "-4", "-n", "1", "-c", conf)
}

// answerAt returns www.c.example.'s A addresses at addr (sorted).
func answerAt(addr string) []string {
	got, _, err := query(addr, www, dns.TypeA)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	slices.Sort(got)
	return got
}

// TestDrillProviderBIND: a provider drill on a real BIND. While it runs,
// endpoint a really fails: the embedded servers on every node drop it at
// once, BIND is not written (its writes fail and the failure is in the
// report), and once the drill ends BIND catches up.
func TestDrillProviderBIND(t *testing.T) {
	ns := startNamedC(t)
	t.Setenv("SB_TEST_SECRET", ns.secret)
	edit := func(p string) string {
		p = strings.Replace(p, "providers: [embedded]", "providers: [embedded, bind]", 1)
		return strings.Replace(p, "checks:", fmt.Sprintf("providers:\n  bind: {type: rfc2136, server: %q, tsig_key: sb., tsig_secret_env: SB_TEST_SECRET, verify_nameservers: [%q], verify_timeout: 5s}\nchecks:", ns.addr, ns.addr), 1)
	}
	c := newCluster(t, clusterOpts{voters: 3, interval: "1s", policyEdit: edit})
	waitFor := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > limit {
				t.Fatalf("after %s: %s", limit, what)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
		return time.Since(start)
	}
	waitFor("BIND to hold the full answer", 15*time.Second, func() bool { return slices.Equal(answerAt(ns.addr), everyone) })
	waitRegistered(t, c.nodes[0], 3)

	p := startProc(t, "drill", "run", "--scope", "provider:bind", "--duration", "4s", "--api", c.nodes[0].api)
	waitOutput(t, p, "started at index", 10*time.Second)
	waitOutput(t, p, "inject", 5*time.Second)
	c.backend[0].stop()
	took := c.waitAll(c.all(), withoutA, 5*time.Second)
	t.Logf("endpoint a failed during the provider drill: every embedded server dropped it after %s", took.Round(time.Millisecond))
	if got := answerAt(ns.addr); !slices.Equal(got, everyone) {
		t.Errorf("BIND during the drill: got %v, want %v (not written)", got, everyone)
	}
	waitOutput(t, p, "observed inject failing bind c.example.", 5*time.Second)
	took = waitFor("BIND to catch up after the drill", 15*time.Second, func() bool { return slices.Equal(answerAt(ns.addr), withoutA) })
	t.Logf("BIND answers without a %s after the check", took.Round(time.Millisecond))
	if err := waitExit(t, p, 45*time.Second); err != nil {
		t.Fatalf("drill run: %v\n%s", err, p.output())
	}
	out := p.output()
	for _, want := range []string{"| observed | inject | failing | bind c.example. |", "| restored |", "| observed | restore | applied | bind c.example. |", "| observed | restore | verified | bind c.example. |", "| ended |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report: want %q in\n%s", want, out)
		}
	}
	t.Logf("drill output:\n%s", out[strings.Index(out, "# Drill"):])
}
