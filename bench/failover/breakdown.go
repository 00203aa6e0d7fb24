package main

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"time"
)

// logEntry is the part of a switchboard JSON log line the breakdown reads.
type logEntry struct {
	Time      time.Time `json:"time"`
	Msg       string    `json:"msg"`
	Component string    `json:"component"`
	Endpoint  string    `json:"endpoint"`
	Kind      string    `json:"kind"`
	Subject   string    `json:"subject"`
}

// breakdown splits switchboard's failover time (fault → first answer
// without A) into its steps, from the nodes' logs, each measured from the
// fault:
//
//   - verdict: an observer's monitor decides A is down ("endpoint down",
//     after fall failed probes); first is the fastest observer, quorum the
//     one whose vote completes the majority (the only one for one node);
//   - applied: a node has applied the committed verdict and handed the new
//     zone to its DNS server (the "event" endpoint-down log line, written
//     after the swap); first and last node.
type breakdown struct {
	verdictFirst, verdictQuorum, appliedFirst, appliedLast []time.Duration
	// answer is the first answer without A, as the poller saw it.
	answer []time.Duration
}

// readLog returns the log's entries in order; unreadable lines are
// skipped (the log also holds non-JSON output from libraries).
func readLog(path string) []logEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e logEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && !e.Time.IsZero() {
			out = append(out, e)
		}
	}
	return out
}

// breakdownOf reads the nodes' logs and builds the breakdown of each
// sample's failover of endpoint ep. A step a log does not show (the
// sample timed out) leaves that sample out of the step.
func breakdownOf(logs []string, samples []sample, ep string) *breakdown {
	var nodes [][]logEntry
	for _, p := range logs {
		nodes = append(nodes, readLog(p))
	}
	quorum := len(logs)/2 + 1
	b := &breakdown{}
	for _, s := range samples {
		// Only what happened between this fault and its recovery.
		in := func(e logEntry) bool { return !e.Time.Before(s.faultAt) && e.Time.Before(s.recoverAt) }
		var verdicts, applied []time.Duration
		for _, entries := range nodes {
			if i := slices.IndexFunc(entries, func(e logEntry) bool {
				return in(e) && e.Component == "health" && e.Msg == "endpoint down" && e.Endpoint == ep
			}); i >= 0 {
				verdicts = append(verdicts, entries[i].Time.Sub(s.faultAt))
			}
			if i := slices.IndexFunc(entries, func(e logEntry) bool {
				return in(e) && e.Msg == "event" && e.Kind == "endpoint-down" && e.Subject == ep
			}); i >= 0 {
				applied = append(applied, entries[i].Time.Sub(s.faultAt))
			}
		}
		slices.Sort(verdicts)
		slices.Sort(applied)
		if len(verdicts) > 0 {
			b.verdictFirst = append(b.verdictFirst, verdicts[0])
		}
		if len(verdicts) >= quorum {
			b.verdictQuorum = append(b.verdictQuorum, verdicts[quorum-1])
		}
		if len(applied) > 0 {
			b.appliedFirst = append(b.appliedFirst, applied[0])
		}
		if len(applied) == len(logs) {
			b.appliedLast = append(b.appliedLast, applied[len(applied)-1])
		}
		if first := firstSeen(s.down); first >= 0 {
			b.answer = append(b.answer, first)
		}
	}
	return b
}

// firstSeen returns the smallest non-negative duration of ds, or -1.
func firstSeen(ds []time.Duration) time.Duration {
	best := time.Duration(-1)
	for _, d := range ds {
		if d >= 0 && (best < 0 || d < best) {
			best = d
		}
	}
	return best
}

// lastSeen returns the largest duration of ds, or -1 if any is negative.
func lastSeen(ds []time.Duration) time.Duration {
	var worst time.Duration
	for _, d := range ds {
		if d < 0 {
			return -1
		}
		worst = max(worst, d)
	}
	return worst
}
