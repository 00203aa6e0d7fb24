package route53

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	fake "github.com/switchboard-dns/switchboard/providers/route53/route53test"
	"github.com/switchboard-dns/switchboard/zone"
)

// Environment of the live test.
const (
	envLive    = "SWITCHBOARD_ROUTE53_LIVE"    // "1" to run
	envZoneID  = "SWITCHBOARD_ROUTE53_ZONE_ID" // a disposable hosted zone: its records are deleted
	envZone    = "SWITCHBOARD_ROUTE53_ZONE"    // that zone's name
	envProfile = "SWITCHBOARD_ROUTE53_PROFILE" // optional shared-config profile
	envLarge   = "SWITCHBOARD_ROUTE53_LARGE"   // optional size of the paging test (default 300)
)

// TestConformanceLive runs the conformance suite against the real Route 53
// when the environment names a disposable hosted zone and credentials.
func TestConformanceLive(t *testing.T) {
	if os.Getenv(envLive) != "1" || os.Getenv(envZoneID) == "" || os.Getenv(envZone) == "" {
		t.Skipf("live Route 53 test: set %s=1, %s=<disposable hosted zone id>, %s=<its name> and AWS credentials "+
			"(AWS_PROFILE, %s, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to run; every record of that zone but SOA and NS is deleted",
			envLive, envZoneID, envZone, envProfile)
	}
	name, err := zone.CanonicalName(os.Getenv(envZone))
	if err != nil {
		t.Fatalf("%s: %v", envZone, err)
	}
	large := 300
	if v := os.Getenv(envLarge); v != "" {
		if large, err = strconv.Atoi(v); err != nil || large < 1 {
			t.Fatalf("%s=%q: want a positive number", envLarge, v)
		}
	}
	s := config.Route53Settings{HostedZoneID: os.Getenv(envZoneID), Profile: os.Getenv(envProfile), RequestsPerS: DefaultRequestsPerSecond}
	providertest.Run(t, newLiveBackend(t, s, name, providers.Env{}), providertest.Options{Large: large, Timeout: 30 * time.Minute})
}

// TestLiveBackendAgainstFake runs the live mode's backend, which reaches
// the zone through the SDK only, against the fake, so that the code the
// live test depends on is itself tested here.
func TestLiveBackendAgainstFake(t *testing.T) {
	f := fake.New(t)
	id := f.AddZone(testZone)
	s := config.Route53Settings{HostedZoneID: id, Endpoint: f.URL(), RequestsPerS: 1000}
	b := newLiveBackend(t, s, testZone, fakeEnv(nil))
	providertest.Run(t, b, providertest.Options{Large: 300})
	if got, want := b.Writes(), f.Writes(); got != want {
		t.Errorf("counted writes: got %d, want the fake's %d", got, want)
	}
}

func newLiveBackend(t *testing.T, s config.Route53Settings, name string, env providers.Env) *liveBackend {
	t.Helper()
	p, err := newProvider("live", &config.Provider{Type: config.ProviderRoute53, Route53: &s}, env, newLimiters())
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingAPI{api: p.client}
	p.client = counter
	return &liveBackend{p: p, api: counter, name: name, id: p.zoneID}
}

// countingAPI counts change batches, ours and the backend's.
type countingAPI struct {
	api
	writes atomic.Int64
}

func (c *countingAPI) ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error) {
	c.writes.Add(1)
	return c.api.ChangeResourceRecordSets(ctx, in, optFns...)
}

// liveBackend reaches the hosted zone through the same client (and rate
// limit) as the provider.
type liveBackend struct {
	p    *Provider
	api  *countingAPI
	name string
	id   string
}

func (b *liveBackend) Zone() string { return b.name }

// Provider returns the provider wrapped so that throttling
// (PriorRequestNotComplete between back-to-back batches) is retried, as
// the reconciler does; every other error goes to the suite as it is.
func (b *liveBackend) Provider(testing.TB) providers.Provider { return retryThrottled{b.p} }

func (b *liveBackend) Writes() int { return int(b.api.writes.Load()) }

func (b *liveBackend) list(ctx context.Context, t testing.TB) []types.ResourceRecordSet {
	t.Helper()
	var out []types.ResourceRecordSet
	in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(b.id), MaxItems: aws.Int32(listPage)}
	for {
		resp, err := withRetry(ctx, func() (*route53.ListResourceRecordSetsOutput, error) {
			r, err := b.api.ListResourceRecordSets(ctx, in)
			if err != nil {
				return nil, classify("list", err)
			}
			return r, nil
		})
		if err != nil {
			t.Fatalf("live backend: %v", err)
		}
		out = append(out, resp.ResourceRecordSets...)
		if !resp.IsTruncated {
			return out
		}
		in = &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(b.id), MaxItems: aws.Int32(listPage),
			StartRecordName: resp.NextRecordName, StartRecordType: resp.NextRecordType}
	}
}

