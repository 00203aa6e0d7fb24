package azuredns

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/azuredns/azurednstest"
	"github.com/switchboard-dns/switchboard/zone"
)

const (
	testSub  = "00000000-1111-2222-3333-444444444444"
	testRG   = "dns-rg"
	testZone = "example.com."
)

// testConfig returns provider settings for the fake's zone.
func testConfig() *config.Provider {
	return &config.Provider{
		Type:     config.ProviderAzureDNS,
		AzureDNS: &config.AzureDNSSettings{SubscriptionID: testSub, ResourceGroup: testRG, ZoneName: "example.com"},
	}
}

// newFake returns a fake zone example.com.
func newFake(t testing.TB) *azurednstest.Server {
	t.Helper()
	return azurednstest.New(testSub, testRG, testZone)
}

// newTestProvider returns a provider whose SDK client talks to srv
// through the given transport wrapper (nil: directly), signed by the
// SDK's fake credential, with a 1ms retry delay.
func newTestProvider(t testing.TB, srv *azurednstest.Server, wrap func(policy.Transporter) policy.Transporter, log *slog.Logger) *Provider {
	t.Helper()
	tr := srv.Transport()
	if wrap != nil {
		tr = wrap(tr)
	}
	p, err := newProvider("azure-test", testConfig(), providers.Env{Logger: log}, options{
		transport:  tr,
		credential: &azfake.TokenCredential{},
		retryDelay: time.Millisecond,
	})
	if err != nil {
		t.Fatalf("newProvider: %v", err)
	}
	return p
}

// fakeBackend is the conformance suite's view of the fake.
type fakeBackend struct {
	srv *azurednstest.Server
}

func (b *fakeBackend) Zone() string { return b.srv.Zone() }

func (b *fakeBackend) Provider(t testing.TB) providers.Provider {
	return newTestProvider(t, b.srv, nil, nil)
}

func (b *fakeBackend) Reset(_ context.Context, _ testing.TB) { b.srv.Reset() }

func (b *fakeBackend) Put(_ context.Context, t testing.TB, sets ...zone.RRset) {
	t.Helper()
	if err := b.srv.Put(sets...); err != nil {
		t.Fatalf("fake put: %v", err)
	}
}

func (b *fakeBackend) Dump(_ context.Context, _ testing.TB) []zone.RRset { return b.srv.Dump() }

func (b *fakeBackend) Writes() int { return b.srv.Writes() }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustSet(t testing.TB, name string, typ uint16, ttl uint32, data ...string) zone.RRset {
	t.Helper()
	s, err := zone.NewRRset(name, typ, ttl, data...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ptr(s zone.RRset) *zone.RRset { return &s }
