package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-dns/switchboard/api"
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
