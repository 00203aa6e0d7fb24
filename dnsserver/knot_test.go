package dnsserver

import (
	"bytes"
	"context"
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
	"github.com/switchboard-dns/switchboard/zone"
)

// zoneFile prints z as a master file.
func zoneFile(t *testing.T, z *zone.Zone) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintln(&b, z.SOARecord().String())
	for _, s := range z.Records {
		fmt.Fprintln(&b, s.String())
	}
	return b.Bytes()
}

// freePort returns a port free for UDP and TCP on 127.0.0.1 a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	pc, ln, err := listenPair(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	pc.Close()
	ln.Close()
	return port
}

// startKnot serves zones with Knot DNS on loopback and returns its
// address.
func startKnot(t *testing.T, zones ...*zone.Zone) string {
	t.Helper()
	bin, err := exec.LookPath("knotd")
	if err != nil {
		t.Skipf("knotd not installed: %v", err)
	}
	dir := t.TempDir()
	port := freePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n  rundir: %q\n  listen: 127.0.0.1@%s\n", dir, port)
	fmt.Fprintf(&conf, "database:\n  storage: %q\n", dir)
	fmt.Fprintf(&conf, "log:\n  - target: stderr\n    any: warning\n")
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %q\n    semantic-checks: off\n", dir)
	fmt.Fprintf(&conf, "zone:\n")
	for _, z := range zones {
		file := strings.TrimSuffix(z.Origin, ".") + ".zone"
		if err := os.WriteFile(filepath.Join(dir, file), zoneFile(t, z), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&conf, "  - domain: %s\n    file: %q\n", z.Origin, file)
	}
	confPath := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", confPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("knotd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	waitFor(t, "knotd to load the zones", func() bool {
		select {
		case <-exited:
			t.Fatalf("knotd exited: %s", stderr.String())
		default:
		}
		for _, z := range zones {
			c := &dns.Client{Timeout: 200 * time.Millisecond}
			r, _, err := c.Exchange(query(z.Origin, dns.TypeSOA), addr)
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				return false
			}
		}
		return true
	})
	return addr
}

