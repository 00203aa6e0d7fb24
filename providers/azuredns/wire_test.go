package azuredns

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// wireRequest is what one request looked like on the wire.
type wireRequest struct {
	method, path, query, ifMatch, ifNoneMatch, body string
	userAgent                                       string
}

// recorder is a transport that records every request before passing it
// on.
type recorder struct {
	next policy.Transporter
	mu   sync.Mutex
	reqs []wireRequest
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, wireRequest{
		method: req.Method, path: req.URL.EscapedPath(), query: req.URL.RawQuery,
		ifMatch: req.Header.Get("If-Match"), ifNoneMatch: req.Header.Get("If-None-Match"),
		body: string(body), userAgent: req.Header.Get("User-Agent"),
	})
	r.mu.Unlock()
	return r.next.Do(req)
}

func (r *recorder) writes() []wireRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []wireRequest
	for _, q := range r.reqs {
		if q.method != http.MethodGet {
			out = append(out, q)
		}
	}
	return out
}

func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	if got == "" && want == "" {
		return true
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("body %q is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// TestWireRequests shows the exact requests one Apply sends: the fence
// swap, then the record set write, each conditional on an ETag.
func TestWireRequests(t *testing.T) {
	const base = "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Network/dnsZones/example.com"
	www1 := mustSet(t, "www.example.com.", dns.TypeA, 300, "192.0.2.1")
	www2 := mustSet(t, "www.example.com.", dns.TypeA, 60, "192.0.2.2", "192.0.2.3")
	fenceKey := providers.FenceKey(testZone)
	fenceBody := `{"properties":{"TTL":60,"TXTRecords":[{"value":["switchboard-generation=2"]}]}}`
	tests := []struct {
		name   string
		seed   []zone.RRset
		fence  uint64
		change providers.Change
		// want lists the writes; "etag:K" in ifMatch stands for the ETag
		// key K held before the Apply.
		want []wireRequest
	}{
		{
			name:   "update",
			seed:   []zone.RRset{www1, providers.FenceRRset(testZone, 1)},
			fence:  1,
			change: providers.Change{Key: www1.Key(), Old: ptr(www1), New: ptr(www2)},
			want: []wireRequest{
				{method: "PUT", path: base + "/TXT/_switchboard", query: "api-version=2018-05-01", ifMatch: "etag:fence", body: fenceBody},
				{method: "PUT", path: base + "/A/www", query: "api-version=2018-05-01", ifMatch: "etag:www", body: `{"properties":{"TTL":60,"ARecords":[{"ipv4Address":"192.0.2.2"},{"ipv4Address":"192.0.2.3"}]}}`},
			},
		},
		{
			name:   "create",
			seed:   []zone.RRset{providers.FenceRRset(testZone, 1)},
			fence:  1,
			change: providers.Change{Key: www1.Key(), New: ptr(www1)},
			want: []wireRequest{
				{method: "PUT", path: base + "/TXT/_switchboard", query: "api-version=2018-05-01", ifMatch: "etag:fence", body: fenceBody},
				{method: "PUT", path: base + "/A/www", query: "api-version=2018-05-01", ifNoneMatch: "*", body: `{"properties":{"TTL":300,"ARecords":[{"ipv4Address":"192.0.2.1"}]}}`},
			},
		},
		{
			name:   "delete, first fence",
			seed:   []zone.RRset{www1},
			fence:  0,
			change: providers.Change{Key: www1.Key(), Old: ptr(www1)},
			want: []wireRequest{
				{method: "PUT", path: base + "/TXT/_switchboard", query: "api-version=2018-05-01", ifNoneMatch: "*", body: fenceBody},
				{method: "DELETE", path: base + "/A/www", query: "api-version=2018-05-01", ifMatch: "etag:www"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			if err := srv.Put(tc.seed...); err != nil {
				t.Fatal(err)
			}
			etags := map[string]string{"fence": srv.ETag(fenceKey), "www": srv.ETag(www1.Key())}
			rec := &recorder{}
			p := newTestProvider(t, srv, func(next policy.Transporter) policy.Transporter { rec.next = next; return rec }, nil)
			ctx := context.Background()
			if _, err := p.Read(ctx, testZone, []zone.Key{www1.Key()}); err != nil {
				t.Fatalf("read: %v", err)
			}
			if err := p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 2, ExpectFence: tc.fence, Changes: []providers.Change{tc.change}}); err != nil {
				t.Fatalf("apply: %v", err)
			}
			got := rec.writes()
			if len(got) != len(tc.want) {
				t.Fatalf("writes: got %d %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if k, ok := strings.CutPrefix(w.ifMatch, "etag:"); ok {
					w.ifMatch = etags[k]
					if w.ifMatch == "" {
						t.Fatalf("no ETag for %s before the apply", k)
					}
				}
				if g.method != w.method || g.path != w.path || g.query != w.query {
					t.Errorf("write %d: got %s %s?%s, want %s %s?%s", i, g.method, g.path, g.query, w.method, w.path, w.query)
				}
				if g.ifMatch != w.ifMatch || g.ifNoneMatch != w.ifNoneMatch {
					t.Errorf("write %d: got If-Match %q If-None-Match %q, want %q and %q", i, g.ifMatch, g.ifNoneMatch, w.ifMatch, w.ifNoneMatch)
				}
				if !jsonEqual(t, g.body, w.body) {
					t.Errorf("write %d: got body %s, want %s", i, g.body, w.body)
				}
				if !strings.Contains(g.userAgent, "switchboard") {
					t.Errorf("write %d: got User-Agent %q, want it to name switchboard", i, g.userAgent)
				}
			}
		})
	}
}
