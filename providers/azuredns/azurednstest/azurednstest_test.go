package azurednstest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

func client(t *testing.T, s *Server) *armdns.RecordSetsClient {
	t.Helper()
	c, err := armdns.NewRecordSetsClient("sub", &azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: s.Transport(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func aSet(ip string) armdns.RecordSet {
	return armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: to.Ptr[int64](300), ARecords: []*armdns.ARecord{{IPv4Address: to.Ptr(ip)}}}}
}

func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	if err == nil {
		return 200
	}
	return -1
}

// TestETagRules drives the fake through the real SDK client and checks
// Azure's conditional request rules.
func TestETagRules(t *testing.T) {
	ctx := context.Background()
	wwwA := zone.Key{Name: "www.example.com.", Type: dns.TypeA}
	tests := []struct {
		name string
		// op runs against a zone where www A holds 192.0.2.1 with ETag
		// etag; it returns the SDK error.
		op   func(c *armdns.RecordSetsClient, etag string) error
		want int
	}{
		{"create over existing with If-None-Match", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.CreateOrUpdate(ctx, "rg", "example.com", "www", armdns.RecordTypeA, aSet("192.0.2.9"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfNoneMatch: to.Ptr("*")})
			return err
		}, 412},
		{"create absent with If-None-Match", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.CreateOrUpdate(ctx, "rg", "example.com", "new", armdns.RecordTypeA, aSet("192.0.2.9"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfNoneMatch: to.Ptr("*")})
			return err
		}, 200},
		{"update with the right ETag", func(c *armdns.RecordSetsClient, etag string) error {
			_, err := c.CreateOrUpdate(ctx, "rg", "example.com", "www", armdns.RecordTypeA, aSet("192.0.2.9"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: to.Ptr(etag)})
			return err
		}, 200},
		{"update with a wrong ETag", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.CreateOrUpdate(ctx, "rg", "example.com", "www", armdns.RecordTypeA, aSet("192.0.2.9"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: to.Ptr("nope")})
			return err
		}, 412},
		{"update of an absent set with If-Match", func(c *armdns.RecordSetsClient, etag string) error {
			_, err := c.CreateOrUpdate(ctx, "rg", "example.com", "absent", armdns.RecordTypeA, aSet("192.0.2.9"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: to.Ptr(etag)})
			return err
		}, 412},
		{"delete with a wrong ETag", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.Delete(ctx, "rg", "example.com", "www", armdns.RecordTypeA, &armdns.RecordSetsClientDeleteOptions{IfMatch: to.Ptr("nope")})
			return err
		}, 412},
		{"delete of an absent set with If-Match", func(c *armdns.RecordSetsClient, etag string) error {
			_, err := c.Delete(ctx, "rg", "example.com", "absent", armdns.RecordTypeA, &armdns.RecordSetsClientDeleteOptions{IfMatch: to.Ptr(etag)})
			return err
		}, 412},
		{"delete of an absent set without If-Match", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.Delete(ctx, "rg", "example.com", "absent", armdns.RecordTypeA, nil)
			return err
		}, 200},
		{"CNAME beside an A", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.CreateOrUpdate(ctx, "rg", "example.com", "www", armdns.RecordTypeCNAME, armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: to.Ptr[int64](60), CnameRecord: &armdns.CnameRecord{Cname: to.Ptr("x.example.net.")}}}, nil)
			return err
		}, 409},
		{"apex NS delete", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.Delete(ctx, "rg", "example.com", "@", armdns.RecordTypeNS, nil)
			return err
		}, 400},
		{"records of another type", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.CreateOrUpdate(ctx, "rg", "example.com", "www", armdns.RecordTypeAAAA, aSet("192.0.2.9"), nil)
			return err
		}, 400},
		{"wrong resource group", func(c *armdns.RecordSetsClient, _ string) error {
			_, err := c.Get(ctx, "other-rg", "example.com", "www", armdns.RecordTypeA, nil)
			return err
		}, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New("sub", "rg", "example.com.")
			if err := s.Put(zone.MustRRset("www.example.com.", dns.TypeA, 300, "192.0.2.1")); err != nil {
				t.Fatal(err)
			}
			before := s.ETag(wwwA)
			err := tc.op(client(t, s), before)
			if got := status(err); got != tc.want {
				t.Fatalf("got status %d (%v), want %d", got, err, tc.want)
			}
			if tc.want != 200 && s.ETag(wwwA) != before {
				t.Errorf("www ETag after a refused request: got %s, want %s", s.ETag(wwwA), before)
			}
		})
	}
	t.Run("every write bumps the ETag", func(t *testing.T) {
		s := New("sub", "rg", "example.com.")
		c := client(t, s)
		var seen []string
		for _, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2"} {
			resp, err := c.CreateOrUpdate(ctx, "rg", "example.com", "www", armdns.RecordTypeA, aSet(ip), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Etag == nil || *resp.Etag != s.ETag(wwwA) {
				t.Fatalf("response ETag: got %v, want %s", resp.Etag, s.ETag(wwwA))
			}
			for _, e := range seen {
				if e == *resp.Etag {
					t.Errorf("ETag %s: got it twice, want a new one per write", e)
				}
			}
			seen = append(seen, *resp.Etag)
		}
	})
}

func TestPaging(t *testing.T) {
	s := New("sub", "rg", "example.com.")
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if err := s.Put(zone.MustRRset(n+".example.com.", dns.TypeA, 300, "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
	}
	pager := client(t, s).NewListByDNSZonePager("rg", "example.com", &armdns.RecordSetsClientListByDNSZoneOptions{Top: to.Ptr[int32](2)})
	pages, sets := 0, 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		sets += len(page.Value)
	}
	// 5 A sets plus the apex SOA and NS, 2 a page.
	if pages != 4 || sets != 7 {
		t.Errorf("got %d pages and %d sets, want 4 and 7", pages, sets)
	}
}

func TestFaults(t *testing.T) {
	s := New("sub", "rg", "example.com.")
	s.Fail(Fault{Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second})
	_, err := client(t, s).Get(context.Background(), "rg", "example.com", "@", armdns.RecordTypeSOA, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 429 {
		t.Fatalf("got %v, want a 429 response error", err)
	}
	if got := re.RawResponse.Header.Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After: got %q, want 3", got)
	}
	if _, err := client(t, s).Get(context.Background(), "rg", "example.com", "@", armdns.RecordTypeSOA, nil); err != nil {
		t.Errorf("after the fault is used: got %v, want success", err)
	}
	if got := s.Requests(); got != 2 {
		t.Errorf("requests: got %d, want 2", got)
	}
}
