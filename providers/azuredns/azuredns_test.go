package azuredns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/azuredns/azurednstest"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/zone"
)

// TestErrorMapping injects faults in front of the fake and checks the
// typed error, the retry-after, and how many requests the SDK sent (its
// retry policy retries 5xx twice and 429 not at all).
func TestErrorMapping(t *testing.T) {
	www := mustSet(t, "www.example.com.", dns.TypeA, 300, "192.0.2.1")
	tests := []struct {
		name       string
		faults     []azurednstest.Fault
		latency    time.Duration
		timeout    time.Duration
		wantKind   string
		wantAfter  time.Duration
		wantWrites int
	}{
		{name: "429 with Retry-After", faults: []azurednstest.Fault{{Status: 429, RetryAfter: 7 * time.Second, WritesOnly: true}}, wantKind: "throttled", wantAfter: 7 * time.Second, wantWrites: 1},
		{name: "429 without Retry-After", faults: []azurednstest.Fault{{Status: 429, WritesOnly: true}}, wantKind: "throttled", wantWrites: 1},
		{name: "503 once is retried", faults: []azurednstest.Fault{{Status: 503, WritesOnly: true}}, wantKind: "", wantWrites: 3},
		{name: "503 three times", faults: []azurednstest.Fault{{Status: 503, WritesOnly: true}, {Status: 503, WritesOnly: true}, {Status: 503, WritesOnly: true}}, wantKind: "unavailable", wantWrites: 3},
		{name: "500 three times", faults: []azurednstest.Fault{{Status: 500, WritesOnly: true}, {Status: 500, WritesOnly: true}, {Status: 500, WritesOnly: true}}, wantKind: "unavailable", wantWrites: 3},
		{name: "400", faults: []azurednstest.Fault{{Status: 400, WritesOnly: true}}, wantKind: "invalid", wantWrites: 1},
		{name: "401", faults: []azurednstest.Fault{{Status: 401, WritesOnly: true}}, wantKind: "invalid", wantWrites: 1},
		{name: "403", faults: []azurednstest.Fault{{Status: 403, WritesOnly: true}}, wantKind: "invalid", wantWrites: 1},
		{name: "404", faults: []azurednstest.Fault{{Status: 404, WritesOnly: true}}, wantKind: "invalid", wantWrites: 1},
		{name: "latency past the deadline", latency: time.Minute, timeout: 50 * time.Millisecond, wantKind: "unavailable", wantWrites: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			p := newTestProvider(t, srv, nil, nil)
			srv.Fail(tc.faults...)
			srv.SetLatency(tc.latency)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			err := p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: www.Key(), New: ptr(www)}}})
			srv.SetLatency(0)
			switch {
			case tc.wantKind == "" && err != nil:
				t.Fatalf("apply: got %v, want success", err)
			case tc.wantKind != "" && providers.KindOf(err) != tc.wantKind:
				t.Fatalf("apply: got %v (kind %s), want kind %s", err, providers.KindOf(err), tc.wantKind)
			}
			if got, _ := providers.RetryAfter(err); got != tc.wantAfter {
				t.Errorf("retry-after: got %v, want %v", got, tc.wantAfter)
			}
			// wantWrites counts the fence attempts, and the record set
			// write when the fence got through; a failed fence stops
			// everything.
			if got := srv.Writes(); got != tc.wantWrites {
				t.Errorf("writes: got %d, want %d", got, tc.wantWrites)
			}
			if tc.wantKind != "" {
				for _, rs := range srv.Dump() {
					if rs.Key() == www.Key() {
						t.Errorf("after a failed fence: got %s written, want nothing", rs.Key())
					}
				}
			}
		})
	}
}

