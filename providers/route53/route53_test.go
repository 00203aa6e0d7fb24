package route53

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	fake "github.com/switchboard-dns/switchboard/providers/route53/route53test"
	"github.com/switchboard-dns/switchboard/zone"
)

const testZone = "example.com."

func rrset(t testing.TB, name string, typ uint16, ttl uint32, data ...string) zone.RRset {
	t.Helper()
	s, err := zone.NewRRset(name, typ, ttl, data...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr(s zone.RRset) *zone.RRset { return &s }

// TestWireRequest pins the exact HTTP requests the provider sends: the
// change batch of one update (fence swap, then DELETE of the exact old set
// and CREATE of the new one), of a first write (no fence yet) and of a
// deletion, and the reads.
func TestWireRequest(t *testing.T) {
	const xmlHead = `<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>`
	fenceDel6 := `<Change><Action>DELETE</Action><ResourceRecordSet><Name>_switchboard.example.com.</Name><ResourceRecords><ResourceRecord><Value>&#34;switchboard-generation=6&#34;</Value></ResourceRecord></ResourceRecords><TTL>60</TTL><Type>TXT</Type></ResourceRecordSet></Change>`
	fenceNew7 := `<Change><Action>CREATE</Action><ResourceRecordSet><Name>_switchboard.example.com.</Name><ResourceRecords><ResourceRecord><Value>&#34;switchboard-generation=7&#34;</Value></ResourceRecord></ResourceRecords><TTL>60</TTL><Type>TXT</Type></ResourceRecordSet></Change>`
	fenceNew1 := strings.ReplaceAll(fenceNew7, "=7", "=1")
	delOld := `<Change><Action>DELETE</Action><ResourceRecordSet><Name>www.example.com.</Name><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords><TTL>300</TTL><Type>A</Type></ResourceRecordSet></Change>`
	createNew := `<Change><Action>CREATE</Action><ResourceRecordSet><Name>www.example.com.</Name><ResourceRecords><ResourceRecord><Value>192.0.2.2</Value></ResourceRecord><ResourceRecord><Value>192.0.2.3</Value></ResourceRecord></ResourceRecords><TTL>60</TTL><Type>A</Type></ResourceRecordSet></Change>`
	tail := func(gen int) string {
		return fmt.Sprintf(`</Changes><Comment>switchboard generation %d</Comment></ChangeBatch></ChangeResourceRecordSetsRequest>`, gen)
	}

	old := rrset(t, "www.example.com.", dns.TypeA, 300, "192.0.2.1")
	nw := rrset(t, "WWW.example.com", dns.TypeA, 60, "192.0.2.3", "192.0.2.2")
	tests := []struct {
		name     string
		seed     []zone.RRset
		cs       providers.ChangeSet
		wantBody string
	}{
		{
			name:     "update",
			seed:     []zone.RRset{old, providers.FenceRRset(testZone, 6)},
			cs:       providers.ChangeSet{Zone: testZone, Generation: 7, ExpectFence: 6, Changes: []providers.Change{{Key: old.Key(), Old: &old, New: &nw}}},
			wantBody: xmlHead + fenceDel6 + fenceNew7 + delOld + createNew + tail(7),
		},
		{
			name:     "first write creates the fence",
			cs:       providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: nw.Key(), New: &nw}}},
			wantBody: xmlHead + fenceNew1 + createNew + tail(1),
		},
		{
			name:     "delete",
			seed:     []zone.RRset{old, providers.FenceRRset(testZone, 6)},
			cs:       providers.ChangeSet{Zone: testZone, Generation: 7, ExpectFence: 6, Changes: []providers.Change{{Key: old.Key(), Old: &old}}},
			wantBody: xmlHead + fenceDel6 + fenceNew7 + delOld + tail(7),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fake.New(t)
			f.AddZoneID("Z0123456789", testZone, false)
			f.Put("Z0123456789", tc.seed...)
			p := newFakeProvider(t, f, "Z0123456789", nil)
			if err := p.Apply(context.Background(), &tc.cs); err != nil {
				t.Fatalf("apply: %v", err)
			}
			reqs := f.Requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: got %d, want 1", len(reqs))
			}
			r := reqs[0]
			if got, want := r.Method+" "+r.Path, "POST /2013-04-01/hostedzone/Z0123456789/rrset"; got != want {
				t.Errorf("request line: got %q, want %q", got, want)
			}
			if r.Body != tc.wantBody {
				t.Errorf("body:\n got %s\nwant %s", r.Body, tc.wantBody)
			}
		})
	}

	t.Run("reads", func(t *testing.T) {
		f := fake.New(t)
		f.AddZoneID("Z0123456789", testZone, false)
		p := newFakeProvider(t, f, "Z0123456789", nil)
		if _, err := p.Read(context.Background(), testZone, []zone.Key{old.Key()}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range f.Requests() {
			got = append(got, r.Method+" "+r.Path+"?"+r.Query)
		}
		// Targeted reads run in map order; compare as a set.
		want := map[string]bool{
			"GET /2013-04-01/hostedzone/Z0123456789/rrset?maxitems=1&name=_switchboard.example.com.&type=TXT": true,
			"GET /2013-04-01/hostedzone/Z0123456789/rrset?maxitems=1&name=www.example.com.&type=A":            true,
		}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for _, g := range got {
			if !want[g] {
				t.Errorf("got request %q, want one of %v", g, want)
			}
		}
	})
}

