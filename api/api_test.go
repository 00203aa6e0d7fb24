package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/health"
	"github.com/switchboard-dns/switchboard/raft"
)

const policy = `
zones:
  - name: example.com.
    providers: [embedded]
    nameservers: [ns1.example.com.]
    static: ["ns1 60 IN A 192.0.2.53"]
checks:
  web: {type: tcp, port: 9, interval: 1h, timeout: 1s}
endpoints:
  - {name: a, address: 192.0.2.1, check: web}
  - {name: b, address: 192.0.2.2, check: web}
pools:
  p: {endpoints: [a, b]}
records:
  - {name: www.example.com., type: A, pools: [p]}
`

// newServer runs a single-node cluster with a committed policy behind an
// API server. The monitor is never started: no probe leaves the test.
func newServer(t *testing.T) (*httptest.Server, *raft.Node) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rn, err := raft.Open(raft.Options{
		ID: "n1", DataDir: t.TempDir(), Listen: "127.0.0.1:0", Voter: true, Logger: log,
		Timeouts: config.RaftTimeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 50 * time.Millisecond, Commit: 5 * time.Millisecond},
		FSM:      raft.NewFSM(controller.NewDeriver()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rn.Shutdown() })
	cfg, err := config.Parse("policy.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := rn.Propose(ctx, &raft.Command{Type: raft.CmdPolicy, At: time.Now(), By: "test", Policy: &raft.SetPolicy{JSON: cfg.Policy.JSON()}}); err != nil {
		t.Fatal(err)
	}
	node := controller.NewNode(controller.NodeOptions{ID: "n1", Raft: rn, Monitor: health.NewMonitor(health.Options{}), Logger: log})
	if err := node.Sync(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{Node: node, Logger: log}))
	t.Cleanup(srv.Close)
	return srv, rn
}

func TestRequests(t *testing.T) {
	srv, _ := newServer(t)
	tests := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"status", "GET", "/v1/status", "", 200, `"role": "leader"`},
		{"policy", "GET", "/v1/policy", "", 200, `"version": 1`},
		{"cluster", "GET", "/v1/cluster", "", 200, `"id": "n1"`},
		{"override: not JSON", "POST", "/v1/overrides", "{", 400, "bad request body"},
		{"override: unknown field", "POST", "/v1/overrides", `{"endpoint":"a","state":"down","color":"red"}`, 400, "unknown field"},
		{"override: unknown endpoint", "POST", "/v1/overrides", `{"endpoint":"zz","state":"down"}`, 400, `no endpoint \"zz\" in the policy`},
		{"override: ok", "POST", "/v1/overrides", `{"endpoint":"a","state":"down","reason":"maintenance"}`, 200, `"index"`},
		{"policy: invalid", "POST", "/v1/policy", `{"policy":{"zones":[{"name":"x."}]}}`, 400, "invalid policy"},
		{"policy: stale expect", "POST", "/v1/policy", `{"policy":` + policyJSON(t) + `,"expect":7}`, 409, ""},
		{"remove: no id", "POST", "/v1/cluster/remove", `{}`, 400, "remove needs id"},
		{"remove: unknown member", "POST", "/v1/cluster/remove", `{"id":"nobody"}`, 400, "no member nobody"},
		{"join: no addr", "POST", "/v1/cluster/join", `{}`, 400, "join needs addr"},
		{"join: already a member", "POST", "/v1/cluster/join", `{"addr":"127.0.0.1:1"}`, 409, "already a cluster member"},
		{"wrong method", "DELETE", "/v1/status", "", 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: got HTTP %d, want %d: %s", tc.method, tc.path, resp.StatusCode, tc.want, b)
			}
			if !strings.Contains(string(b), tc.contains) {
				t.Errorf("%s %s: body %s, want it to contain %q", tc.method, tc.path, b, tc.contains)
			}
		})
	}
}

func policyJSON(t *testing.T) string {
	cfg, err := config.Parse("policy.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(json.RawMessage(cfg.Policy.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