// TestMapErr covers the statuses the fake cannot produce through the
// pipeline without waiting for retries, and the credential errors.
func TestMapErr(t *testing.T) {
	k := zone.Key{Name: "www.example.com.", Type: dns.TypeA}
	resp := func(status int, h ...string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	tests := []struct {
		name      string
		err       error
		wantKind  string
		wantAfter time.Duration
	}{
		{"412", &azcore.ResponseError{StatusCode: 412, ErrorCode: "PreconditionFailed", RawResponse: resp(412)}, "conflict", 0},
		{"409", &azcore.ResponseError{StatusCode: 409, ErrorCode: "Conflict", RawResponse: resp(409)}, "conflict", 0},
		{"429 seconds", &azcore.ResponseError{StatusCode: 429, RawResponse: resp(429, "Retry-After", "12")}, "throttled", 12 * time.Second},
		{"429 milliseconds", &azcore.ResponseError{StatusCode: 429, RawResponse: resp(429, "Retry-After", "12", "x-ms-retry-after-ms", "1500")}, "throttled", 1500 * time.Millisecond},
		{"429 no header", &azcore.ResponseError{StatusCode: 429, RawResponse: resp(429)}, "throttled", 0},
		{"408", &azcore.ResponseError{StatusCode: 408, RawResponse: resp(408)}, "unavailable", 0},
		{"502", &azcore.ResponseError{StatusCode: 502, RawResponse: resp(502)}, "unavailable", 0},
		{"504", &azcore.ResponseError{StatusCode: 504, RawResponse: resp(504)}, "unavailable", 0},
		{"400", &azcore.ResponseError{StatusCode: 400, RawResponse: resp(400)}, "invalid", 0},
		{"401", &azcore.ResponseError{StatusCode: 401, RawResponse: resp(401)}, "invalid", 0},
		{"403", &azcore.ResponseError{StatusCode: 403, RawResponse: resp(403)}, "invalid", 0},
		{"404", &azcore.ResponseError{StatusCode: 404, RawResponse: resp(404)}, "invalid", 0},
		{"credential refused", &azidentity.AuthenticationFailedError{RawResponse: resp(401)}, "invalid", 0},
		{"identity service down", &azidentity.AuthenticationFailedError{RawResponse: resp(503)}, "unavailable", 0},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "unavailable", 0},
		{"deadline", context.DeadlineExceeded, "unavailable", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mapErr("update", k, tc.err)
			if got := providers.KindOf(err); got != tc.wantKind {
				t.Errorf("kind: got %s, want %s (%v)", got, tc.wantKind, err)
			}
			if got, _ := providers.RetryAfter(err); got != tc.wantAfter {
				t.Errorf("retry-after: got %v, want %v", got, tc.wantAfter)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("errors.Is(mapped, cause): got false, want true")
			}
			if !strings.HasPrefix(err.Error(), providers.KindOf(err)+": azuredns: update www.example.com. A") {
				t.Errorf("message: got %q, want it to start with the kind and name the component", err)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, value string
		want        time.Duration
	}{
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
		{"negative", "-3", 0},
		{"zero", "0", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Response{Header: http.Header{"Retry-After": {tc.value}}}
			if got := retryAfter(r, now); got != tc.want {
				t.Errorf("retryAfter(%q): got %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}

// TestConflictMidway changes the third of five names at the moment its
// write reaches Azure: Apply stops with a conflict, the two later writes
// are never sent, and no managed name is empty at any point.
func TestConflictMidway(t *testing.T) {
	srv := newFake(t)
	p := newTestProvider(t, srv, nil, nil)
	ctx := context.Background()
	var old, nw []zone.RRset
	var managed []zone.Key
	for i := range 5 {
		name := fmt.Sprintf("n%d.example.com.", i)
		old = append(old, mustSet(t, name, dns.TypeA, 300, fmt.Sprintf("192.0.2.%d", i+1)))
		nw = append(nw, mustSet(t, name, dns.TypeA, 300, fmt.Sprintf("198.51.100.%d", i+1)))
		managed = append(managed, old[i].Key())
	}
	if _, err := providertest.Reconcile(ctx, p, testZone, 1, old, managed); err != nil {
		t.Fatal(err)
	}
	behind := mustSet(t, "n2.example.com.", dns.TypeA, 300, "203.0.113.2")
	var mu sync.Mutex
	var seen []string
	var empty []string
	srv.OnWrite(func(op string, k zone.Key) {
		mu.Lock()
		seen = append(seen, op+" "+k.String())
		mu.Unlock()
		d := map[zone.Key]bool{}
		for _, rs := range srv.Dump() {
			d[rs.Key()] = true
		}
		for _, mk := range managed {
			if !d[mk] {
				mu.Lock()
				empty = append(empty, mk.String())
				mu.Unlock()
			}
		}
		if k == behind.Key() {
			if err := srv.Put(behind); err != nil {
				t.Error(err)
			}
		}
	})
	w0 := srv.Writes()
	var changes []providers.Change
	for i := range old {
		changes = append(changes, providers.Change{Key: managed[i], Old: ptr(old[i]), New: ptr(nw[i])})
	}
	err := p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 2, ExpectFence: 1, Changes: changes})
	if !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("apply: got %v, want a conflict", err)
	}
	if got := srv.Writes() - w0; got != 4 {
		t.Errorf("writes: got %d (%v), want 4 (fence, n0, n1, n2)", got, seen)
	}
	want := []string{
		"create_or_update _switchboard.example.com. TXT",
		"create_or_update n0.example.com. A",
		"create_or_update n1.example.com. A",
		"create_or_update n2.example.com. A",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("write order: got %v, want %v", seen, want)
	}
	if len(empty) > 0 {
		t.Errorf("names empty during the apply: got %v, want none", empty)
	}
	d := map[zone.Key]zone.RRset{}
	for _, rs := range srv.Dump() {
		d[rs.Key()] = rs
	}
	for i, k := range managed {
		var w zone.RRset
		switch {
		case i < 2:
			w = nw[i]
		case i == 2:
			w = behind
		default:
			w = old[i]
		}
		if got := d[k]; !got.Equal(w) {
			t.Errorf("%s: got %v, want %v", k, got, w)
		}
	}
}

// TestWriteOrder checks the order of writes Azure sees, including a name
// that swaps A for CNAME (the fake refuses a CNAME beside an A with 409,
// as Azure does), and that other names are never empty meanwhile.
func TestWriteOrder(t *testing.T) {
	a := func(name, ip string) zone.RRset { return mustSet(t, name+".example.com.", dns.TypeA, 300, ip) }
	key := func(name string) zone.Key { return zone.Key{Name: name + ".example.com.", Type: dns.TypeA} }
	cname := mustSet(t, "app.example.com.", dns.TypeCNAME, 300, "lb.example.net.")
	aaaa := mustSet(t, "app.example.com.", dns.TypeAAAA, 300, "2001:db8::1")
	tests := []struct {
		name    string
		seed    []zone.RRset
		changes []providers.Change
		want    []string
	}{
		{
			name: "creates and updates before deletes",
			seed: []zone.RRset{a("x", "192.0.2.1"), a("z", "192.0.2.3")},
			changes: []providers.Change{
				{Key: key("z"), Old: ptr(a("z", "192.0.2.3"))},
				{Key: key("x"), Old: ptr(a("x", "192.0.2.1")), New: ptr(a("x", "192.0.2.11"))},
				{Key: key("y"), New: ptr(a("y", "192.0.2.2"))},
			},
			want: []string{"create_or_update x.example.com. A", "create_or_update y.example.com. A", "delete z.example.com. A"},
		},
		{
			name: "A to CNAME swap runs last, delete then create",
			seed: []zone.RRset{a("app", "192.0.2.9"), a("x", "192.0.2.1")},
			changes: []providers.Change{
				{Key: cname.Key(), New: ptr(cname)},
				{Key: key("app"), Old: ptr(a("app", "192.0.2.9"))},
				{Key: key("x"), Old: ptr(a("x", "192.0.2.1")), New: ptr(a("x", "192.0.2.11"))},
			},
			want: []string{"create_or_update x.example.com. A", "delete app.example.com. A", "create_or_update app.example.com. CNAME"},
		},
		{
			name: "CNAME to A and AAAA",
			seed: []zone.RRset{cname},
			changes: []providers.Change{
				{Key: key("app"), New: ptr(a("app", "192.0.2.9"))},
				{Key: aaaa.Key(), New: ptr(aaaa)},
				{Key: cname.Key(), Old: ptr(cname)},
			},
			want: []string{"delete app.example.com. CNAME", "create_or_update app.example.com. A", "create_or_update app.example.com. AAAA"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			if err := srv.Put(tc.seed...); err != nil {
				t.Fatal(err)
			}
			managedNames := map[string]bool{}
			for _, c := range tc.changes {
				managedNames[c.Key.Name] = true
			}
			var seen, emptied []string
			srv.OnWrite(func(op string, k zone.Key) {
				if k.Type == dns.TypeTXT {
					return // the fence
				}
				seen = append(seen, op+" "+k.String())
				has := map[string]bool{}
				for _, rs := range srv.Dump() {
					has[rs.Name] = true
				}
				for n := range managedNames {
					if !has[n] && n != "app.example.com." && n != "y.example.com." {
						emptied = append(emptied, n)
					}
				}
			})
			p := newTestProvider(t, srv, nil, nil)
			if err := p.Apply(context.Background(), &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: tc.changes}); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !slices.Equal(seen, tc.want) {
				t.Errorf("order: got %v, want %v", seen, tc.want)
			}
			if len(emptied) > 0 {
				t.Errorf("names left empty between writes: got %v, want none", emptied)
			}
			d := map[zone.Key]zone.RRset{}
			for _, rs := range srv.Dump() {
				d[rs.Key()] = rs
			}
			for _, c := range tc.changes {
				got, ok := d[c.Key]
				switch {
				case c.New == nil && ok:
					t.Errorf("%s: got %v, want deleted", c.Key, got)
				case c.New != nil && !got.Equal(*c.New):
					t.Errorf("%s: got %v, want %v", c.Key, got, *c.New)
				}
			}
		})
	}
}

// TestConvertRoundTrip converts RRsets of every type Azure holds to a
// record set body and back.
func TestConvertRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 600)
	tests := []struct {
		name string
		set  zone.RRset
	}{
		{"A", mustSet(t, "www.example.com.", dns.TypeA, 300, "192.0.2.1", "192.0.2.2")},
		{"AAAA", mustSet(t, "www.example.com.", dns.TypeAAAA, 300, "2001:db8::1")},
		{"CAA", mustSet(t, "example.com.", dns.TypeCAA, 300, `0 issue "letsencrypt.org"`, `128 iodef "mailto:a\"b@example.com"`)},
		{"CNAME", mustSet(t, "app.example.com.", dns.TypeCNAME, 60, "lb.example.net.")},
		{"MX", mustSet(t, "example.com.", dns.TypeMX, 300, "10 mx1.example.com.", "20 mx2.example.com.")},
		{"null MX", mustSet(t, "nomail.example.com.", dns.TypeMX, 300, "0 .")},
		{"NS", mustSet(t, "sub.example.com.", dns.TypeNS, 300, "ns1.example.net.")},
		{"PTR", mustSet(t, "1.example.com.", dns.TypePTR, 300, "host.example.net.")},
		{"SRV", mustSet(t, "_sip._tcp.example.com.", dns.TypeSRV, 300, "10 5 5060 sip.example.com.")},
		{"TXT escapes", mustSet(t, "t.example.com.", dns.TypeTXT, 300, `"a \"quoted\" word" "back\\slash"`, `"caf\195\169"`)},
		{"TXT 600 bytes", mustSet(t, "long.example.com.", dns.TypeTXT, 300, `"`+long+`"`)},
		{"fence", providers.FenceRRset(testZone, 42)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := toRecordSet(tc.set)
			if err != nil {
				t.Fatalf("toRecordSet: %v", err)
			}
			back, err := fromRecordSet(tc.set.Name, tc.set.Type, &rs)
			if err != nil {
				t.Fatalf("fromRecordSet: %v", err)
			}
			if !back.Equal(tc.set) {
				t.Errorf("round trip: got\n%s\nwant\n%s", back, tc.set)
			}
			for _, r := range rs.Properties.TxtRecords {
				for _, v := range r.Value {
					if len(*v) > 255 {
						t.Errorf("TXT value of %d bytes: got longer than 255, want split", len(*v))
					}
				}
			}
		})
	}
	t.Run("600-byte TXT is three strings", func(t *testing.T) {
		s := mustSet(t, "long.example.com.", dns.TypeTXT, 300, `"`+long+`"`)
		rs, err := toRecordSet(s)
		if err != nil {
			t.Fatal(err)
		}
		var lens []int
		for _, v := range rs.Properties.TxtRecords[0].Value {
			lens = append(lens, len(*v))
		}
		if !slices.Equal(lens, []int{255, 255, 90}) {
			t.Errorf("value lengths: got %v, want [255 255 90]", lens)
		}
	})
	for _, bad := range []zone.RRset{
		mustSet(t, "x.example.com.", dns.TypeDS, 300, "12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"),
		mustSet(t, "x.example.com.", dns.TypeCNAME, 300, "a.example.net.", "b.example.net."),
	} {
		t.Run("refused "+bad.Key().String(), func(t *testing.T) {
			if _, err := toRecordSet(bad); !errors.Is(err, providers.ErrInvalid) {
				t.Errorf("toRecordSet: got %v, want ErrInvalid", err)
			}
		})
	}
}