// TestErrorMapping checks the kind each Route 53 failure maps to, and that
// a change batch is sent once (no SDK retry).
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		code       string
		retryAfter int
		want       error
		wantAfter  time.Duration
	}{
		{"throttling", 400, "Throttling", 0, providers.ErrThrottled, 0},
		{"throttling with retry-after", 400, "Throttling", 3, providers.ErrThrottled, 3 * time.Second},
		{"prior request not complete", 400, "PriorRequestNotComplete", 0, providers.ErrThrottled, 0},
		{"429 unknown code", 429, "TooManyRequestsException", 0, providers.ErrThrottled, 0},
		{"invalid change batch as ErrorResponse", 400, "InvalidChangeBatch", 0, providers.ErrConflict, 0},
		{"no such hosted zone", 404, "NoSuchHostedZone", 0, providers.ErrInvalid, 0},
		{"access denied", 403, "AccessDenied", 0, providers.ErrInvalid, 0},
		{"invalid input", 400, "InvalidInput", 0, providers.ErrInvalid, 0},
		{"bad signature", 403, "SignatureDoesNotMatch", 0, providers.ErrInvalid, 0},
		{"internal failure", 500, "InternalFailure", 0, providers.ErrUnavailable, 0},
		{"service unavailable", 503, "ServiceUnavailable", 0, providers.ErrUnavailable, 0},
		{"unknown 4xx", 400, "SomethingNew", 0, providers.ErrInvalid, 0},
	}
	f := fake.New(t)
	id := f.AddZone(testZone)
	p := newFakeProvider(t, f, id, nil)
	www := rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.1")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.Reset(id)
			if tc.retryAfter > 0 {
				f.ThrottleNext(1, tc.retryAfter)
			} else {
				f.FailNextWrites(1, tc.status, tc.code, "injected")
			}
			w0 := f.Writes()
			err := p.Apply(context.Background(), &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: www.Key(), New: &www}}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v (kind %s), want kind %v", err, providers.KindOf(err), tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want.Error()+": route53: change batch: ") {
				t.Errorf("message: got %q, want it to start with %q", err, tc.want.Error()+": route53: change batch: ")
			}
			got, _ := providers.RetryAfter(err)
			if got != tc.wantAfter {
				t.Errorf("retry-after: got %v, want %v", got, tc.wantAfter)
			}
			if n := f.Writes() - w0; n != 1 {
				t.Errorf("write attempts: got %d, want 1 (no SDK retry of a change batch)", n)
			}
		})
	}

	t.Run("failed exact-match delete is a conflict", func(t *testing.T) {
		f.Reset(id)
		f.Put(id, rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.9"))
		err := p.Apply(context.Background(), &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: www.Key(), Old: &www}}})
		if !errors.Is(err, providers.ErrConflict) {
			t.Fatalf("got %v, want a conflict", err)
		}
		if !strings.Contains(err.Error(), "do not match") {
			t.Errorf("got %q, want Route 53's reason in the message", err)
		}
	})
	t.Run("server gone is unavailable", func(t *testing.T) {
		g, err := fake.Start()
		if err != nil {
			t.Fatal(err)
		}
		gid := g.AddZone(testZone)
		q := newFakeProvider(t, g, gid, nil)
		g.Close()
		_, err = q.Read(context.Background(), testZone, []zone.Key{www.Key()})
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("got %v, want unavailable", err)
		}
	})
	t.Run("deadline is unavailable and keeps the cause", func(t *testing.T) {
		f.Reset(id)
		f.SetLatency(2 * time.Second)
		defer f.SetLatency(0)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := p.Read(ctx, testZone, []zone.Key{www.Key()})
		if !errors.Is(err, providers.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want unavailable wrapping context.DeadlineExceeded", err)
		}
	})
}

