package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/raft"
)

var everyone = []string{"127.0.1.1", "127.0.2.1", "127.0.3.1"}

// waitExit waits for a process to exit and returns its exit error.
func waitExit(t *testing.T, p *proc, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("process did not exit within %s; output:\n%s", limit, p.output())
	}
	return nil
}

// TestDrillRegionSimulatedSurvivesNodeDeath: `drill run --scope
// region:aws/us-east-1 --mode simulated --duration 3s` against the leader;
// every node stops answering the aws endpoint; the node the CLI talks to
// (the leader) is killed mid-drill; the new leader restores the drill at
// its deadline, every surviving node answers the full set again, the CLI
// follows through another node to the end, and `drill report` shows each
// step with measured times.
func TestDrillRegionSimulatedSurvivesNodeDeath(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "1s"})
	leader := c.leader(c.all(), 10*time.Second)
	rest := c.except(leader)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	waitRegistered(t, leader, 3)

	// Dry run first: what would change, nothing committed.
	out, err := exec.Command(binary, "drill", "run", "--scope", "region:aws/us-east-1", "--dry-run", "--api", leader.api).CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "127.0.1.1,127.0.2.1,127.0.3.1  127.0.2.1,127.0.3.1") {
		t.Errorf("dry run: got\n%s\nwant www going from all three to b and c", out)
	}
	list, err := exec.Command(binary, "drill", "list", "--api", leader.api).CombinedOutput()
	if err != nil || strings.Contains(string(list), "drill-") {
		t.Fatalf("after the dry run: drill list says %v\n%s, want no drill", err, list)
	}

	start := time.Now()
	p := startProc(t, "drill", "run", "--scope", "region:aws/us-east-1", "--mode", "simulated", "--duration", "3s", "--api", leader.api, "--json", jsonPath)
	took := c.waitAll(c.all(), withoutA, 3*time.Second)
	t.Logf("every node answers without the aws endpoint %s after the CLI started", took.Round(time.Millisecond))
	// The endpoint itself stays healthy: only the drill takes it out.
	// The CLI has measured every node, the leader included, before the
	// leader dies.
	for _, n := range c.all() {
		waitOutput(t, p, "dns inject  "+n.id+" answers the drill's content", 5*time.Second)
	}
	c.kill(leader)
	killed := time.Now()
	// The deadline passes with the starter and the old leader dead: the
	// new leader restores.
	took = c.waitAll(rest, everyone, 15*time.Second)
	t.Logf("leader %s killed %s into the drill; survivors answer all three again %s after the CLI started", leader.id, killed.Sub(start).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if time.Since(start) < 3*time.Second {
		t.Errorf("restored after %s, before the 3s deadline", time.Since(start))
	}
	if err := waitExit(t, p, 30*time.Second); err != nil {
		t.Fatalf("drill run: %v\n%s", err, p.output())
	}
	output := p.output()
	m := regexp.MustCompile(`drill (drill-\S+) started`).FindStringSubmatch(output)
	if m == nil {
		t.Fatalf("no drill id in the output:\n%s", output)
	}
	id := m[1]
	for _, want := range []string{"inject", "observed inject consensus a", "restored", "ended", "dns inject"} {
		if !strings.Contains(output, want) {
			t.Errorf("live timeline: want %q in\n%s", want, output)
		}
	}

	// The JSON report, and the same through `drill report` on a survivor.
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep api.DrillReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	type key struct{ step, phase, what, subject string }
	got := map[key]api.TimelineEntry{}
	for _, e := range rep.Timeline {
		got[key{e.Step, e.Phase, e.What, e.Subject}] = e
	}
	mustHave := []key{
		{raft.StepStart, "", "", ""},
		{raft.StepInject, "", "", ""},
		{raft.StepObserved, "inject", "consensus", "a"},
		{raft.StepObserved, "inject", "generation", "c.example."},
		{raft.StepRestored, "", "", ""},
		{raft.StepObserved, "restore", "consensus", "a"},
		{raft.StepObserved, "restore", "generation", "c.example."},
		{raft.StepEnded, "", "", ""},
	}
	for _, n := range c.all() {
		mustHave = append(mustHave, key{raft.StepObserved, "inject", "answering", "dns " + n.id})
	}
	for _, n := range rest {
		mustHave = append(mustHave, key{raft.StepObserved, "restore", "answering", "dns " + n.id})
	}
	for _, k := range mustHave {
		e, ok := got[k]
		if !ok {
			t.Errorf("report: no %v step in %s", k, b)
			continue
		}
		if e.SinceMS < 0 || e.SinceMS > 10000 {
			t.Errorf("report: %v at %.1f ms from its phase's start, want a measured time in [0, 10000]", k, e.SinceMS)
		}
	}
	restored := got[key{raft.StepRestored, "", "", ""}]
	if restored.By == leader.id {
		t.Errorf("restored by %s, the killed node; want the new leader", restored.By)
	}
	if restored.At.Before(rep.Drill.Deadline) {
		t.Errorf("restored at %s, before the deadline %s", restored.At, rep.Drill.Deadline)
	}
	if rep.RestoreLateMS == nil {
		t.Errorf("report: no restore lateness")
	} else {
		t.Logf("restore committed by %s %.1f ms after the deadline", restored.By, *rep.RestoreLateMS)
	}
	for _, k := range mustHave {
		if e, ok := got[k]; ok {
			t.Logf("%-9s %-8s %-11s %-14s %+9.1f ms  by %s", k.step, k.phase, k.what, k.subject, e.SinceMS, e.By)
		}
	}

	md, err := exec.Command(binary, "drill", "report", id, "--api", rest[0].api).CombinedOutput()
	if err != nil {
		t.Fatalf("drill report: %v\n%s", err, md)
	}
	for _, want := range []string{"# Drill " + id, "| restored |", "| observed | inject | consensus | a |", "| ended |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("drill report: want %q in\n%s", want, md)
		}
	}
	list, err = exec.Command(binary, "drill", "list", "--api", rest[1].api).CombinedOutput()
	if err != nil || !strings.Contains(string(list), id) || !strings.Contains(string(list), "ended") {
		t.Errorf("drill list: got %v\n%s, want %s ended", err, list, id)
	}
}