func (b *liveBackend) change(ctx context.Context, t testing.TB, changes []types.Change) {
	t.Helper()
	for len(changes) > 0 {
		n := min(len(changes), MaxChanges)
		part := changes[:n]
		changes = changes[n:]
		_, err := withRetry(ctx, func() (*route53.ChangeResourceRecordSetsOutput, error) {
			r, err := b.api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
				HostedZoneId: aws.String(b.id), ChangeBatch: &types.ChangeBatch{Changes: part},
			}, noRetry)
			if err != nil {
				return nil, classify("change", err)
			}
			return r, nil
		})
		if err != nil {
			t.Fatalf("live backend: %v", err)
		}
	}
}

func (b *liveBackend) Reset(ctx context.Context, t testing.TB) {
	t.Helper()
	var changes []types.Change
	for _, rs := range b.list(ctx, t) {
		n, err := decodeName(aws.ToString(rs.Name))
		if err == nil && n == b.name && (rs.Type == types.RRTypeSoa || rs.Type == types.RRTypeNs) {
			continue
		}
		changes = append(changes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: &rs})
	}
	b.change(ctx, t, changes)
}

func (b *liveBackend) Put(ctx context.Context, t testing.TB, sets ...zone.RRset) {
	t.Helper()
	var changes []types.Change
	for _, s := range sets {
		if !s.Empty() {
			changes = append(changes, types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: toAWS(s)})
			continue
		}
		c, err := b.p.Read(ctx, b.name, []zone.Key{s.Key()})
		if err != nil {
			t.Fatalf("live backend: %v", err)
		}
		if cur, ok := c.Lookup(s.Key()); ok {
			changes = append(changes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: toAWS(cur)})
		} else if s.Key() == providers.FenceKey(b.name) && c.Fence > 0 {
			changes = append(changes, types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: toAWS(providers.FenceRRset(b.name, c.Fence))})
		}
	}
	b.change(ctx, t, changes)
}

func (b *liveBackend) Dump(ctx context.Context, t testing.TB) []zone.RRset {
	t.Helper()
	var out []zone.RRset
	for _, rs := range b.list(ctx, t) {
		n, err := decodeName(aws.ToString(rs.Name))
		typ, ok := zone.ParseType(string(rs.Type))
		if err != nil || !ok || rs.TTL == nil {
			continue // aliases are not expected in a disposable zone
		}
		var vals []string
		for _, r := range rs.ResourceRecords {
			vals = append(vals, aws.ToString(r.Value))
		}
		s, err := zone.NewRRset(n, typ, uint32(aws.ToInt64(rs.TTL)), vals...)
		if err != nil {
			t.Fatalf("live backend: %s %s: %v", n, rs.Type, err)
		}
		out = append(out, s)
	}
	zone.SortRRsets(out)
	return out
}

func toAWS(s zone.RRset) *types.ResourceRecordSet {
	rrs := make([]types.ResourceRecord, len(s.Data))
	for i, d := range s.Data {
		rrs[i] = types.ResourceRecord{Value: aws.String(d)}
	}
	return &types.ResourceRecordSet{Name: aws.String(s.Name), Type: types.RRType(dns.TypeToString[s.Type]), TTL: aws.Int64(int64(s.TTL)), ResourceRecords: rrs}
}

// withRetry retries fn while it is throttled, with a growing back-off.
func withRetry[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	wait := 500 * time.Millisecond
	for i := 0; ; i++ {
		v, err := fn()
		if err == nil || !errors.Is(err, providers.ErrThrottled) || i == 8 {
			return v, err
		}
		if d, ok := providers.RetryAfter(err); ok {
			wait = d
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return v, err
		case <-timer.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

type retryThrottled struct{ p providers.Provider }

func (r retryThrottled) Capabilities() providers.Capabilities { return r.p.Capabilities() }

func (r retryThrottled) Read(ctx context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	return withRetry(ctx, func() (*providers.Content, error) { return r.p.Read(ctx, zoneName, keys) })
}

func (r retryThrottled) Apply(ctx context.Context, cs *providers.ChangeSet) error {
	_, err := withRetry(ctx, func() (struct{}, error) { return struct{}{}, r.p.Apply(ctx, cs) })
	return err
}