// TestReadRetries: reads are retried by the SDK on 5xx (three attempts in
// all) but not on throttling, which goes back to the caller at once.
func TestReadRetries(t *testing.T) {
	f := fake.New(t)
	id := f.AddZone(testZone)
	p := newFakeProvider(t, f, id, nil)
	keys := []zone.Key{{Name: "www.example.com.", Type: dns.TypeA}}
	tests := []struct {
		name     string
		inject   func()
		want     error // nil: success
		requests int
	}{
		{"two 500s then success", func() { f.FailNext(2, 500, "InternalFailure", "x") }, nil, 2 + 2},
		{"three 503s", func() { f.FailNext(3, 503, "ServiceUnavailable", "x") }, providers.ErrUnavailable, 3},
		{"throttled once", func() { f.ThrottleNext(1, 0) }, providers.ErrThrottled, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n0 := len(f.Requests())
			tc.inject()
			_, err := p.Read(context.Background(), testZone, keys)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if got := len(f.Requests()) - n0; got != tc.requests {
				t.Errorf("requests: got %d, want %d", got, tc.requests)
			}
		})
	}
}

// TestConcurrentModification: another writer changes the RRset between
// our read and our write; Route 53 (the fake) refuses the batch and
// nothing of it is applied.
func TestConcurrentModification(t *testing.T) {
	f := fake.New(t)
	id := f.AddZone(testZone)
	p := newFakeProvider(t, f, id, nil)
	ctx := context.Background()
	www1 := rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.1")
	api1 := rrset(t, "api.example.com.", dns.TypeA, 60, "192.0.2.10")
	f.Put(id, www1, api1, providers.FenceRRset(testZone, 4))
	cur, err := p.Read(ctx, testZone, []zone.Key{www1.Key(), api1.Key()})
	if err != nil {
		t.Fatal(err)
	}
	if cur.Fence != 4 {
		t.Fatalf("fence: got %d, want 4", cur.Fence)
	}
	theirs := rrset(t, "www.example.com.", dns.TypeA, 60, "203.0.113.1")
	f.BeforeNextWrite(func() { f.Put(id, theirs) })
	before := append([]zone.RRset(nil), f.Dump(id)...)
	err = p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 5, ExpectFence: 4, Changes: []providers.Change{
		{Key: api1.Key(), Old: ptr(api1), New: ptr(rrset(t, "api.example.com.", dns.TypeA, 60, "192.0.2.11"))},
		{Key: www1.Key(), Old: ptr(www1), New: ptr(rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.2"))},
	}})
	if !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("got %v, want a conflict", err)
	}
	after := f.Dump(id)
	for i, s := range before {
		if s.Key() == theirs.Key() {
			before[i] = theirs
		}
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("zone after the refused batch:\n got %v\nwant %v", after, before)
	}
}

