package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

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
	c, bind, _ := bindCluster(t, "5s", nil)
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
	waitFor("BIND to hold the full answer", 15*time.Second, func() bool { return slices.Equal(answerAt(bind.Addr()), everyone) })
	waitRegistered(t, c.nodes[0], 3)

	p := startProc(t, "drill", "run", "--scope", "provider:bind", "--duration", "4s", "--api", c.nodes[0].api)
	waitOutput(t, p, "started at index", 10*time.Second)
	waitOutput(t, p, "inject", 5*time.Second)
	c.backend[0].stop()
	took := c.waitAll(c.all(), withoutA, 5*time.Second)
	t.Logf("endpoint a failed during the provider drill: every embedded server dropped it after %s", took.Round(time.Millisecond))
	if got := answerAt(bind.Addr()); !slices.Equal(got, everyone) {
		t.Errorf("BIND during the drill: got %v, want %v (not written)", got, everyone)
	}
	waitOutput(t, p, "observed inject failing bind c.example.", 5*time.Second)
	took = waitFor("BIND to catch up after the drill", 15*time.Second, func() bool { return slices.Equal(answerAt(bind.Addr()), withoutA) })
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
