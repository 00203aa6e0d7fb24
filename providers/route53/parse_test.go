package route53

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	fake "github.com/switchboard-dns/switchboard/providers/route53/route53test"
	"github.com/switchboard-dns/switchboard/zone"
)

func TestDecodeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"www.example.com.", "www.example.com."},
		{"WWW.Example.COM", "www.example.com."},
		{`\052.example.com.`, "*.example.com."},
		{`a\100b.example.com.`, "a@b.example.com."},
		{`trailing\05`, `trailing\05.`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := decodeName(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}

// TestCollect: what Read makes of each listed record set.
func TestCollect(t *testing.T) {
	www := zone.Key{Name: "www.example.com.", Type: dns.TypeA}
	want := map[zone.Key]bool{www: true}
	rr := func(v ...string) []types.ResourceRecord {
		var out []types.ResourceRecord
		for _, s := range v {
			out = append(out, types.ResourceRecord{Value: aws.String(s)})
		}
		return out
	}
	tests := []struct {
		name    string
		rs      types.ResourceRecordSet
		wantErr error
		wantSet *zone.RRset
	}{
		{"simple", types.ResourceRecordSet{Name: aws.String("WWW.example.com."), Type: "A", TTL: aws.Int64(60), ResourceRecords: rr("192.0.2.2", "192.0.2.1")},
			nil, ptr(zone.MustRRset("www.example.com.", dns.TypeA, 60, "192.0.2.1", "192.0.2.2"))},
		{"not wanted", types.ResourceRecordSet{Name: aws.String("api.example.com."), Type: "A", TTL: aws.Int64(60), ResourceRecords: rr("192.0.2.1")}, nil, nil},
		{"alias at a managed name", types.ResourceRecordSet{Name: aws.String("www.example.com."), Type: "A",
			AliasTarget: &types.AliasTarget{DNSName: aws.String("lb.example.net."), HostedZoneId: aws.String("Z2")}}, providers.ErrInvalid, nil},
		{"weighted at a managed name", types.ResourceRecordSet{Name: aws.String("www.example.com."), Type: "A", TTL: aws.Int64(60),
			SetIdentifier: aws.String("blue"), Weight: aws.Int64(10), ResourceRecords: rr("192.0.2.1")}, providers.ErrInvalid, nil},
		{"bad data at a managed name", types.ResourceRecordSet{Name: aws.String("www.example.com."), Type: "A", TTL: aws.Int64(60), ResourceRecords: rr("nope")}, providers.ErrInvalid, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			found := map[zone.Key]zone.RRset{}
			err := collect(tc.rs, want, found)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := found[www]
			switch {
			case tc.wantSet == nil && ok:
				t.Errorf("got %v, want nothing", got)
			case tc.wantSet != nil && (!ok || !got.Equal(*tc.wantSet)):
				t.Errorf("got %v, want %v", got, *tc.wantSet)
			}
		})
	}
}

// TestWildcardAndFenceReads: a wildcard name (listed by Route 53 as
// \052) and a fence someone else wrote read back right, by key and by
// listing.
func TestWildcardAndFenceReads(t *testing.T) {
	f := fake.New(t)
	id := f.AddZone(testZone)
	p := newFakeProvider(t, f, id, nil)
	ctx := context.Background()
	wild := rrset(t, "*.example.com.", dns.TypeA, 60, "192.0.2.1")
	if err := p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 9, Changes: []providers.Change{{Key: wild.Key(), New: &wild}}}); err != nil {
		t.Fatal(err)
	}
	few := []zone.Key{wild.Key()}
	many := []zone.Key{wild.Key(), {Name: "a.example.com.", Type: dns.TypeA}, {Name: "b.example.com.", Type: dns.TypeA}, {Name: "c.example.com.", Type: dns.TypeA}, {Name: "d.example.com.", Type: dns.TypeA}}
	for name, keys := range map[string][]zone.Key{"by key": few, "by listing": many} {
		t.Run(name, func(t *testing.T) {
			c, err := p.Read(ctx, testZone, keys)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Lookup(wild.Key()); !ok || !got.Equal(wild) || len(c.RRsets) != 1 || c.Fence != 9 {
				t.Errorf("got %v (fence %d), want only %v (fence 9)", c.RRsets, c.Fence, wild)
			}
		})
	}
	t.Run("foreign fence", func(t *testing.T) {
		f.Put(id, rrset(t, providers.FenceName(testZone), dns.TypeTXT, 60, `"not ours"`))
		_, err := p.Read(ctx, testZone, few)
		if !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("got %v, want invalid", err)
		}
	})
}

// TestLimiterKeys: which providers share a bucket.
func TestLimiterKeys(t *testing.T) {
	lims := newLimiters()
	mk := func(profile, endpoint, keyID string) *Provider {
		s := config.Route53Settings{HostedZoneID: "Z1", Endpoint: endpoint, RequestsPerS: 5}
		env := providers.Env{}
		if keyID != "" {
			env.Getenv = func(k string) string {
				return map[string]string{"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": "s"}[k]
			}
		}
		if profile != "" {
			t.Setenv("AWS_CONFIG_FILE", writeProfile(t, profile))
		}
		p, err := newProvider("p", &config.Provider{Type: config.ProviderRoute53, Route53: &s}, env, lims)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := mk("", "http://127.0.0.1:1", "AKIAONE")
	tests := []struct {
		name  string
		other *Provider
		same  bool
	}{
		{"same key and endpoint", mk("", "http://127.0.0.1:1", "AKIAONE"), true},
		{"other access key", mk("", "http://127.0.0.1:1", "AKIATWO"), false},
		{"other endpoint", mk("", "http://127.0.0.1:2", "AKIAONE"), false},
		{"a profile", mk("acct", "http://127.0.0.1:1", ""), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := base.limiter == tc.other.limiter; got != tc.same {
				t.Errorf("shared bucket: got %v, want %v", got, tc.same)
			}
		})
	}
}

func writeProfile(t *testing.T, name string) string {
	t.Helper()
	path := t.TempDir() + "/config"
	if err := os.WriteFile(path, []byte("[profile "+name+"]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
