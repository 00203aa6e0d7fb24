package azuredns

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/zone"
)

// Live mode runs the conformance suite against real Azure DNS. It needs a
// disposable zone: Reset deletes every record set in it but the apex SOA
// and NS.
const (
	envLive          = "SWITCHBOARD_AZUREDNS_LIVE"           // "1" to enable
	envSubscription  = "SWITCHBOARD_AZUREDNS_SUBSCRIPTION"   // subscription ID
	envResourceGroup = "SWITCHBOARD_AZUREDNS_RESOURCE_GROUP" // resource group of the zone
	envZone          = "SWITCHBOARD_AZUREDNS_ZONE"           // the disposable zone, e.g. sbtest.example.com
)

// liveLarge is the paging test's size in live mode: 300 record sets are
// three pages and about 600 writes, well inside ARM's write bucket.
const liveLarge = 300

func TestLive(t *testing.T) {
	sub, rg, zn := os.Getenv(envSubscription), os.Getenv(envResourceGroup), os.Getenv(envZone)
	if os.Getenv(envLive) != "1" || sub == "" || rg == "" || zn == "" {
		t.Skipf("live Azure DNS test skipped: set %s=1, %s, %s and %s (a disposable zone: every record set but the apex SOA and NS is deleted), "+
			"plus credentials for azidentity's default chain (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, or a managed identity, or az login)",
			envLive, envSubscription, envResourceGroup, envZone)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatalf("credential: %v", err)
	}
	raw, err := armdns.NewRecordSetsClient(sub, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	fqdn := strings.ToLower(dns.Fqdn(zn))
	b := &liveBackend{sub: sub, rg: rg, fqdn: fqdn, az: strings.TrimSuffix(fqdn, "."), raw: raw, cred: cred}
	providertest.Run(t, b, providertest.Options{Large: liveLarge})
}

// liveBackend reaches the real zone through its own SDK client.
type liveBackend struct {
	sub, rg, fqdn, az string
	raw               *armdns.RecordSetsClient
	cred              azcore.TokenCredential
	writes            atomic.Int64
}

func (b *liveBackend) Zone() string { return b.fqdn }

func (b *liveBackend) Provider(t testing.TB) providers.Provider {
	t.Helper()
	cfg := &config.Provider{Type: config.ProviderAzureDNS, AzureDNS: &config.AzureDNSSettings{SubscriptionID: b.sub, ResourceGroup: b.rg, ZoneName: b.az}}
	p, err := newProvider("azure-live", cfg, providers.Env{}, options{
		transport:  &countingTransport{next: http.DefaultClient, writes: &b.writes},
		credential: b.cred,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// countingTransport counts the provider's write requests.
type countingTransport struct {
	next   policy.Transporter
	writes *atomic.Int64
}

func (c *countingTransport) Do(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		c.writes.Add(1)
	}
	return c.next.Do(req)
}

func (b *liveBackend) Writes() int { return int(b.writes.Load()) }

func (b *liveBackend) all(ctx context.Context, t testing.TB) []*armdns.RecordSet {
	t.Helper()
	var out []*armdns.RecordSet
	pager := b.raw.NewListByDNSZonePager(b.rg, b.az, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("live list: %v", err)
		}
		out = append(out, page.Value...)
	}
	return out
}

func (b *liveBackend) Reset(ctx context.Context, t testing.TB) {
	t.Helper()
	for _, rs := range b.all(ctx, t) {
		typ, _ := typeFromResource(*rs.Type)
		if *rs.Name == "@" && (typ == dns.TypeSOA || typ == dns.TypeNS) {
			continue
		}
		if _, err := b.raw.Delete(ctx, b.rg, b.az, *rs.Name, armdns.RecordType(zone.TypeString(typ)), nil); err != nil {
			t.Fatalf("live reset: delete %s %s: %v", *rs.Name, zone.TypeString(typ), err)
		}
	}
}

func (b *liveBackend) Put(ctx context.Context, t testing.TB, sets ...zone.RRset) {
	t.Helper()
	for _, s := range sets {
		rel, err := relativeName(s.Name, b.fqdn)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := recordType(s.Type)
		if err != nil {
			t.Fatal(err)
		}
		if s.Empty() {
			if _, err := b.raw.Delete(ctx, b.rg, b.az, rel, rt, nil); err != nil {
				var re *azcore.ResponseError
				if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
					t.Fatalf("live put: delete %s: %v", s.Key(), err)
				}
			}
			continue
		}
		body, err := toRecordSet(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.raw.CreateOrUpdate(ctx, b.rg, b.az, rel, rt, body, nil); err != nil {
			t.Fatalf("live put %s: %v", s.Key(), err)
		}
	}
}

func (b *liveBackend) Dump(ctx context.Context, t testing.TB) []zone.RRset {
	t.Helper()
	var out []zone.RRset
	for _, rs := range b.all(ctx, t) {
		typ, ok := typeFromResource(*rs.Type)
		if !ok {
			continue
		}
		name := absoluteName(*rs.Name, b.fqdn)
		if typ == dns.TypeSOA {
			out = append(out, soaOf(t, name, rs))
			continue
		}
		s, err := fromRecordSet(name, typ, rs)
		if err != nil {
			t.Fatalf("live dump %s: %v", name, err)
		}
		if !s.Empty() {
			out = append(out, s)
		}
	}
	zone.SortRRsets(out)
	return out
}

func soaOf(t testing.TB, name string, rs *armdns.RecordSet) zone.RRset {
	t.Helper()
	p := rs.Properties
	if p == nil || p.SoaRecord == nil || p.TTL == nil {
		t.Fatalf("live dump: SOA without data")
	}
	r := p.SoaRecord
	i := func(v *int64) int64 {
		if v == nil {
			return 0
		}
		return *v
	}
	s, err := zone.NewRRset(name, dns.TypeSOA, uint32(*p.TTL),
		strings.Join([]string{dns.Fqdn(str(r.Host)), dns.Fqdn(str(r.Email)),
			itoa(i(r.SerialNumber)), itoa(i(r.RefreshTime)), itoa(i(r.RetryTime)), itoa(i(r.ExpireTime)), itoa(i(r.MinimumTTL))}, " "))
	if err != nil {
		t.Fatalf("live dump SOA: %v", err)
	}
	return s
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
