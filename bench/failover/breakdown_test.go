package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBreakdownOf checks that the breakdown finds, per sample, the verdict
// and apply lines of the right endpoint between the fault and the recovery,
// in every node's log, and takes the quorum-th verdict and the last apply.
func TestBreakdownOf(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(ms int) string { return t0.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
	line := func(ms int, rest string) string { return fmt.Sprintf(`{"time":%q,%s}`, at(ms), rest) }
	down := func(ms int, ep string) string {
		return line(ms, fmt.Sprintf(`"level":"WARN","msg":"endpoint down","component":"health","endpoint":%q`, ep))
	}
	applied := func(ms int, ep string) string {
		return line(ms, fmt.Sprintf(`"level":"WARN","msg":"event","component":"controller","kind":"endpoint-down","subject":%q`, ep))
	}
	dir := t.TempDir()
	logs := []string{
		// n1: a stale verdict before the fault, another endpoint, then
		// the real ones; a non-JSON line from a library.
		strings.Join([]string{down(-50, "a"), down(110, "b"), "not json", down(120, "a"), applied(130, "a")}, "\n"),
		strings.Join([]string{down(105, "a"), applied(131, "a")}, "\n"),
		// n3: its verdict comes after the recovery, so it does not count.
		strings.Join([]string{applied(190, "a"), down(2500, "a")}, "\n"),
	}
	var paths []string
	for i, l := range logs {
		p := filepath.Join(dir, fmt.Sprintf("n%d.log", i+1))
		if err := os.WriteFile(p, []byte(l+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	s := sample{faultAt: t0, recoverAt: t0.Add(time.Second), down: []time.Duration{140 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond}}
	b := breakdownOf(paths, []sample{s}, "a")
	ms := func(v int) []time.Duration { return []time.Duration{time.Duration(v) * time.Millisecond} }
	for _, tt := range []struct {
		name      string
		got, want []time.Duration
	}{
		{"first verdict", b.verdictFirst, ms(105)},
		{"quorum-th verdict (2 of 3)", b.verdictQuorum, ms(120)},
		{"first apply", b.appliedFirst, ms(130)},
		{"last apply", b.appliedLast, ms(190)},
		{"first answer", b.answer, ms(140)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}
