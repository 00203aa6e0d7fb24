package route53

import (
	"context"
	"log/slog"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	fake "github.com/switchboard-dns/switchboard/providers/route53/route53test"
	"github.com/switchboard-dns/switchboard/zone"
)

// fakeEnv gives the provider static, obviously fake credentials, so that
// the SDK signs requests without looking anywhere else.
func fakeEnv(log *slog.Logger) providers.Env {
	vals := map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIAFAKEFAKEFAKEFAKE",
		"AWS_SECRET_ACCESS_KEY": "fake-secret-for-the-route53-fake",
	}
	return providers.Env{Getenv: func(k string) string { return vals[k] }, Logger: log}
}

// newFakeProvider builds a provider for hosted zone id of f, through the
// real SDK client. Its rate limiter is private to the test.
func newFakeProvider(t testing.TB, f *fake.Server, id string, edit func(*config.Route53Settings)) *Provider {
	t.Helper()
	s := config.Route53Settings{HostedZoneID: id, Region: "us-east-1", Endpoint: f.URL(), RequestsPerS: 1000}
	if edit != nil {
		edit(&s)
	}
	p, err := newProvider("test", &config.Provider{Type: config.ProviderRoute53, Route53: &s}, fakeEnv(nil), newLimiters())
	if err != nil {
		t.Fatalf("new provider: %v", err)
	}
	return p
}

// fakeBackend is the conformance suite's view of a hosted zone in the fake.
type fakeBackend struct {
	f    *fake.Server
	id   string
	name string
	p    *Provider
}

func (b *fakeBackend) Zone() string                           { return b.name }
func (b *fakeBackend) Provider(testing.TB) providers.Provider { return b.p }
func (b *fakeBackend) Reset(context.Context, testing.TB)      { b.f.Reset(b.id) }
func (b *fakeBackend) Put(_ context.Context, _ testing.TB, sets ...zone.RRset) {
	b.f.Put(b.id, sets...)
}
func (b *fakeBackend) Dump(context.Context, testing.TB) []zone.RRset { return b.f.Dump(b.id) }
func (b *fakeBackend) Writes() int                                   { return b.f.Writes() }

// TestConformanceFake runs the whole conformance suite through the real
// aws-sdk-go-v2 client against the Route 53 fake.
func TestConformanceFake(t *testing.T) {
	f := fake.New(t)
	const name = "example.com."
	id := f.AddZone(name)
	f.AddZone("other.example.") // a neighbour that must not matter
	b := &fakeBackend{f: f, id: id, name: name, p: newFakeProvider(t, f, id, nil)}
	providertest.Run(t, b, providertest.Options{})
}