// TestBatchLimits: a change set over MaxChanges, or whose batch exceeds
// Route 53's request limits, is refused as invalid before anything is
// sent.
func TestBatchLimits(t *testing.T) {
	f := fake.New(t)
	id := f.AddZone(testZone)
	p := newFakeProvider(t, f, id, nil)
	if got := p.Capabilities(); !got.Atomic || got.MaxChanges != MaxChanges {
		t.Errorf("capabilities: got %+v, want atomic with MaxChanges %d", got, MaxChanges)
	}
	many := func(n, values int) []providers.Change {
		var out []providers.Change
		for i := range n {
			var data []string
			for j := range values {
				data = append(data, fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j))
			}
			s := rrset(t, fmt.Sprintf("h%d.example.com.", i), dns.TypeA, 60, data...)
			out = append(out, providers.Change{Key: s.Key(), New: &s})
		}
		return out
	}
	longTXT := func(n int) []providers.Change {
		var out []providers.Change
		for i := range n {
			s := rrset(t, fmt.Sprintf("t%d.example.com.", i), dns.TypeTXT, 60, fmt.Sprintf(`"%s"`, strings.Repeat("x", 250)), fmt.Sprintf(`"%d%s"`, i, strings.Repeat("y", 240)))
			out = append(out, providers.Change{Key: s.Key(), New: &s})
		}
		return out
	}
	tests := []struct {
		name    string
		changes []providers.Change
		want    error
	}{
		{"MaxChanges small sets", many(MaxChanges, 1), nil},
		{"over MaxChanges", many(MaxChanges+1, 1), providers.ErrInvalid},
		{"over 1000 records", many(MaxChanges, 10), providers.ErrInvalid},
		{"over 32000 characters", longTXT(70), providers.ErrInvalid},
		{"changes one key twice", append(many(1, 1), many(1, 2)...), providers.ErrInvalid},
		{"writes the fence", []providers.Change{{Key: providers.FenceKey(testZone), New: ptr(providers.FenceRRset(testZone, 9))}}, providers.ErrInvalid},
		{"outside the zone", []providers.Change{{Key: zone.Key{Name: "www.example.net.", Type: dns.TypeA}, New: ptr(rrset(t, "www.example.net.", dns.TypeA, 60, "192.0.2.1"))}}, providers.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.Reset(id)
			w0 := f.Writes()
			err := p.Apply(context.Background(), &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: tc.changes})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if w := f.Writes() - w0; w != 0 {
				t.Errorf("writes: got %d, want 0", w)
			}
		})
	}
}

// TestWaitInsync: with wait_insync, Apply returns once GetChange reports
// INSYNC; without it, it does not poll; a wait that times out is
// unavailable while the change stays applied.
func TestWaitInsync(t *testing.T) {
	www := rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.1")
	tests := []struct {
		name      string
		wait      bool
		pending   int
		timeout   time.Duration
		want      error
		wantPolls int
	}{
		{"no wait", false, 3, time.Minute, nil, 0},
		{"wait three pending polls", true, 3, time.Minute, nil, 4},
		{"wait times out", true, 1 << 30, 50 * time.Millisecond, providers.ErrUnavailable, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fake.New(t)
			id := f.AddZone(testZone)
			f.SetInsyncAfter(tc.pending)
			p := newFakeProvider(t, f, id, func(s *config.Route53Settings) { s.WaitInsync = tc.wait })
			p.insyncPoll = time.Millisecond
			p.insyncTimeout = tc.timeout
			err := p.Apply(context.Background(), &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: www.Key(), New: &www}}})
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			polls := 0
			for _, r := range f.Requests() {
				if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/2013-04-01/change/") {
					polls++
				}
			}
			if tc.wantPolls >= 0 && polls != tc.wantPolls {
				t.Errorf("GetChange polls: got %d, want %d", polls, tc.wantPolls)
			}
			if tc.wantPolls < 0 && polls == 0 {
				t.Errorf("GetChange polls: got 0, want some")
			}
			found := false
			for _, s := range f.Dump(id) {
				found = found || s.Equal(www)
			}
			if !found {
				t.Errorf("the change is not applied")
			}
		})
	}
}

