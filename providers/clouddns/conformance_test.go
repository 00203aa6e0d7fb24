package clouddns

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	fake "github.com/switchboard-dns/switchboard/providers/clouddns/clouddnstest"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/zone"
)

// fakeBackend runs the conformance suite through the real client against
// the fake, optionally with faults armed after every Reset.
type fakeBackend struct {
	srv    *fake.Server
	p      *Provider
	faults func(*fake.Server)
}

func (b *fakeBackend) Zone() string                                  { return testOrigin }
func (b *fakeBackend) Provider(testing.TB) providers.Provider        { return b.p }
func (b *fakeBackend) Writes() int                                   { return b.srv.Writes() }
func (b *fakeBackend) Dump(context.Context, testing.TB) []zone.RRset { return b.srv.Dump() }
func (b *fakeBackend) Put(_ context.Context, _ testing.TB, sets ...zone.RRset) {
	b.srv.Put(sets...)
}
func (b *fakeBackend) Reset(context.Context, testing.TB) {
	b.srv.Reset()
	if b.faults != nil {
		b.faults(b.srv)
	}
}

// TestConformance runs providertest against the fake through the real
// google.golang.org/api/dns/v1 client, with the default page size of the
// fake (100) so that the large test reads 20 pages and writes through
// the 999-change split.
func TestConformance(t *testing.T) {
	srv, p := startFake(t)
	providertest.Run(t, &fakeBackend{srv: srv, p: p}, providertest.Options{})
}

// TestConformanceUnderFaults runs the suite again with every 7th request
// throttled, Changes.Get pending twice, latency on every request and
// deletions compared textually: the retries make the faults invisible to
// the caller.
func TestConformanceUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	srv, p := startFake(t)
	providertest.Run(t, &fakeBackend{srv: srv, p: p, faults: func(s *fake.Server) {
		s.FailEvery(7, 429, "rateLimitExceeded")
		s.SetPendingPolls(2)
		s.SetLatency(200 * time.Microsecond)
		s.SetTextualDeletes(true)
	}}, providertest.Options{Large: 1200})
}

// Live mode. The suite runs against a real managed zone when these are
// set; Reset deletes every RRset of the zone but its apex SOA and NS, so
// the zone must be disposable.
const (
	envLive        = "SWITCHBOARD_CLOUDDNS_LIVE"        // "1" to run
	envLiveProject = "SWITCHBOARD_CLOUDDNS_PROJECT"     // project ID
	envLiveZone    = "SWITCHBOARD_CLOUDDNS_ZONE"        // managed zone name
	envLiveCreds   = "SWITCHBOARD_CLOUDDNS_CREDENTIALS" // optional service-account file; default ADC
	envLiveLarge   = "SWITCHBOARD_CLOUDDNS_LARGE"       // optional size of the paging test (default 2000)
)

// liveBackend reaches the managed zone through a second client for
// Put/Dump/Reset and counts the provider's writes by wrapping its API.
type liveBackend struct {
	admin  api
	origin string
	p      *Provider
	writes atomic.Int64
}

// countingAPI counts Changes.Create calls.
type countingAPI struct {
	api
	n *atomic.Int64
}

func (c countingAPI) createChange(ctx context.Context, ch *apiChange) (string, error) {
	c.n.Add(1)
	return c.api.createChange(ctx, ch)
}

func (b *liveBackend) Zone() string                           { return b.origin }
func (b *liveBackend) Provider(testing.TB) providers.Provider { return b.p }
func (b *liveBackend) Writes() int                            { return int(b.writes.Load()) }