// waitRegistered waits until every member has registered its DNS
// address, which the CLI needs to measure its answers.
func waitRegistered(t *testing.T, n *tnode, members int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cs api.ClusterStatus
		resp, err := http.Get("http://" + n.api + "/v1/cluster")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&cs)
			resp.Body.Close()
		}
		ok := 0
		for _, m := range cs.Members {
			if m.DNS != "" {
				ok++
			}
		}
		if err == nil && ok == members {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d of %d members registered a DNS address (%v)", ok, members, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// waitOutput waits until a process has printed want.
func waitOutput(t *testing.T, p *proc, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output after %s:\n%s", want, limit, p.output())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestDrillLiveRegionPowerLoss replays the Pangyo data centre fire (issue
// 6, item 6) as a live drill: once the drill runs, the aws us-east-1
// endpoint and the controller node placed in that region die at once.
// Answers move within 5 s, the two survivors keep quorum (they commit the
// drill's later steps), and the report shows each step; when the
// operator brings the endpoint back after the deadline, the restore is
// measured too.
func TestDrillLiveRegionPowerLoss(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "1s", manual: true})
	dc := c.nodes[0] // the node in the region that burns
	cfg, err := os.ReadFile(dc.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "cloud: cloud1\n  region: region1\n", "cloud: aws\n  region: us-east-1\n", 1))
	if err := os.WriteFile(dc.cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	c.waitAll(c.all(), everyone, 30*time.Second)
	rest := c.except(dc)
	waitRegistered(t, rest[0], 3)

	p := startProc(t, "drill", "run", "--scope", "region:aws/us-east-1", "--mode", "live", "--duration", "6s", "--api", rest[0].api)
	waitOutput(t, p, "started at index", 10*time.Second)
	// A live drill injects nothing.
	c.waitAll(c.all(), everyone, time.Second)

	fire := time.Now()
	c.backend[0].stop()
	c.kill(dc)
	took := c.waitAll(rest, withoutA, 5*time.Second)
	t.Logf("power loss of aws/us-east-1 (endpoint a and node %s): survivors answer without a after %s (limit 5s)", dc.id, took.Round(time.Millisecond))
	nl := c.leader(rest, 10*time.Second)
	t.Logf("leader after the fire: %s", nl.id)

	waitOutput(t, p, "restored", 15*time.Second)
	back := time.Now()
	c.backend[0].start()
	took = c.waitAll(rest, everyone, 10*time.Second)
	t.Logf("endpoint a back %s after the fire: survivors answer it again after %s", back.Sub(fire).Round(time.Millisecond), took.Round(time.Millisecond))
	if err := waitExit(t, p, 45*time.Second); err != nil {
		t.Fatalf("drill run: %v\n%s", err, p.output())
	}
	m := regexp.MustCompile(`drill (drill-\S+) started`).FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no drill id in the output:\n%s", p.output())
	}
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	out, err := exec.Command(binary, "drill", "report", m[1], "--api", rest[1].api, "--json", jsonPath).CombinedOutput()
	if err != nil {
		t.Fatalf("drill report: %v\n%s", err, out)
	}
	t.Logf("report:\n%s", out)
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep api.DrillReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Drill.Has(raft.StepInject) {
		t.Errorf("a live drill recorded an inject step")
	}
	seen := map[string]api.TimelineEntry{}
	for _, e := range rep.Timeline {
		seen[e.Step+" "+e.Phase+" "+e.What+" "+e.Subject] = e
	}
	want := []string{
		"observed inject consensus a",
		"observed inject generation c.example.",
		"restored   ",
		"observed restore consensus a",
		"observed restore generation c.example.",
		"ended   ",
	}
	for _, n := range rest {
		want = append(want, "observed inject answering dns "+n.id, "observed restore answering dns "+n.id)
	}
	for _, k := range want {
		e, ok := seen[k]
		if !ok {
			t.Errorf("report: no %q step", k)
			continue
		}
		if e.SinceMS < 0 {
			t.Errorf("report: %q at %.1f ms, want a measured time", k, e.SinceMS)
		}
	}
	down := seen["observed inject consensus a"]
	if lim := float64(fire.Sub(rep.Drill.Steps[0].At)/time.Millisecond) + 5000; down.SinceMS > lim {
		t.Errorf("consensus down %.1f ms after the start, want within 5 s of the fire (%.0f ms)", down.SinceMS, lim)
	}
}

