package clouddns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	fake "github.com/switchboard-dns/switchboard/providers/clouddns/clouddnstest"
	"github.com/switchboard-dns/switchboard/zone"
)

const (
	testProject = "acme-dns"
	testZone    = "example-com"
	testOrigin  = "example.com."
)

// fastRetry keeps the retry logic but shrinks the waits for tests.
var fastRetry = retryPolicy{attempts: 6, base: 2 * time.Millisecond, max: 20 * time.Millisecond, pollBase: time.Millisecond, perTry: 10 * time.Second}

// startFake starts a fake managed zone and a provider pointed at it
// through the real client.
func startFake(t testing.TB) (*fake.Server, *Provider) {
	t.Helper()
	srv, err := fake.Start(testProject, testZone, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, newTestProvider(t, srv, "")
}

func newTestProvider(t testing.TB, srv *fake.Server, credFile string) *Provider {
	t.Helper()
	cfg := &config.Provider{Type: config.ProviderCloudDNS, CloudDNS: &config.CloudDNSSettings{
		Project: testProject, ManagedZone: testZone, Endpoint: srv.URL(), CredentialsFile: credFile,
	}}
	p, err := newProvider("gcp", cfg, providers.Env{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	p.retry = fastRetry
	p.writes = rate.NewLimiter(rate.Inf, 1) // TestRateLimit checks pacing
	return p
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rr(name string, typ uint16, ttl uint32, data ...string) *zone.RRset {
	s := zone.MustRRset(name, typ, ttl, data...)
	return &s
}

// changeRequests returns the bodies of the Changes.Create requests the
// fake received.
func changeRequests(srv *fake.Server) []fake.Request {
	var out []fake.Request
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/changes") {
			out = append(out, r)
		}
	}
	return out
}

func canonJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

// TestWireRequest shows the exact request our code sends for one change
// set through the real client.
func TestWireRequest(t *testing.T) {
	www := "www.example.com."
	tests := []struct {
		name  string
		seed  []zone.RRset
		cs    providers.ChangeSet
		wantQ string
		want  string
	}{
		{
			name: "update with fence swap",
			seed: []zone.RRset{*rr(www, dns.TypeA, 30, "192.0.2.1"), providers.FenceRRset(testOrigin, 6)},
			cs: providers.ChangeSet{Zone: testOrigin, Generation: 7, ExpectFence: 6, Changes: []providers.Change{
				{Key: zone.Key{Name: www, Type: dns.TypeA}, Old: rr(www, dns.TypeA, 30, "192.0.2.1"), New: rr(www, dns.TypeA, 30, "198.51.100.7", "192.0.2.2")},
			}},
			wantQ: "alt=json&prettyPrint=false",
			want: `{
			  "additions": [
			    {"kind": "dns#resourceRecordSet", "name": "www.example.com.", "type": "A", "ttl": 30, "rrdatas": ["192.0.2.2", "198.51.100.7"]},
			    {"kind": "dns#resourceRecordSet", "name": "_switchboard.example.com.", "type": "TXT", "ttl": 60, "rrdatas": ["\"switchboard-generation=7\""]}
			  ],
			  "deletions": [
			    {"kind": "dns#resourceRecordSet", "name": "www.example.com.", "type": "A", "ttl": 30, "rrdatas": ["192.0.2.1"]},
			    {"kind": "dns#resourceRecordSet", "name": "_switchboard.example.com.", "type": "TXT", "ttl": 60, "rrdatas": ["\"switchboard-generation=6\""]}
			  ]
			}`,
		},
		{
			name: "first create, no fence yet",
			cs: providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{
				{Key: zone.Key{Name: "txt.example.com.", Type: dns.TypeTXT}, New: rr("txt.example.com.", dns.TypeTXT, 0, `"a b" "c\"d"`)},
			}},
			wantQ: "alt=json&prettyPrint=false",
			want: `{
			  "additions": [
			    {"kind": "dns#resourceRecordSet", "name": "txt.example.com.", "type": "TXT", "ttl": 0, "rrdatas": ["\"a b\" \"c\\\"d\""]},
			    {"kind": "dns#resourceRecordSet", "name": "_switchboard.example.com.", "type": "TXT", "ttl": 60, "rrdatas": ["\"switchboard-generation=1\""]}
			  ]
			}`,
		},
		{
			name: "delete",
			seed: []zone.RRset{*rr(www, dns.TypeAAAA, 300, "2001:db8::1"), providers.FenceRRset(testOrigin, 2)},
			cs: providers.ChangeSet{Zone: testOrigin, Generation: 3, ExpectFence: 2, Changes: []providers.Change{
				{Key: zone.Key{Name: www, Type: dns.TypeAAAA}, Old: rr(www, dns.TypeAAAA, 300, "2001:DB8:0::1")},
			}},
			wantQ: "alt=json&prettyPrint=false",
			want: `{
			  "additions": [
			    {"kind": "dns#resourceRecordSet", "name": "_switchboard.example.com.", "type": "TXT", "ttl": 60, "rrdatas": ["\"switchboard-generation=3\""]}
			  ],
			  "deletions": [
			    {"kind": "dns#resourceRecordSet", "name": "www.example.com.", "type": "AAAA", "ttl": 300, "rrdatas": ["2001:db8::1"]},
			    {"kind": "dns#resourceRecordSet", "name": "_switchboard.example.com.", "type": "TXT", "ttl": 60, "rrdatas": ["\"switchboard-generation=2\""]}
			  ]
			}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := startFake(t)
			srv.Put(tc.seed...)
			if err := p.Apply(ctxT(t), &tc.cs); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			reqs := changeRequests(srv)
			if len(reqs) != 1 {
				t.Fatalf("got %d change requests, want 1", len(reqs))
			}
			r := reqs[0]
			if got, want := r.Path, "/dns/v1/projects/acme-dns/managedZones/example-com/changes"; got != want {
				t.Errorf("got path %s, want %s", got, want)
			}
			if r.Query != tc.wantQ {
				t.Errorf("got query %q, want %q", r.Query, tc.wantQ)
			}
			if got, want := canonJSON(t, r.Body), canonJSON(t, []byte(tc.want)); got != want {
				t.Errorf("got body\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestApplyAndRead checks the round trip through the fake: what Apply
// writes, Read returns canonically, the fence included, and the DNS
// server of the fake answers it.
func TestApplyAndRead(t *testing.T) {
	srv, p := startFake(t)
	ctx := ctxT(t)
	txt := rr("t.example.com.", dns.TypeTXT, 120, `"v=spf1 -all"`, `"two" "strings"`, `unquoted`)
	a := rr("www.example.com.", dns.TypeA, 30, "192.0.2.1", "192.0.2.2")
	mx := rr("example.com.", dns.TypeMX, 300, "10 MX.Example.COM.")
	cs := &providers.ChangeSet{Zone: "Example.COM", Generation: 5, Changes: []providers.Change{
		{Key: txt.Key(), New: txt}, {Key: a.Key(), New: a}, {Key: mx.Key(), New: mx},
	}}
	if err := p.Apply(ctx, cs); err != nil {
		t.Fatal(err)
	}
	got, err := p.Read(ctx, testOrigin, []zone.Key{txt.Key(), a.Key(), mx.Key(), {Name: "absent.example.com.", Type: dns.TypeA}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Fence != 5 {
		t.Errorf("got fence %d, want 5", got.Fence)
	}
	if len(got.RRsets) != 3 {
		t.Errorf("got %d rrsets, want 3: %v", len(got.RRsets), got.RRsets)
	}
	for _, want := range []*zone.RRset{txt, a, mx} {
		if s, ok := got.Lookup(want.Key()); !ok || !s.Equal(*want) {
			t.Errorf("got %v, want %v", s, *want)
		}
	}
	// The data plane answers the new content.
	m := new(dns.Msg)
	m.SetQuestion("t.example.com.", dns.TypeTXT)
	in, err := dns.Exchange(m, srv.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	if s := zone.FromRRs(in.Answer); len(s) != 1 || !s[0].Equal(*txt) {
		t.Errorf("got DNS answer %v, want %v", in.Answer, txt)
	}
}

// TestCompareAndSwap: every refusal of Cloud DNS is a conflict, and
// nothing of a refused Change is applied.
func TestCompareAndSwap(t *testing.T) {
	www := "www.example.com."
	cur := rr(www, dns.TypeA, 30, "192.0.2.1")
	k := cur.Key()
	tests := []struct {
		name   string
		seed   []zone.RRset
		cs     providers.ChangeSet
		before func(srv *fake.Server)
	}{
		{
			name: "old differs in data",
			seed: []zone.RRset{*cur, providers.FenceRRset(testOrigin, 1)},
			cs:   providers.ChangeSet{Zone: testOrigin, Generation: 2, ExpectFence: 1, Changes: []providers.Change{{Key: k, Old: rr(www, dns.TypeA, 30, "192.0.2.9"), New: rr(www, dns.TypeA, 30, "192.0.2.3")}}},
		},
		{
			name: "old differs in ttl",
			seed: []zone.RRset{*cur, providers.FenceRRset(testOrigin, 1)},
			cs:   providers.ChangeSet{Zone: testOrigin, Generation: 2, ExpectFence: 1, Changes: []providers.Change{{Key: k, Old: rr(www, dns.TypeA, 60, "192.0.2.1"), New: rr(www, dns.TypeA, 30, "192.0.2.3")}}},
		},
		{
			name: "old is gone",
			seed: []zone.RRset{providers.FenceRRset(testOrigin, 1)},
			cs:   providers.ChangeSet{Zone: testOrigin, Generation: 2, ExpectFence: 1, Changes: []providers.Change{{Key: k, Old: cur}}},
		},
		{
			name: "create over existing",
			seed: []zone.RRset{*cur, providers.FenceRRset(testOrigin, 1)},
			cs:   providers.ChangeSet{Zone: testOrigin, Generation: 2, ExpectFence: 1, Changes: []providers.Change{{Key: k, New: rr(www, dns.TypeA, 30, "192.0.2.3")}}},
		},
		{
			name: "stale fence",
			seed: []zone.RRset{*cur, providers.FenceRRset(testOrigin, 9)},
			cs:   providers.ChangeSet{Zone: testOrigin, Generation: 8, ExpectFence: 7, Changes: []providers.Change{{Key: k, Old: cur, New: rr(www, dns.TypeA, 30, "192.0.2.3")}}},
		},
		{
			name: "fence exists but none expected",
			seed: []zone.RRset{*cur, providers.FenceRRset(testOrigin, 1)},
			cs:   providers.ChangeSet{Zone: testOrigin, Generation: 2, Changes: []providers.Change{{Key: k, Old: cur, New: rr(www, dns.TypeA, 30, "192.0.2.3")}}},
		},
		{
			name: "concurrent modification at the moment of the write",
			seed: []zone.RRset{*cur, providers.FenceRRset(testOrigin, 1)},
			cs:   providers.ChangeSet{Zone: testOrigin, Generation: 2, ExpectFence: 1, Changes: []providers.Change{{Key: k, Old: cur, New: rr(www, dns.TypeA, 30, "192.0.2.3")}}},
			before: func(srv *fake.Server) {
				srv.BeforeNextChange(func() { srv.Put(*rr(www, dns.TypeA, 30, "203.0.113.66")) })
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := startFake(t)
			srv.Put(tc.seed...)
			if tc.before != nil {
				tc.before(srv)
			}
			before := srv.Dump()
			if tc.before != nil {
				before = nil // the hook changes the zone; compare after it ran
			}
			err := p.Apply(ctxT(t), &tc.cs)
			if !errors.Is(err, providers.ErrConflict) {
				t.Fatalf("got %v (kind %s), want a conflict", err, providers.KindOf(err))
			}
			if !strings.HasPrefix(err.Error(), "clouddns: ") {
				t.Errorf("got error %q, want it to name the component", err)
			}
			if before != nil {
				if after := srv.Dump(); !reflect.DeepEqual(after, before) {
					t.Errorf("zone changed by a refused change:\ngot  %v\nwant %v", after, before)
				}
			}
			if got := srv.Writes(); got != 1 {
				t.Errorf("got %d writes, want 1 (a conflict is not retried)", got)
			}
		})
	}
}

// TestErrorMapping maps each HTTP failure of Cloud DNS, received through
// the real client, to its provider error kind.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		code       int
		reason     string
		retryAfter int
		want       error
	}{
		{412, "conditionNotMet", 0, providers.ErrConflict},
		{409, "alreadyExists", 0, providers.ErrConflict},
		{429, "rateLimitExceeded", 7, providers.ErrThrottled},
		{403, "rateLimitExceeded", 0, providers.ErrThrottled},
		{500, "backendError", 0, providers.ErrUnavailable},
		{502, "badGateway", 0, providers.ErrUnavailable},
		{503, "backendError", 0, providers.ErrUnavailable},
		{400, "invalid", 0, providers.ErrInvalid},
		{401, "authError", 0, providers.ErrInvalid},
		{403, "forbidden", 0, providers.ErrInvalid},
		{404, "notFound", 0, providers.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", tc.code, tc.reason), func(t *testing.T) {
			srv, p := startFake(t)
			p.retry.attempts = 1
			srv.FailNext(1, tc.code, tc.reason, tc.retryAfter)
			_, err := p.Read(ctxT(t), testOrigin, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (kind %s), want %v", err, providers.KindOf(err), tc.want)
			}
			ra, ok := providers.RetryAfter(err)
			if want := time.Duration(tc.retryAfter) * time.Second; ra != want || ok != (want > 0) {
				t.Errorf("got retry-after %v %v, want %v", ra, ok, want)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv, p := startFake(t)
		p.retry.attempts = 1
		srv.Close()
		_, err := p.Read(ctxT(t), testOrigin, nil)
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Fatalf("got %v (kind %s), want unavailable", err, providers.KindOf(err))
		}
	})
}

// TestRetry: 429 and 5xx are retried with backoff, Retry-After is
// honoured, and a deadline shorter than the wait ends the retries.
func TestRetry(t *testing.T) {
	www := "www.example.com."
	cs := func() *providers.ChangeSet {
		return &providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{{Key: zone.Key{Name: www, Type: dns.TypeA}, New: rr(www, dns.TypeA, 30, "192.0.2.1")}}}
	}
	t.Run("two 429 then success", func(t *testing.T) {
		srv, p := startFake(t)
		ctx := ctxT(t)
		if _, err := p.Read(ctx, testOrigin, nil); err != nil { // learn the zone first
			t.Fatal(err)
		}
		srv.FailNext(2, 429, "rateLimitExceeded", 0)
		if err := p.Apply(ctx, cs()); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := srv.Writes(); got != 3 {
			t.Errorf("got %d writes, want 3", got)
		}
		if !slices.ContainsFunc(srv.Dump(), func(s zone.RRset) bool { return s.Equal(*rr(www, dns.TypeA, 30, "192.0.2.1")) }) {
			t.Errorf("got zone %v, want it to hold %s", srv.Dump(), www)
		}
	})
	t.Run("5xx then success", func(t *testing.T) {
		srv, p := startFake(t)
		ctx := ctxT(t)
		if _, err := p.Read(ctx, testOrigin, nil); err != nil {
			t.Fatal(err)
		}
		srv.FailNext(2, 503, "backendError", 0)
		if err := p.Apply(ctx, cs()); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := srv.Writes(); got != 3 {
			t.Errorf("got %d writes, want 3", got)
		}
	})
	t.Run("retry-after honoured", func(t *testing.T) {
		srv, p := startFake(t)
		ctx := ctxT(t)
		if _, err := p.Read(ctx, testOrigin, nil); err != nil {
			t.Fatal(err)
		}
		srv.FailNext(1, 429, "rateLimitExceeded", 1)
		start := time.Now()
		if err := p.Apply(ctx, cs()); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := time.Since(start); got < time.Second {
			t.Errorf("got retry after %v, want at least 1s", got)
		}
	})
	t.Run("deadline shorter than retry-after", func(t *testing.T) {
		srv, p := startFake(t)
		if _, err := p.Read(ctxT(t), testOrigin, nil); err != nil {
			t.Fatal(err)
		}
		srv.FailNext(1, 429, "rateLimitExceeded", 30)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		err := p.Apply(ctx, cs())
		if !errors.Is(err, providers.ErrThrottled) {
			t.Fatalf("got %v, want throttled", err)
		}
		if ra, _ := providers.RetryAfter(err); ra != 30*time.Second {
			t.Errorf("got retry-after %v, want 30s", ra)
		}
		if got := time.Since(start); got > time.Second {
			t.Errorf("got %v before giving up, want it at once", got)
		}
		if got := srv.Writes(); got != 1 {
			t.Errorf("got %d writes, want 1", got)
		}
	})
	t.Run("hung request times out and is retried", func(t *testing.T) {
		srv, p := startFake(t)
		p.retry.perTry = 100 * time.Millisecond
		p.retry.attempts = 3
		srv.SetLatency(5 * time.Second)
		start := time.Now()
		_, err := p.Read(ctxT(t), testOrigin, nil)
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Fatalf("got %v, want unavailable", err)
		}
		if got := time.Since(start); got > 3*time.Second {
			t.Errorf("got %v, want about 3 x 100ms", got)
		}
		if got := len(srv.Requests()); got != 3 {
			t.Errorf("got %d requests, want 3", got)
		}
	})
	t.Run("attempts run out", func(t *testing.T) {
		srv, p := startFake(t)
		if _, err := p.Read(ctxT(t), testOrigin, nil); err != nil {
			t.Fatal(err)
		}
		srv.FailNext(100, 503, "backendError", 0)
		err := p.Apply(ctxT(t), cs())
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Fatalf("got %v, want unavailable", err)
		}
		if got, want := srv.Writes(), fastRetry.attempts; got != want {
			t.Errorf("got %d writes, want %d", got, want)
		}
	})
}

// TestLostAnswer: a Change that was applied but whose answer was lost
// is retried; the retry is refused (the zone no longer holds the old
// content) and the provider recognises its own result.
func TestLostAnswer(t *testing.T) {
	www := "www.example.com."
	old := rr(www, dns.TypeA, 30, "192.0.2.1")
	nw := rr(www, dns.TypeA, 30, "192.0.2.2")
	t.Run("own result recognised", func(t *testing.T) {
		srv, p := startFake(t)
		srv.Put(*old, providers.FenceRRset(testOrigin, 4))
		ctx := ctxT(t)
		if _, err := p.Read(ctx, testOrigin, nil); err != nil {
			t.Fatal(err)
		}
		srv.LoseNextChanges(1, 503)
		err := p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 5, ExpectFence: 4, Changes: []providers.Change{{Key: old.Key(), Old: old, New: nw}}})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := srv.Writes(); got != 2 {
			t.Errorf("got %d writes, want 2", got)
		}
	})
	t.Run("someone else's result is a conflict", func(t *testing.T) {
		srv, p := startFake(t)
		srv.Put(*old, providers.FenceRRset(testOrigin, 4))
		ctx := ctxT(t)
		if _, err := p.Read(ctx, testOrigin, nil); err != nil {
			t.Fatal(err)
		}
		// The first attempt fails with 503 before it is applied (the
		// provider cannot know that), and another writer changes the
		// RRset before the retry arrives.
		srv.FailNext(1, 503, "backendError", 0)
		srv.BeforeNextChange(func() { srv.Put(*rr(www, dns.TypeA, 30, "203.0.113.9")) })
		err := p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 5, ExpectFence: 4, Changes: []providers.Change{{Key: old.Key(), Old: old, New: nw}}})
		if !errors.Is(err, providers.ErrConflict) {
			t.Fatalf("got %v, want conflict", err)
		}
	})
}

// TestLimits: a change set over the advertised limit is refused before
// anything is sent; one at the limit fits the per-Change quotas.
func TestLimits(t *testing.T) {
	srv, p := startFake(t)
	max := p.Capabilities().MaxChanges
	if max != 999 {
		t.Errorf("got MaxChanges %d, want 999", max)
	}
	mk := func(n int) *providers.ChangeSet {
		cs := &providers.ChangeSet{Zone: testOrigin, Generation: 2, ExpectFence: 1}
		for i := range n {
			name := fmt.Sprintf("h%d.example.com.", i)
			cs.Changes = append(cs.Changes, providers.Change{Key: zone.Key{Name: name, Type: dns.TypeA}, Old: rr(name, dns.TypeA, 30, "192.0.2.1"), New: rr(name, dns.TypeA, 30, "192.0.2.2")})
		}
		return cs
	}
	ctx := ctxT(t)
	err := p.Apply(ctx, mk(max+1))
	if !errors.Is(err, providers.ErrInvalid) {
		t.Fatalf("got %v, want invalid", err)
	}
	if got := srv.Writes(); got != 0 {
		t.Errorf("got %d writes, want 0", got)
	}
	cs := mk(max)
	seed := []zone.RRset{providers.FenceRRset(testOrigin, 1)}
	for _, c := range cs.Changes {
		seed = append(seed, *c.Old)
	}
	srv.Put(seed...)
	if err := p.Apply(ctx, cs); err != nil {
		t.Fatalf("Apply of %d changes: %v", max, err)
	}

	// Over the rrdata size limit: refused before sending.
	big := &providers.ChangeSet{Zone: testOrigin, Generation: 3, ExpectFence: 2}
	for i := range 300 {
		name := fmt.Sprintf("t%d.example.com.", i)
		big.Changes = append(big.Changes, providers.Change{Key: zone.Key{Name: name, Type: dns.TypeTXT}, New: rr(name, dns.TypeTXT, 30, `"`+strings.Repeat("x", 200)+`" "`+strings.Repeat("y", 200)+`"`)})
	}
	w0 := srv.Writes()
	if err := p.Apply(ctx, big); !errors.Is(err, providers.ErrInvalid) {
		t.Fatalf("got %v, want invalid (rrdata size)", err)
	}
	if got := srv.Writes(); got != w0 {
		t.Errorf("got %d writes, want 0", got-w0)
	}

	// The fake enforces the quotas as Cloud DNS does: with a limit of 10
	// additions, 10 changes plus the fence are refused whole.
	srv.SetLimits(10, 10)
	small := mk(10)
	small.ExpectFence = 2
	small.Generation = 3
	for i := range small.Changes {
		small.Changes[i].Old, small.Changes[i].New = small.Changes[i].New, small.Changes[i].Old
	}
	err = p.Apply(ctx, small)
	if !errors.Is(err, providers.ErrInvalid) {
		t.Fatalf("got %v, want invalid (quota)", err)
	}
}

// TestPagingAndPending: reads follow page tokens over a zone larger than a
// page; Apply waits through "pending" until Changes.Get says "done".
func TestPagingAndPending(t *testing.T) {
	srv, p := startFake(t)
	srv.SetPageSize(50)
	var sets []zone.RRset
	var keys []zone.Key
	for i := range 1234 {
		s := *rr(fmt.Sprintf("n%04d.example.com.", i), dns.TypeA, 30, fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		sets = append(sets, s)
		keys = append(keys, s.Key())
	}
	srv.Put(sets...)
	ctx := ctxT(t)
	got, err := p.Read(ctx, testOrigin, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RRsets) != len(sets) {
		t.Fatalf("got %d rrsets, want %d", len(got.RRsets), len(sets))
	}
	lists := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/rrsets") {
			lists++
		}
	}
	if want := (len(sets)+2)/50 + 1; lists != want {
		t.Errorf("got %d list requests, want %d", lists, want)
	}

	srv.SetPendingPolls(3)
	a := rr("new.example.com.", dns.TypeA, 30, "192.0.2.1")
	if err := p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{{Key: a.Key(), New: a}}}); err != nil {
		t.Fatal(err)
	}
	polls := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/changes/") {
			polls++
		}
	}
	if polls != 4 {
		t.Errorf("got %d Changes.Get polls, want 4 (3 pending, then done)", polls)
	}
}

// TestInvalid: mistakes of the caller and of the configuration are
// ErrInvalid and send no write.
func TestInvalid(t *testing.T) {
	a := rr("www.example.com.", dns.TypeA, 30, "192.0.2.1")
	tests := []struct {
		name string
		run  func(ctx context.Context, p *Provider) error
	}{
		{"read other zone", func(ctx context.Context, p *Provider) error {
			_, err := p.Read(ctx, "example.org.", nil)
			return err
		}},
		{"read key outside zone", func(ctx context.Context, p *Provider) error {
			_, err := p.Read(ctx, testOrigin, []zone.Key{{Name: "www.example.org.", Type: dns.TypeA}})
			return err
		}},
		{"apply to other zone", func(ctx context.Context, p *Provider) error {
			return p.Apply(ctx, &providers.ChangeSet{Zone: "example.org.", Generation: 1, Changes: []providers.Change{{Key: a.Key(), New: a}}})
		}},
		{"change to the fence", func(ctx context.Context, p *Provider) error {
			f := providers.FenceRRset(testOrigin, 3)
			return p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{{Key: f.Key(), New: &f}}})
		}},
		{"same key twice", func(ctx context.Context, p *Provider) error {
			return p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{{Key: a.Key(), New: a}, {Key: a.Key(), New: a}}})
		}},
		{"neither old nor new", func(ctx context.Context, p *Provider) error {
			return p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{{Key: a.Key()}}})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := startFake(t)
			err := tc.run(ctxT(t), p)
			if !errors.Is(err, providers.ErrInvalid) {
				t.Fatalf("got %v (kind %s), want invalid", err, providers.KindOf(err))
			}
			if got := srv.Writes(); got != 0 {
				t.Errorf("got %d writes, want 0", got)
			}
		})
	}
	t.Run("empty change set sends nothing", func(t *testing.T) {
		srv, p := startFake(t)
		if err := p.Apply(ctxT(t), &providers.ChangeSet{Zone: testOrigin, Generation: 9, ExpectFence: 8}); err != nil {
			t.Fatal(err)
		}
		if got := len(srv.Requests()); got != 0 {
			t.Errorf("got %d requests, want 0", got)
		}
	})
	t.Run("malformed fence", func(t *testing.T) {
		srv, p := startFake(t)
		srv.Put(*rr(providers.FenceName(testOrigin), dns.TypeTXT, 60, `"someone else's"`))
		_, err := p.Read(ctxT(t), testOrigin, nil)
		if !errors.Is(err, providers.ErrInvalid) {
			t.Fatalf("got %v, want invalid", err)
		}
	})
}

// TestNew: construction does no I/O and refuses bad settings.
func TestNew(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(notJSON, []byte("private_key: SECRETSECRETSECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongType := filepath.Join(dir, "wrong.json")
	if err := os.WriteFile(wrongType, []byte(`{"type":"api_key","key":"SECRETSECRETSECRET"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    *config.CloudDNSSettings
		env  map[string]string
		want error
	}{
		{"no settings", nil, nil, providers.ErrInvalid},
		{"no project", &config.CloudDNSSettings{ManagedZone: "z"}, nil, providers.ErrInvalid},
		{"missing credentials file", &config.CloudDNSSettings{Project: "p", ManagedZone: "z", CredentialsFile: "/nonexistent/sa.json"}, nil, providers.ErrInvalid},
		{"credentials file not JSON", &config.CloudDNSSettings{Project: "p", ManagedZone: "z", CredentialsFile: notJSON}, nil, providers.ErrInvalid},
		{"credentials file of unsupported type", &config.CloudDNSSettings{Project: "p", ManagedZone: "z", CredentialsFile: wrongType}, nil, providers.ErrInvalid},
		{"GOOGLE_APPLICATION_CREDENTIALS missing", &config.CloudDNSSettings{Project: "p", ManagedZone: "z"}, map[string]string{EnvCredentials: "/nonexistent/adc.json"}, providers.ErrInvalid},
		{"GOOGLE_APPLICATION_CREDENTIALS not JSON", &config.CloudDNSSettings{Project: "p", ManagedZone: "z"}, map[string]string{EnvCredentials: notJSON}, providers.ErrInvalid},
		{"application default credentials, nothing read yet", &config.CloudDNSSettings{Project: "p", ManagedZone: "z"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := providers.NewRegistry()
			reg.Register(Type, New)
			_, err := reg.New("gcp", &config.Provider{Type: Type, CloudDNS: tc.s}, providers.Env{Getenv: func(k string) string { return tc.env[k] }})
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("got %q, want no file content in the error", err)
			}
		})
	}
}

// TestDeletionSpelling: an RRset another tool wrote in a non-canonical
// spelling is deleted in Cloud DNS's own spelling, learnt from the last
// read, so a textual exact-match rule cannot refuse it forever.
func TestDeletionSpelling(t *testing.T) {
	v6 := "v6.example.com."
	old := rr(v6, dns.TypeAAAA, 300, "2001:db8::1", "2001:db8::2")
	nw := rr(v6, dns.TypeAAAA, 300, "2001:db8::3")
	tests := []struct {
		name     string
		readLast bool
		want     error
	}{
		{"spelling learnt by a read", true, nil},
		{"canonical spelling only", false, providers.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := startFake(t)
			srv.SetTextualDeletes(true)
			if err := srv.PutRaw(v6, dns.TypeAAAA, 300, "2001:0DB8:0:0::2", "2001:DB8::1"); err != nil {
				t.Fatal(err)
			}
			ctx := ctxT(t)
			if tc.readLast {
				got, err := p.Read(ctx, testOrigin, []zone.Key{old.Key()})
				if err != nil {
					t.Fatal(err)
				}
				if s, _ := got.Lookup(old.Key()); !s.Equal(*old) {
					t.Fatalf("got %v, want %v", s, *old)
				}
			}
			err := p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{{Key: old.Key(), Old: old, New: nw}}})
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRateLimit: Changes.Create is paced at the provider's rate_limit; a
// write whose turn would come after the deadline is refused as throttled
// without being sent.
func TestRateLimit(t *testing.T) {
	srv, err := fake.Start(testProject, testZone, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := &config.Provider{Type: Type, CloudDNS: &config.CloudDNSSettings{Project: testProject, ManagedZone: testZone, Endpoint: srv.URL()}, Common: config.ProviderCommon{RateLimit: 20}}
	p, err := newProvider("gcp", cfg, providers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	p.retry = fastRetry
	ctx := ctxT(t)
	www := "www.example.com."
	a := rr(www, dns.TypeA, 30, "192.0.2.1")
	b := rr(www, dns.TypeA, 30, "192.0.2.2")
	const n = 30
	start := time.Now()
	for i := range n {
		old, nw := a, b
		if i%2 == 1 {
			old, nw = b, a
		}
		if i == 0 {
			old = nil
		}
		if err := p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: uint64(i + 1), ExpectFence: uint64(i), Changes: []providers.Change{{Key: a.Key(), Old: old, New: nw}}}); err != nil {
			t.Fatalf("apply %d: %v", i+1, err)
		}
	}
	// A burst of 20, then one every 50ms.
	if got, want := time.Since(start), time.Duration(n-20)*50*time.Millisecond*9/10; got < want {
		t.Errorf("got %d writes in %v, want at least %v at 20/s", n, got, want)
	}
	w0 := srv.Writes()
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	for i := 0; ; i++ { // empty the bucket until a write is refused
		err := p.Apply(short, &providers.ChangeSet{Zone: testOrigin, Generation: uint64(n + i + 1), ExpectFence: uint64(n + i), Changes: []providers.Change{{Key: a.Key(), Old: b, New: a}}})
		if err == nil {
			a, b = b, a
			continue
		}
		if !errors.Is(err, providers.ErrThrottled) {
			t.Fatalf("got %v, want throttled", err)
		}
		if got := srv.Writes() - w0; got != i {
			t.Errorf("got %d writes, want %d (the refused one is not sent)", got, i)
		}
		break
	}
}