func (b *liveBackend) list(ctx context.Context, t testing.TB) []zone.RRset {
	t.Helper()
	var out []zone.RRset
	token := ""
	for {
		sets, next, err := b.admin.listPage(ctx, token)
		if err != nil {
			t.Fatalf("live: list: %v", classify(err))
		}
		for _, a := range sets {
			s, ok, err := fromAPI(a)
			if err != nil {
				t.Fatalf("live: list: %v", err)
			}
			if ok {
				out = append(out, s)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	zone.SortRRsets(out)
	return out
}

func (b *liveBackend) Dump(ctx context.Context, t testing.TB) []zone.RRset { return b.list(ctx, t) }

// change sends one unconditional Change (deleting what is there) and
// waits for it.
func (b *liveBackend) change(ctx context.Context, t testing.TB, ch *apiChange) {
	t.Helper()
	if len(ch.Additions)+len(ch.Deletions) == 0 {
		return
	}
	id, err := b.admin.createChange(ctx, ch)
	if err != nil {
		t.Fatalf("live: change: %v", classify(err))
	}
	for {
		status, err := b.admin.getChange(ctx, id)
		if err != nil {
			t.Fatalf("live: change %s: %v", id, classify(err))
		}
		if status == "done" {
			return
		}
		if err := sleep(ctx, time.Second); err != nil {
			t.Fatalf("live: change %s: %v", id, err)
		}
	}
}

func (b *liveBackend) Put(ctx context.Context, t testing.TB, sets ...zone.RRset) {
	t.Helper()
	cur := map[zone.Key]zone.RRset{}
	for _, s := range b.list(ctx, t) {
		cur[s.Key()] = s
	}
	ch := &apiChange{}
	for _, s := range sets {
		if old, ok := cur[s.Key()]; ok {
			ch.Deletions = append(ch.Deletions, toAPI(old))
		}
		if !s.Empty() {
			ch.Additions = append(ch.Additions, toAPI(s))
		}
	}
	b.change(ctx, t, ch)
}

func (b *liveBackend) Reset(ctx context.Context, t testing.TB) {
	t.Helper()
	ch := &apiChange{}
	for _, s := range b.list(ctx, t) {
		if s.Name == b.origin && (s.Type == dns.TypeSOA || s.Type == dns.TypeNS) {
			continue
		}
		ch.Deletions = append(ch.Deletions, toAPI(s))
		if len(ch.Deletions) == MaxDeletionsPerChange {
			b.change(ctx, t, ch)
			ch = &apiChange{}
		}
	}
	b.change(ctx, t, ch)
}

// TestLive runs the conformance suite against real Cloud DNS.
func TestLive(t *testing.T) {
	if os.Getenv(envLive) != "1" {
		t.Skipf("live Cloud DNS test skipped: set %s=1, %s=<project>, %s=<disposable managed zone> and credentials (%s=<service-account file>, or application default credentials: GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`); every record of that zone but its apex SOA and NS is deleted",
			envLive, envLiveProject, envLiveZone, envLiveCreds)
	}
	project, mz := os.Getenv(envLiveProject), os.Getenv(envLiveZone)
	if project == "" || mz == "" {
		t.Fatalf("%s=1 needs %s and %s", envLive, envLiveProject, envLiveZone)
	}
	cfg := &config.Provider{Type: Type, CloudDNS: &config.CloudDNSSettings{Project: project, ManagedZone: mz, CredentialsFile: os.Getenv(envLiveCreds)}}
	p, err := newProvider("live", cfg, providers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	b := &liveBackend{p: p}
	connect := p.connect
	p.connect = func(ctx context.Context) (api, error) {
		a, err := connect(ctx)
		if err != nil {
			return nil, err
		}
		return countingAPI{api: a, n: &b.writes}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b.admin, err = connect(ctx); err != nil {
		t.Fatal(err)
	}
	dnsName, err := b.admin.getZone(ctx)
	if err != nil {
		t.Fatalf("live: managed zone %s: %v", mz, classify(err))
	}
	if b.origin, err = zone.CanonicalName(dnsName); err != nil {
		t.Fatal(err)
	}
	opts := providertest.Options{Timeout: 20 * time.Minute}
	if v := os.Getenv(envLiveLarge); v != "" {
		if opts.Large, err = strconv.Atoi(v); err != nil || opts.Large <= 0 {
			t.Fatalf("%s=%q: want a positive number", envLiveLarge, v)
		}
	}
	providertest.Run(t, b, opts)
}