// TestDrillInterruptAborts: Ctrl-C on `drill run` aborts the drill at
// once (long before its deadline), the aborted step is committed, the
// nodes answer the full set again, and the command prints the report.
func TestDrillInterruptAborts(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "1s"})
	p := startProc(t, "drill", "run", "--scope", "endpoint:a", "--duration", "10m", "--api", c.nodes[1].api)
	c.waitAll(c.all(), withoutA, 5*time.Second)
	waitOutput(t, p, "observed inject consensus a", 5*time.Second)
	start := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	took := c.waitAll(c.all(), everyone, 5*time.Second)
	t.Logf("after Ctrl-C every node answers a again in %s", took.Round(time.Millisecond))
	if err := waitExit(t, p, 20*time.Second); err != nil {
		t.Fatalf("drill run: %v\n%s", err, p.output())
	}
	t.Logf("drill run exited %s after Ctrl-C", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"aborting the drill", "| aborted |", "| ended |", "aborted by the operator"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("want %q in\n%s", want, p.output())
		}
	}
}

func TestReachableDNS(t *testing.T) {
	tests := []struct {
		dns    string
		others []string
		want   string
	}{
		{"127.0.0.2:5353", []string{"10.0.0.1:7053"}, "127.0.0.2:5353"},
		{":53", []string{"10.0.0.1:7053", "10.0.0.9:8053"}, "10.0.0.1:53"},
		{"0.0.0.0:53", []string{"0.0.0.0:7053", "10.0.0.9:8053"}, "10.0.0.9:53"},
		{"[::]:53", []string{"[2001:db8::1]:7053"}, "[2001:db8::1]:53"},
		{"ns.example:53", nil, "ns.example:53"},
		{":53", nil, ":53"},
	}
	for _, tt := range tests {
		t.Run(tt.dns, func(t *testing.T) {
			if got := reachableDNS(tt.dns, tt.others...); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