// TestEmptyRecordSet: Azure keeps record sets without records; Read
// reports them absent and a create takes them over by their ETag.
func TestEmptyRecordSet(t *testing.T) {
	srv := newFake(t)
	p := newTestProvider(t, srv, nil, nil)
	www := mustSet(t, "www.example.com.", dns.TypeA, 300, "192.0.2.1")
	srv.PutEmpty(www.Key())
	ctx := context.Background()
	c, err := p.Read(ctx, testZone, []zone.Key{www.Key()})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Lookup(www.Key()); ok {
		t.Fatalf("read of an empty record set: got %v, want absent", got)
	}
	if _, err := providertest.Reconcile(ctx, p, testZone, 1, []zone.RRset{www}, []zone.Key{www.Key()}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	c, err = p.Read(ctx, testZone, []zone.Key{www.Key()})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Lookup(www.Key()); !got.Equal(www) {
		t.Errorf("after create: got %v, want %v", got, www)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *config.Provider
		wantErr bool
	}{
		{"valid", testConfig(), false},
		{"no settings", &config.Provider{Type: config.ProviderAzureDNS}, true},
		{"no resource group", &config.Provider{Type: config.ProviderAzureDNS, AzureDNS: &config.AzureDNSSettings{SubscriptionID: testSub}}, true},
		{"http endpoint", &config.Provider{Type: config.ProviderAzureDNS, AzureDNS: &config.AzureDNSSettings{SubscriptionID: testSub, ResourceGroup: testRG, Endpoint: "http://127.0.0.1:1"}}, true},
		{"https endpoint", &config.Provider{Type: config.ProviderAzureDNS, AzureDNS: &config.AzureDNSSettings{SubscriptionID: testSub, ResourceGroup: testRG, Endpoint: "https://management.usgovcloudapi.net"}}, false},
		{"bad zone name", &config.Provider{Type: config.ProviderAzureDNS, AzureDNS: &config.AzureDNSSettings{SubscriptionID: testSub, ResourceGroup: testRG, ZoneName: "bad..name"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New("az", tc.cfg, providers.Env{})
			if tc.wantErr {
				if !errors.Is(err, providers.ErrInvalid) {
					t.Errorf("New: got %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: got %v, want success", err)
			}
			if got := p.Capabilities(); got.Atomic {
				t.Errorf("capabilities: got Atomic true, want false")
			}
		})
	}
	t.Run("other zone", func(t *testing.T) {
		p := newTestProvider(t, newFake(t), nil, nil)
		_, err := p.Read(context.Background(), "example.org.", nil)
		if !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("read of another zone: got %v, want ErrInvalid", err)
		}
	})
	t.Run("wrong resource group", func(t *testing.T) {
		cfg := testConfig()
		cfg.AzureDNS.ResourceGroup = "not-" + testRG
		srv := newFake(t)
		p, err := newProvider("az", cfg, providers.Env{}, options{transport: srv.Transport(), credential: &azfake.TokenCredential{}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Read(context.Background(), testZone, []zone.Key{{Name: "www.example.com.", Type: dns.TypeA}})
		if !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("read from a zone that is not there: got %v, want ErrInvalid", err)
		}
	})
	t.Run("registry", func(t *testing.T) {
		r := providers.NewRegistry()
		r.Register(Type, New)
		if _, err := r.New("az", testConfig(), providers.Env{}); err != nil {
			t.Errorf("registry New: got %v, want success", err)
		}
	})
}

// TestVerifyOverDNS reconciles through the API and queries the fake's
// name server on loopback, over UDP and TCP, as the reconciler's
// verification step does.
func TestVerifyOverDNS(t *testing.T) {
	srv := newFake(t)
	addr, err := srv.ServeDNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	p := newTestProvider(t, srv, nil, nil)
	ctx := context.Background()
	www := mustSet(t, "www.example.com.", dns.TypeA, 30, "192.0.2.1", "192.0.2.2")
	long := mustSet(t, "long.example.com.", dns.TypeTXT, 30, `"`+strings.Repeat("y", 600)+`"`)
	managed := []zone.Key{www.Key(), long.Key()}
	if _, err := providertest.Reconcile(ctx, p, testZone, 1, []zone.RRset{www, long}, managed); err != nil {
		t.Fatal(err)
	}
	query := func(t *testing.T, net, name string, qt uint16) *dns.Msg {
		t.Helper()
		c := &dns.Client{Net: net, Timeout: 2 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion(name, qt)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s query %s: %v", net, name, err)
		}
		return r
	}
	for _, nw := range []string{"udp", "tcp"} {
		t.Run(nw, func(t *testing.T) {
			r := query(t, nw, "www.example.com.", dns.TypeA)
			if got := zone.FromRRs(r.Answer); len(got) != 1 || !got[0].Equal(www) {
				t.Errorf("www A: got %v, want %v", got, www)
			}
			if !r.Authoritative {
				t.Errorf("AA: got false, want true")
			}
			r = query(t, nw, "missing.example.com.", dns.TypeA)
			if r.Rcode != dns.RcodeNameError {
				t.Errorf("missing: got rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
			}
		})
	}
	r := query(t, "tcp", "long.example.com.", dns.TypeTXT)
	if got := zone.FromRRs(r.Answer); len(got) != 1 || !got[0].Equal(long) {
		t.Errorf("long TXT over TCP: got %v, want %v", got, long)
	}
	if _, err := providertest.Reconcile(ctx, p, testZone, 2, nil, managed); err != nil {
		t.Fatal(err)
	}
	if r := query(t, "udp", "www.example.com.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("www after delete: got rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}

// TestThrottleWindow: after a 429 with Retry-After, calls fail fast with
// the remaining wait and send nothing until that time has passed.
func TestThrottleWindow(t *testing.T) {
	srv := newFake(t)
	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p, err := newProvider("az", testConfig(), providers.Env{}, options{
		transport: srv.Transport(), credential: &azfake.TokenCredential{}, retryDelay: time.Millisecond, now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	www := mustSet(t, "www.example.com.", dns.TypeA, 300, "192.0.2.1")
	cs := &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: www.Key(), New: ptr(www)}}}
	ctx := context.Background()
	srv.Fail(azurednstest.Fault{Status: 429, RetryAfter: 10 * time.Second})
	if err := p.Apply(ctx, cs); !errors.Is(err, providers.ErrThrottled) {
		t.Fatalf("apply into a 429: got %v, want throttled", err)
	}
	tests := []struct {
		name      string
		advance   time.Duration
		wantAfter time.Duration // 0: the call goes through
	}{
		{"at once", 0, 10 * time.Second},
		{"4s later", 4 * time.Second, 6 * time.Second},
		{"after the window", 6 * time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			advance(tc.advance)
			r0 := srv.Requests()
			_, err := p.Read(ctx, testZone, []zone.Key{www.Key()})
			got, _ := providers.RetryAfter(err)
			if got != tc.wantAfter {
				t.Errorf("read: got retry-after %v (%v), want %v", got, err, tc.wantAfter)
			}
			sent := srv.Requests() - r0
			if tc.wantAfter > 0 && sent != 0 {
				t.Errorf("requests while throttled: got %d, want 0", sent)
			}
			if tc.wantAfter == 0 && (err != nil || sent == 0) {
				t.Errorf("read after the window: got %v and %d requests, want success with requests", err, sent)
			}
		})
	}
	if err := p.Apply(ctx, cs); err != nil {
		t.Errorf("apply after the window: got %v, want success", err)
	}
}

// TestReadStrategy: a few keys are one GET each (the fence included); many
// keys list the zone, 100 record sets a page.
func TestReadStrategy(t *testing.T) {
	tests := []struct {
		name         string
		keys         int
		seeded       int
		wantRequests int
	}{
		{"one key", 1, 1, 2},
		{"fifteen keys and the fence, one GET each", 15, 15, 16},
		{"seventeen keys and the fence list one page", 17, 17, 1},
		{"250 keys list three pages", 250, 250, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			var keys []zone.Key
			for i := range tc.seeded {
				s := mustSet(t, fmt.Sprintf("h%03d.example.com.", i), dns.TypeA, 300, "192.0.2.1")
				if err := srv.Put(s); err != nil {
					t.Fatal(err)
				}
				if i < tc.keys {
					keys = append(keys, s.Key())
				}
			}
			p := newTestProvider(t, srv, nil, nil)
			r0 := srv.Requests()
			c, err := p.Read(context.Background(), testZone, keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.RRsets) != tc.keys {
				t.Errorf("read: got %d RRsets, want %d", len(c.RRsets), tc.keys)
			}
			if got := srv.Requests() - r0; got != tc.wantRequests {
				t.Errorf("requests: got %d, want %d", got, tc.wantRequests)
			}
		})
	}
}

// TestAliasRecordSetRefused: an alias record set (it points at an Azure
// resource) is not switchboard's to manage, so reading it is an error
// rather than an empty set a create could overwrite.
func TestAliasRecordSetRefused(t *testing.T) {
	srv := newFake(t)
	c, err := armdns.NewRecordSetsClient(testSub, &azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: srv.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	alias := armdns.RecordSet{Properties: &armdns.RecordSetProperties{
		TTL:            to.Ptr[int64](60),
		TargetResource: &armdns.SubResource{ID: to.Ptr("/subscriptions/" + testSub + "/resourceGroups/web/providers/Microsoft.Network/publicIPAddresses/lb")},
	}}
	if _, err := c.CreateOrUpdate(context.Background(), testRG, "example.com", "www", armdns.RecordTypeA, alias, nil); err != nil {
		t.Fatal(err)
	}
	p := newTestProvider(t, srv, nil, nil)
	_, err = p.Read(context.Background(), testZone, []zone.Key{{Name: "www.example.com.", Type: dns.TypeA}})
	if !errors.Is(err, providers.ErrInvalid) {
		t.Errorf("read of an alias record set: got %v, want ErrInvalid", err)
	}
}

// TestConcurrentUse reads from several goroutines while one applies; run
// with -race it shows the provider's shared state is guarded.
func TestConcurrentUse(t *testing.T) {
	srv := newFake(t)
	p := newTestProvider(t, srv, nil, nil)
	ctx := context.Background()
	var keys []zone.Key
	var sets []zone.RRset
	for i := range 4 {
		s := mustSet(t, fmt.Sprintf("c%d.example.com.", i), dns.TypeA, 300, "192.0.2.1")
		sets = append(sets, s)
		keys = append(keys, s.Key())
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := p.Read(ctx, testZone, keys); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for gen := uint64(1); gen <= 5; gen++ {
			want := sets
			if gen%2 == 0 {
				want = sets[:2]
			}
			if _, err := providertest.Reconcile(ctx, p, testZone, gen, want, keys); err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: got %v, want success", err)
	}
	c, err := p.Read(ctx, testZone, keys)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fence != 5 || len(c.RRsets) != 4 {
		t.Errorf("after 5 generations: got fence %d and %d RRsets, want 5 and 4", c.Fence, len(c.RRsets))
	}
}

// TestETagsFromRead: after a Read, an Apply of updates and deletes uses
// the ETags it saw and sends no GET; a change whose Old is not what the
// Read saw costs one GET before its write.
func TestETagsFromRead(t *testing.T) {
	srv := newFake(t)
	p := newTestProvider(t, srv, nil, nil)
	ctx := context.Background()
	const n = 300
	var old, nw []zone.RRset
	var keys []zone.Key
	for i := range n {
		name := fmt.Sprintf("e%03d.example.com.", i)
		old = append(old, mustSet(t, name, dns.TypeA, 300, "192.0.2.1"))
		nw = append(nw, mustSet(t, name, dns.TypeA, 300, "192.0.2.2"))
		keys = append(keys, old[i].Key())
	}
	if _, err := providertest.Reconcile(ctx, p, testZone, 1, old, keys); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r0, w0 := srv.Requests(), srv.Writes()
	if _, err := providertest.Reconcile(ctx, p, testZone, 2, nw, keys); err != nil {
		t.Fatal(err)
	}
	reads := (srv.Requests() - r0) - (srv.Writes() - w0)
	t.Logf("update of %d RRsets: %d writes, %d reads in %v", n, srv.Writes()-w0, reads, time.Since(start).Round(time.Millisecond))
	if got := srv.Writes() - w0; got != n+1 {
		t.Errorf("writes: got %d, want %d (fence and one per RRset)", got, n+1)
	}
	if want := n/100 + 1; reads != want {
		t.Errorf("reads: got %d, want %d (the listing pages only)", reads, want)
	}
	// Someone rewrites e000 with the same content: the remembered ETag is
	// stale but the content matches, so the update goes through after
	// one GET.
	if err := srv.Put(nw[0]); err != nil {
		t.Fatal(err)
	}
	newer := mustSet(t, "e000.example.com.", dns.TypeA, 300, "192.0.2.3")
	r0, w0 = srv.Requests(), srv.Writes()
	err := p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 3, ExpectFence: 2, Changes: []providers.Change{{Key: keys[0], Old: ptr(nw[0]), New: ptr(newer)}}})
	if err != nil {
		t.Fatalf("apply after a same-content rewrite: got %v, want success", err)
	}
	if got, want := srv.Writes()-w0, 3; got != want {
		t.Errorf("writes: got %d, want %d (fence, refused update, update)", got, want)
	}
	if got, want := (srv.Requests()-r0)-(srv.Writes()-w0), 1; got != want {
		t.Errorf("reads: got %d, want %d", got, want)
	}
}