// TestHostedZoneByName: a zone given by name is looked up once among the
// public zones of that exact name.
func TestHostedZoneByName(t *testing.T) {
	www := zone.Key{Name: "www.example.com.", Type: dns.TypeA}
	tests := []struct {
		name  string
		setup func(f *fake.Server) string // returns the id that must be used ("" for none)
		want  error
	}{
		{"one public zone", func(f *fake.Server) string {
			f.AddZoneID("ZPRIV", testZone, true)
			f.AddZone("a.example.com.")
			f.AddZone("example.net.")
			return f.AddZone(testZone)
		}, nil},
		{"only a private zone", func(f *fake.Server) string { f.AddZoneID("ZPRIV", testZone, true); return "" }, providers.ErrInvalid},
		{"no zone", func(f *fake.Server) string { f.AddZone("example.org."); return "" }, providers.ErrInvalid},
		{"two public zones", func(f *fake.Server) string { f.AddZone(testZone); f.AddZone(testZone); return "" }, providers.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fake.New(t)
			wantID := tc.setup(f)
			p := newFakeProvider(t, f, "", func(s *config.Route53Settings) { s.HostedZoneID = ""; s.HostedZone = "Example.com" })
			for range 3 {
				_, err := p.Read(context.Background(), testZone, []zone.Key{www})
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			}
			lookups := 0
			for _, r := range f.Requests() {
				if r.Path == "/2013-04-01/hostedzonesbyname" {
					lookups++
				} else if wantID != "" && !strings.Contains(r.Path, "/hostedzone/"+wantID+"/") {
					t.Errorf("request %s: want hosted zone %s", r.Path, wantID)
				}
			}
			if tc.want == nil && lookups != 1 {
				t.Errorf("zone lookups: got %d, want 1", lookups)
			}
		})
	}
}

