package main

import (
	"errors"
	"fmt"
	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/raft"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var allUp = []string{"127.0.1.1", "127.0.2.1", "127.0.3.1"}
var withoutA = []string{"127.0.2.1", "127.0.3.1"}

// sameSerial waits until every node in ns serves the same SOA serial and
// returns it.
func (c *tcluster) sameSerial(ns []*tnode, limit time.Duration) uint32 {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var seen []uint32
		for _, n := range ns {
			s, err := serialOf(n.dns)
			if err == nil {
				seen = append(seen, s)
			}
		}
		if len(seen) == len(ns) && slices.Min(seen) == slices.Max(seen) {
			return seen[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("serials of %v after %s: %v, want all equal", ids(ns), limit, seen)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// TestClusterFormsAndAgrees: three voters bootstrap statically, register,
// and serve the same answer and serial; a change reaches every node.
func TestClusterFormsAndAgrees(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3})
	s0 := c.sameSerial(c.all(), 10*time.Second)
	c.backend[0].stop()
	took := c.waitAll(c.all(), withoutA, 5*time.Second)
	s1 := c.sameSerial(c.all(), 5*time.Second)
	t.Logf("3 voters: endpoint a stopped, every node answers without it after %s; serial %d → %d", took, s0, s1)
	if s1 <= s0 {
		t.Errorf("serial after the change: got %d, want more than %d", s1, s0)
	}
	// `switchboard status` shows every member with its serial.
	out, err := exec.Command(binary, "status", "--api", c.nodes[1].api).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, n := range c.nodes {
		if !strings.Contains(string(out), n.id) || !strings.Contains(string(out), fmt.Sprintf("c.example. %d/%d", s1, s1)) {
			t.Errorf("status does not show %s with generation/serial %d:\n%s", n.id, s1, out)
		}
	}
	if !strings.Contains(string(out), "DOWN") || !strings.Contains(string(out), "n1=down") {
		t.Errorf("status does not show endpoint a down with its votes:\n%s", out)
	}
	// A write on a follower is forwarded to the leader: an override of b
	// to down, through the follower's API, changes every node's answer.
	leader := c.leader(c.all(), 5*time.Second)
	follower := c.except(leader)[0]
	body := `{"endpoint":"b","state":"down","reason":"maintenance"}`
	resp, err := http.Post("http://"+follower.api+"/v1/overrides", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("override through follower %s: HTTP %d, want 200", follower.id, resp.StatusCode)
	}
	c.waitAll(c.all(), []string{"127.0.3.1"}, 5*time.Second)
	// Plain TCP between nodes was asked for explicitly, and said loudly.
	if !strings.Contains(c.nodes[0].proc.output(), "neither encrypted nor authenticated") {
		t.Errorf("no warning about insecure cluster traffic in the log")
	}
}

// TestClusterLeaderKilledMidFailover is scenario (a): the leader dies at
// the moment an endpoint fails; a new leader completes the decision within
// 2 × election timeout + one check interval.
func TestClusterLeaderKilledMidFailover(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "1s"})
	const election, interval = time.Second, time.Second // lan profile
	leader := c.leader(c.all(), 10*time.Second)
	rest := c.except(leader)
	start := time.Now()
	c.backend[0].stop()
	c.kill(leader)
	took := c.waitAll(rest, withoutA, 2*election+interval)
	t.Logf("leader %s killed as endpoint a failed: both survivors answer without a after %s (limit %s)", leader.id, time.Since(start).Round(time.Millisecond), 2*election+interval)
	_ = took
	c.sameSerial(rest, 5*time.Second)
	nl := c.leader(rest, 5*time.Second)
	if nl == leader {
		t.Fatalf("the killed node is still the leader")
	}
}

// TestClusterObserverCutFromEndpoints is scenario (b): one observer loses
// its path to every endpoint and reports them all down; no endpoint goes
// down, since the other two disagree.
func TestClusterObserverCutFromEndpoints(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "500ms"})
	s0 := c.sameSerial(c.all(), 10*time.Second)
	cut := c.nodes[2]
	for _, b := range c.backend {
		b.refuse(cut.ip)
	}
	// Wait until the cut observer's down votes are committed (so the test
	// would see a wrong decision if the quorum did not hold).
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.status(c.nodes[0])
		down := 0
		if err == nil {
			for _, e := range st.Endpoints {
				for _, v := range e.Votes {
					if v.Observer == cut.id && !v.Up {
						down++
					}
				}
			}
		}
		if down == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cut observer's down votes were not committed after 10s (%d of 3)", down)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	// For three more check intervals every node keeps the full answer.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, n := range c.nodes {
			got, _, err := query(n.dns, www, dns.TypeA)
			if err != nil || !slices.Equal(got, allUp) {
				t.Fatalf("%s answered %v (%v) while one observer alone said down; want %v", n.id, got, err, allUp)
			}
		}
	}
	if s := c.sameSerial(c.all(), time.Second); s != s0 {
		t.Errorf("serial moved from %d to %d though no endpoint went down", s0, s)
	}
}

