package main

import (
	"encoding/json"
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