// TestSharedRateLimit: providers of one account share one token bucket;
// N requests through two of them take at least (N-burst)/rate.
func TestSharedRateLimit(t *testing.T) {
	lims := newLimiters()
	mk := func(t *testing.T, f *fake.Server, id, profileEndpoint string, rps float64) *Provider {
		s := config.Route53Settings{HostedZoneID: id, Endpoint: f.URL(), RequestsPerS: rps}
		p, err := newProvider("p", &config.Provider{Type: config.ProviderRoute53, Route53: &s}, fakeEnv(nil), lims)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := fake.New(t)
	g := fake.New(t)
	idA, idB := f.AddZone("a.example."), f.AddZone("b.example.")
	idC := g.AddZone("c.example.")
	a := mk(t, f, idA, "", 20)
	b := mk(t, f, idB, "", 40)
	c := mk(t, g, idC, "", 20)

	t.Run("one bucket per account, lowest rate wins", func(t *testing.T) {
		if a.limiter != b.limiter {
			t.Errorf("same account: got two limiters, want one")
		}
		if a.limiter == c.limiter {
			t.Errorf("other endpoint: got the same limiter, want its own")
		}
		if got := float64(b.limiter.Limit()); got != 20 {
			t.Errorf("shared rate: got %v, want 20", got)
		}
		if got := a.limiter.Burst(); got != 1 {
			t.Errorf("burst: got %d, want 1", got)
		}
	})

	t.Run("reservations are spaced by 1/rate", func(t *testing.T) {
		l := newLimiters().get(accountKey{profile: "x"}, 5)
		now := time.Now()
		for i := range 5 {
			r := l.ReserveN(now, 1)
			if got, want := r.DelayFrom(now), time.Duration(i)*200*time.Millisecond; got < want-time.Millisecond || got > want+time.Millisecond {
				t.Errorf("reservation %d: got delay %v, want %v", i, got, want)
			}
		}
	})

	t.Run("two providers, wall clock lower bound", func(t *testing.T) {
		n0 := len(f.Requests())
		const reads = 5 // each targeted read is 2 requests
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 2*reads)
		for p, zoneName := range map[*Provider]string{a: "a.example.", b: "b.example."} {
			wg.Go(func() {
				for range reads {
					_, err := p.Read(context.Background(), zoneName, nil)
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		n := len(f.Requests()) - n0
		min := time.Duration(float64(n-1) / 20 * float64(time.Second))
		if elapsed < min {
			t.Errorf("%d requests at 20/s shared: got %v, want at least %v", n, elapsed, min)
		}
		t.Logf("%d requests through two providers of one account in %v (limit 20/s, lower bound %v)", n, elapsed.Round(time.Millisecond), min)
	})
}

// TestVerifyOverDNS: after an Apply, the fake's nameserver answers the
// new content, as the reconciler's verification step expects.
func TestVerifyOverDNS(t *testing.T) {
	f := fake.New(t)
	id := f.AddZone(testZone)
	p := newFakeProvider(t, f, id, nil)
	www := rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.1", "192.0.2.2")
	if err := p.Apply(context.Background(), &providers.ChangeSet{Zone: testZone, Generation: 3, Changes: []providers.Change{{Key: www.Key(), New: &www}}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []zone.RRset{www, providers.FenceRRset(testZone, 3)} {
		m := new(dns.Msg)
		m.SetQuestion(want.Name, want.Type)
		r, _, err := new(dns.Client).Exchange(m, f.DNSAddr())
		if err != nil {
			t.Fatal(err)
		}
		got := zone.FromRRs(r.Answer)
		if len(got) != 1 || !got[0].Equal(want) {
			t.Errorf("DNS answer for %s: got %v, want %v", want.Key(), got, want)
		}
	}
}

func TestNewSettings(t *testing.T) {
	tests := []struct {
		name string
		s    *config.Route53Settings
		want error
	}{
		{"no settings", nil, providers.ErrInvalid},
		{"neither id nor name", &config.Route53Settings{}, providers.ErrInvalid},
		{"both id and name", &config.Route53Settings{HostedZoneID: "Z1", HostedZone: "example.com."}, providers.ErrInvalid},
		{"id", &config.Route53Settings{HostedZoneID: "/hostedzone/Z1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New("n", &config.Provider{Type: config.ProviderRoute53, Route53: tc.s}, fakeEnv(nil))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.(*Provider).zoneID; got != "Z1" {
				t.Errorf("zone id: got %q, want Z1", got)
			}
		})
	}
}

// TestOlderGenerationThanFence: a change set that would move the fence
// backwards is a conflict, refused before anything is sent.
func TestOlderGenerationThanFence(t *testing.T) {
	f := fake.New(t)
	id := f.AddZone(testZone)
	p := newFakeProvider(t, f, id, nil)
	f.Put(id, providers.FenceRRset(testZone, 5))
	www := rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.1")
	err := p.Apply(context.Background(), &providers.ChangeSet{Zone: testZone, Generation: 4, ExpectFence: 5, Changes: []providers.Change{{Key: www.Key(), New: &www}}})
	if !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("got %v, want a conflict", err)
	}
	if w := f.Writes(); w != 0 {
		t.Errorf("writes: got %d, want 0", w)
	}
}