// TestClusterMinorityPartition is scenario (c): a node cut off from the
// others keeps serving its last answers unchanged while the majority moves
// on; after the heal it converges to the cluster's serial.
func TestClusterMinorityPartition(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "500ms"})
	s0 := c.sameSerial(c.all(), 10*time.Second)
	cut := c.nodes[2]
	c.net.partition(cut.ip)
	c.backend[0].stop()
	majority := c.except(cut)
	c.waitAll(majority, withoutA, 10*time.Second)
	s1 := c.sameSerial(majority, 5*time.Second)
	// The cut node's own observer sees a down too, but it never guesses:
	// it keeps the committed answer and serial.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		got, _, err := query(cut.dns, www, dns.TypeA)
		if err != nil || !slices.Equal(got, allUp) {
			t.Fatalf("partitioned %s answered %v (%v), want its last committed answer %v", cut.id, got, err, allUp)
		}
		if s, err := serialOf(cut.dns); err != nil || s != s0 {
			t.Fatalf("partitioned %s serves serial %d (%v), want %d", cut.id, s, err, s0)
		}
	}
	c.net.heal()
	took := c.waitAll([]*tnode{cut}, withoutA, 10*time.Second)
	if s := c.sameSerial(c.all(), 5*time.Second); s < s1 {
		t.Errorf("after the heal: serial %d, want at least %d", s, s1)
	}
	t.Logf("after the heal %s converged in %s", cut.id, took)
}

// TestClusterObserversAddVantage is scenario (d): 3 voters and 2 observer
// nodes (Raft non-voters); with one voter and both observers gone,
// decisions still flow once the leader has declared the lost observers
// dead.
func TestClusterObserversAddVantage(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, observers: 2, interval: "500ms", observerTimeout: "2s"})
	// The observers are non-voters.
	st, err := c.status(c.nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	voters := 0
	for _, m := range st.Members {
		if m.Voter {
			voters++
		}
	}
	if len(st.Members) != 5 || voters != 3 {
		t.Fatalf("members: got %d with %d voters, want 5 with 3 voters: %+v", len(st.Members), voters, st.Members)
	}
	leader := c.leader(c.all(), 10*time.Second)
	gone := []*tnode{leader, c.nodes[3], c.nodes[4]}
	for _, n := range gone {
		c.kill(n)
	}
	rest := c.except(gone...)
	start := time.Now()
	c.backend[0].stop()
	// 5 observers, 3 dead: a needs 3 down votes until the new leader
	// declares the dead ones dead (observer_timeout), then 2 of 2.
	const limit = 2*time.Second + 2*time.Second + 500*time.Millisecond + 3*time.Second
	c.waitAll(rest, withoutA, limit)
	t.Logf("with %v gone, the remaining voters answer without a after %s", ids(gone), time.Since(start).Round(time.Millisecond))
	// Every lost node is declared dead by the leader, within the
	// observer timeout of its loss.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err = c.status(rest[0])
		dead := 0
		if err == nil {
			for _, o := range st.Observers {
				if !o.Alive && slices.ContainsFunc(gone, func(n *tnode) bool { return n.id == o.ID }) {
					dead++
				}
			}
		}
		if dead == len(gone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observers declared dead: got %d, want %d: %+v", dead, len(gone), st.Observers)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// TestClusterRollingRestart is scenario (e): every node restarts in turn
// while an endpoint flaps; no node ever answers empty.
func TestClusterRollingRestart(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "500ms"})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var flaps atomic.Int64
	wg.Add(1)
	go func() { // endpoint a flaps
		defer wg.Done()
		up := true
		for {
			select {
			case <-stop:
				c.backend[0].start()
				return
			case <-time.After(700 * time.Millisecond):
			}
			if up {
				c.backend[0].stop()
			} else {
				c.backend[0].start()
			}
			up = !up
			flaps.Add(1)
		}
	}()
	var bad atomic.Value
	var queries atomic.Int64
	wg.Add(1)
	go func() { // every node is asked every 20 ms
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, n := range c.nodes {
				m := new(dns.Msg)
				m.SetQuestion(www, dns.TypeA)
				r, _, err := (&dns.Client{Timeout: 300 * time.Millisecond}).Exchange(m, n.dns)
				if err != nil {
					continue // the node is down for its restart
				}
				queries.Add(1)
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					bad.CompareAndSwap(nil, fmt.Sprintf("%s answered rcode %s with %d records", n.id, dns.RcodeToString[r.Rcode], len(r.Answer)))
				}
			}
		}
	}()
	for _, n := range c.nodes {
		// Let the endpoint flap twice with every node up, then restart.
		before := flaps.Load()
		for deadline := time.Now().Add(10 * time.Second); flaps.Load() < before+2; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the endpoint stopped flapping")
			}
		}
		n.proc.stop(10 * time.Second)
		c.start(n)
		// Back and caught up: it serves and knows a leader.
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, err := c.status(n)
			if err == nil && st.Leader != "" && st.StateIndex > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not rejoin within 20s: %v %+v", n.id, err, st)
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	}
	close(stop)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("empty answer during the rolling restart: %s", b)
	}
	t.Logf("rolling restart of 3 nodes: %d answers checked, endpoint flapped %d times, none empty", queries.Load(), flaps.Load())
	c.waitAll(c.all(), allUp, 10*time.Second)
	c.sameSerial(c.all(), 5*time.Second)
}

