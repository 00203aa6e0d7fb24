package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/raft"
)

// TestDrillRequests: dry-run shows the records a drill changes and what
// the guard rails say, without committing; a start commits, an
// overlapping start is refused, abort and report work through the API.
func TestDrillRequests(t *testing.T) {
	srv, _ := newServer(t)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("POST", "/v1/drills", `{"scope":"pool:p","dry_run":true}`); code != 200 || !strings.Contains(body, "no healthy pool") {
		t.Errorf("dry-run of the whole pool: got HTTP %d %s, want 200 and the guard rail's refusal", code, body)
	}
	if code, body := do("GET", "/v1/drills", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("after dry-runs: got HTTP %d %s, want no drill committed", code, body)
	}
	code, body := do("POST", "/v1/drills", `{"scope":"endpoint:a","mode":"live","duration":"1h"}`)
	if code != 200 {
		t.Fatalf("start: got HTTP %d, want 200: %s", code, body)
	}
	var started api.DrillResponse
	if err := json.Unmarshal([]byte(body), &started); err != nil || started.ID == "" {
		t.Fatalf("start: got %s (%v), want a drill id", body, err)
	}
	id := started.ID
	tests := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"dry-run: one endpoint", "POST", "/v1/drills", `{"scope":"endpoint:b","dry_run":true}`, 200, `"after": [
        "192.0.2.1"
      ]`},
		{"dry-run: overlap is reported", "POST", "/v1/drills", `{"scope":"endpoint:a","dry_run":true}`, 200, "overlapping scopes"},
		{"bad scope", "POST", "/v1/drills", `{"scope":"rack:1"}`, 400, "kind must be"},
		{"unknown endpoint", "POST", "/v1/drills", `{"scope":"endpoint:zz"}`, 400, "matches no endpoint"},
		{"bad mode", "POST", "/v1/drills", `{"scope":"endpoint:b","mode":"chaos"}`, 400, "must be simulated or live"},
		{"bad duration", "POST", "/v1/drills", `{"scope":"endpoint:b","duration":"-1s"}`, 400, "positive duration"},
		{"overlapping start refused", "POST", "/v1/drills", `{"scope":"pool:p","force":true}`, 409, "already covers a"},
		{"list", "GET", "/v1/drills", "", 200, id},
		{"status shows the running drill", "GET", "/v1/status", "", 200, `"state": "running"`},
		{"observed from outside", "POST", "/v1/drills/" + id + "/observed", `{"phase":"inject","what":"answering","subject":"n1","when":"2026-01-01T00:00:00Z"}`, 200, `"index"`},
		{"abort", "POST", "/v1/drills/" + id + "/abort", "", 200, `"index"`},
		{"abort twice", "POST", "/v1/drills/" + id + "/abort", "", 409, "over already"},
		{"report", "GET", "/v1/drills/" + id, "", 200, `"step": "aborted"`},
		{"no such drill", "GET", "/v1/drills/nope", "", 404, "no drill nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := do(tc.method, tc.path, tc.body)
			if code != tc.want {
				t.Errorf("%s %s: got HTTP %d, want %d: %s", tc.method, tc.path, code, tc.want, b)
			}
			if !strings.Contains(b, tc.contains) {
				t.Errorf("%s %s: body %s, want it to contain %q", tc.method, tc.path, b, tc.contains)
			}
		})
	}
}

// TestBuildDrillReport: each step is timed from its phase's origin with
// the time of the fact that shows it.
func TestBuildDrillReport(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	d := &raft.Drill{ID: "d", Scope: "endpoint:a", Mode: raft.DrillSimulated, Endpoints: []string{"a"}, Deadline: ms(3000), Steps: []raft.DrillRecord{
		{Step: raft.StepStart, At: ms(0), By: "op"},
		{Step: raft.StepInject, At: ms(12), By: "n1"},
		{Step: raft.StepObserved, At: ms(20), Phase: "inject", What: "consensus", Subject: "a", When: ms(12)},
		{Step: raft.StepObserved, At: ms(30), Phase: "inject", What: "applied", Subject: "p1 example.com.", When: ms(27)},
		{Step: raft.StepObserved, At: ms(80), Phase: "inject", What: "answering", Subject: "dns n1", When: ms(40)},
		{Step: raft.StepObserved, At: ms(81), Phase: "inject", What: "answering", Subject: "dns n2", When: ms(52)},
		{Step: raft.StepRestored, At: ms(3010), By: "n2"},
		{Step: raft.StepObserved, At: ms(3020), Phase: "restore", What: "answering", Subject: "dns n2", When: ms(3035)},
		{Step: raft.StepEnded, At: ms(3040), By: "n2"},
	}}
	rep := api.BuildDrillReport(d)
	want := []float64{0, 12, 0, 15, 28, 40, 0, 25, 30}
	if len(rep.Timeline) != len(want) {
		t.Fatalf("got %d entries, want %d", len(rep.Timeline), len(want))
	}
	for i, e := range rep.Timeline {
		if e.SinceMS != want[i] {
			t.Errorf("entry %d (%s %s %s): got %.1f ms, want %.1f", i, e.Step, e.What, e.Subject, e.SinceMS, want[i])
		}
	}
	if rep.RestoreLateMS == nil || *rep.RestoreLateMS != 10 {
		t.Errorf("got restore late %v, want 10 ms", rep.RestoreLateMS)
	}
	if len(rep.Answering) != 2 || rep.Answering[0].SlowestMS != 40 || rep.Answering[0].Nodes != 2 || rep.Answering[1].SlowestMS != 25 {
		t.Errorf("got answering %+v, want inject 2 nodes 40 ms, restore 1 node 25 ms", rep.Answering)
	}
	if md := rep.Markdown(); !strings.Contains(md, "| observed | inject | applied | p1 example.com. | 00:00:00.027 | 15.0 |") {
		t.Errorf("markdown: got\n%s\nwant the applied line with its time and offset", md)
	}
}