// TestAgainstKnot asks Knot DNS and us the same questions about the same
// zones and compares rcode, AA and the three sections (as sets). The
// cases where we differ on purpose are listed with the reason.
func TestAgainstKnot(t *testing.T) {
	zones := []*zone.Zone{exampleZone(7), subZone(3)}
	knot := startKnot(t, zones...)
	s := New(Options{Logger: testLog})
	if err := s.Load(zones); err != nil {
		t.Fatal(err)
	}
	ours := start(t, s)

	questions := []struct {
		qname  string
		qtype  uint16
		noEDNS bool
	}{
		{"example.com.", dns.TypeSOA, false}, {"example.com.", dns.TypeNS, false}, {"example.com.", dns.TypeMX, false},
		{"example.com.", dns.TypeTXT, false}, {"example.com.", dns.TypeAAAA, false},
		{"www.example.com.", dns.TypeA, false}, {"www.example.com.", dns.TypeAAAA, false}, {"WwW.eXample.com.", dns.TypeA, false},
		{"nope.example.com.", dns.TypeA, false}, {"b.c.example.com.", dns.TypeA, false}, {"c.example.com.", dns.TypeTXT, false},
		{"x.a.b.c.example.com.", dns.TypeA, false},
		{"alias.example.com.", dns.TypeA, false}, {"alias.example.com.", dns.TypeCNAME, false}, {"alias.example.com.", dns.TypeAAAA, false},
		{"chain1.example.com.", dns.TypeA, false}, {"dangling.example.com.", dns.TypeA, false}, {"empty.example.com.", dns.TypeAAAA, false},
		{"out.example.com.", dns.TypeA, false}, {"c1.example.com.", dns.TypeA, false},
		{"foo.wild.example.com.", dns.TypeA, false}, {"foo.wild.example.com.", dns.TypeTXT, false}, {"foo.wild.example.com.", dns.TypeAAAA, false},
		{"a.b.wild.example.com.", dns.TypeA, false}, {"*.wild.example.com.", dns.TypeA, false}, {"sub.wild.example.com.", dns.TypeA, false},
		{"sub.wild.example.com.", dns.TypeTXT, false}, {"x.sub.wild.example.com.", dns.TypeA, false},
		{"deep.wild.example.com.", dns.TypeA, false}, {"x.deep.wild.example.com.", dns.TypeA, false}, {"x.cwild.example.com.", dns.TypeA, false},
		{"FoO.WiLd.example.com.", dns.TypeA, false},
		{"www.deleg.example.com.", dns.TypeA, false}, {"deleg.example.com.", dns.TypeNS, false}, {"deleg.example.com.", dns.TypeA, false},
		{"ns.deleg.example.com.", dns.TypeA, false}, {"deleg.example.com.", dns.TypeDS, false}, {"x.deleg.example.com.", dns.TypeDS, false},
		{"nods.example.com.", dns.TypeDS, false}, {"x.nods.example.com.", dns.TypeA, false},
		{"www.sub.example.com.", dns.TypeA, false}, {"sub.example.com.", dns.TypeNS, false}, {"sub.example.com.", dns.TypeDS, false},
		{"sub.example.com.", dns.TypeSOA, false}, {"nope.sub.example.com.", dns.TypeA, false},
		{"mxbig.example.com.", dns.TypeMX, false}, {"www.bigdeleg.example.com.", dns.TypeA, false},
		{"www.example.org.", dns.TypeA, false}, {"todeleg.example.com.", dns.TypeA, false}, {"loop1.example.com.", dns.TypeA, false},
		{"ALIAS.example.COM.", dns.TypeA, false}, {"c0.example.com.", dns.TypeA, false}, {"example.com.", dns.TypeANY, false},
		{"www.example.com.", dns.TypeANY, false}, {"weighted.example.com.", dns.TypeTXT, false},
		{"mid.example.com.", dns.TypeTXT, true}, {"mid.example.com.", dns.TypeTXT, false}, {"big.example.com.", dns.TypeTXT, false},
		{"mxbig.example.com.", dns.TypeMX, true}, {"www.bigdeleg.example.com.", dns.TypeA, true},
		{"example.com.", dns.TypeNS, true}, {"NoPe.example.com.", dns.TypeA, false}, {"x.cwild.example.com.", dns.TypeAAAA, false},
	}
	// Where we differ from Knot on purpose, by question and transport.
	differs := map[string]string{
		"c0.example.com. A/tcp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"c0.example.com. A/udp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"c1.example.com. A/tcp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"c1.example.com. A/udp": "Knot follows 5 CNAMEs, we follow MaxCNAMEChain (8)",
		"example.com. ANY/tcp":  "over TCP we answer ANY in full (RFC 8482 section 4.4 leaves it open), Knot minimally",
		"www.example.com. ANY/tcp": "over TCP we answer ANY in full, Knot minimally (same RRset here, " +
			"but the case stays listed with its twin)",
		// Both set TC; Knot keeps what fits, we send empty sections.
		"www.bigdeleg.example.com. A/udp/noedns": "TC replies carry only the question",
		// Knot compresses the CNAME target against the question and so
		// prints it in the question's case ("www.example.COM."); names
		// compare equal either way.
		"ALIAS.example.COM. A/tcp": "compression changes the case of the target",
		"ALIAS.example.COM. A/udp": "compression changes the case of the target",
	}
	sorted := func(rrs []dns.RR) []string {
		out := flat(rrs)
		slices.Sort(out)
		return out
	}
	for _, q := range questions {
		for _, network := range []string{"udp", "tcp"} {
			key := q.qname + " " + dns.TypeToString[q.qtype] + "/" + network
			if q.noEDNS {
				key += "/noedns"
			}
			t.Run(key, func(t *testing.T) {
				if why, ok := differs[key]; ok {
					t.Skipf("differs on purpose: %s", why)
				}
				m := query(q.qname, q.qtype)
				if !q.noEDNS {
					m.SetEdns0(1232, false)
				}
				want := exchange(t, knot, network, m)
				got := exchange(t, ours, network, m)
				if got.Rcode != want.Rcode || got.Authoritative != want.Authoritative || got.Truncated != want.Truncated {
					t.Errorf("got rcode %s AA %v TC %v, Knot %s %v %v", dns.RcodeToString[got.Rcode], got.Authoritative, got.Truncated,
						dns.RcodeToString[want.Rcode], want.Authoritative, want.Truncated)
				}
				for _, sec := range []struct {
					name      string
					got, want []dns.RR
				}{{"answer", got.Answer, want.Answer}, {"authority", got.Ns, want.Ns}, {"additional", got.Extra, want.Extra}} {
					if g, w := sorted(sec.got), sorted(sec.want); !slices.Equal(g, w) {
						t.Errorf("%s: got\n%q\nKnot\n%q", sec.name, g, w)
					}
				}
			})
		}
	}
}