// TestClusterWipedNodeRejoins: a node restarts with its data and rejoins
// at once; a node whose data dir was wiped is refused until an operator
// removes it, then joins as a new member and converges.
func TestClusterWipedNodeRejoins(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, interval: "500ms"})
	n3 := c.nodes[2]
	n3.proc.stop(10 * time.Second)
	if err := os.RemoveAll(filepath.Join(n3.dir, "data")); err != nil {
		t.Fatal(err)
	}
	c.backend[0].stop()
	c.waitAll(c.nodes[:2], withoutA, 10*time.Second)
	c.start(n3)
	// It is refused: it has run before under this id.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(n3.proc.output(), "remove it first") {
		if time.Now().After(deadline) {
			t.Fatalf("the wiped node was not told to be removed first; its log:\n%s", n3.proc.output())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if st, err := c.status(n3); err != nil || st.Role != "joining" {
		t.Fatalf("wiped node: role %v (%v), want joining", st, err)
	}
	out, err := exec.Command(binary, "cluster", "remove", "n3", "--api", c.nodes[0].api).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster remove: %v\n%s", err, out)
	}
	took := c.waitAll([]*tnode{n3}, withoutA, 20*time.Second)
	c.sameSerial(c.all(), 5*time.Second)
	t.Logf("after `cluster remove n3` the wiped node rejoined and converged in %s", took)
	// Removing an unknown member is a clear client error.
	out, err = exec.Command(binary, "cluster", "remove", "nobody", "--api", c.nodes[0].api).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), "no member nobody") {
		t.Errorf("cluster remove nobody: got %v %s, want exit 1 and 'no member nobody'", err, out)
	}
}

// TestClusterMembership: a static bootstrap starts only when every listed
// voter answers; an observer node that knows no peers joins with
// `switchboard cluster join` as a non-voter and leaves with `cluster
// leave`.
func TestClusterMembership(t *testing.T) {
	c := newCluster(t, clusterOpts{voters: 3, observers: 1, lone: true, manual: true, interval: "500ms"})
	n1, n2, n3, n4 := c.nodes[0], c.nodes[1], c.nodes[2], c.nodes[3]
	c.start(n1)
	c.start(n2)
	// Two of three voters: no cluster yet, for as long as n3 is missing.
	seen := map[string]int{}
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, n := range []*tnode{n1, n2} {
			st, err := c.status(n)
			if err != nil {
				continue // not listening yet
			}
			seen[n.id]++
			if st.Role != "joining" {
				t.Fatalf("%s is %s with voter n3 not started; want joining until every voter answers", n.id, st.Role)
			}
		}
	}
	if seen["n1"] < 5 || seen["n2"] < 5 {
		t.Fatalf("status readings while n3 was missing: %v, want at least 5 each", seen)
	}
	c.start(n3)
	c.waitAll([]*tnode{n1, n2, n3}, allUp, 20*time.Second)

	c.start(n4)
	if st, err := c.waitStatus(n4, 10*time.Second); err != nil || st.Role != "joining" {
		t.Fatalf("lone observer before `cluster join`: %+v, %v; want joining", st, err)
	}
	out, err := exec.Command(binary, "cluster", "join", n1.raft, "--api", n4.api).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster join: %v\n%s", err, out)
	}
	c.waitAll([]*tnode{n4}, allUp, 10*time.Second)
	c.sameSerial(c.all(), 5*time.Second)
	out, err = exec.Command(binary, "cluster", "status", "--api", n2.api).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "n4") || !strings.Contains(string(out), "observer") {
		t.Errorf("cluster status does not show n4 as an observer:\n%s", out)
	}
	st, err := c.status(n1)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.ID == "n4" && m.Voter {
			t.Errorf("n4 joined as a voter, want a non-voter: %+v", st.Members)
		}
	}
	out, err = exec.Command(binary, "cluster", "leave", "--api", n4.api).CombinedOutput()
	if err != nil {
		t.Fatalf("cluster leave: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := c.status(n1)
		if err == nil && !slices.ContainsFunc(st.Members, func(m raftMember) bool { return m.ID == "n4" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n4 is still a member 5s after `cluster leave`")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

type raftMember = raft.Member

// waitStatus waits until a node's API answers and returns its status.
func (c *tcluster) waitStatus(n *tnode, limit time.Duration) (*api.NodeStatus, error) {
	deadline := time.Now().Add(limit)
	for {
		st, err := c.status(n)
		if err == nil || time.Now().After(deadline) {
			return st, err
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
