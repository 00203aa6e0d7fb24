package route53test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

// post sends a change batch of the given <Change> elements and returns
// the status and body.
func post(t *testing.T, s *Server, id string, changes ...string) (int, string) {
	t.Helper()
	body := `<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="` + Namespace + `"><ChangeBatch><Changes>` +
		strings.Join(changes, "") + `</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
	resp, err := http.Post(s.URL()+"/2013-04-01/hostedzone/"+id+"/rrset", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func change(action, name, typ string, ttl int, values ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<Change><Action>%s</Action><ResourceRecordSet><Name>%s</Name><Type>%s</Type><TTL>%d</TTL><ResourceRecords>", action, name, typ, ttl)
	for _, v := range values {
		fmt.Fprintf(&b, "<ResourceRecord><Value>%s</Value></ResourceRecord>", v)
	}
	b.WriteString("</ResourceRecords></ResourceRecordSet></Change>")
	return b.String()
}

func TestChangeBatchSemantics(t *testing.T) {
	s := New(t)
	id := s.AddZone("example.com.")
	www := zone.MustRRset("www.example.com.", dns.TypeA, 300, "192.0.2.1", "192.0.2.2")
	tests := []struct {
		name       string
		changes    []string
		wantStatus int
		wantBody   string // substring
		want       *zone.RRset
	}{
		{"delete exact", []string{change("DELETE", "www.example.com.", "A", 300, "192.0.2.2", "192.0.2.1")}, 200, "<Status>PENDING</Status>", nil},
		{"delete wrong ttl", []string{change("DELETE", "www.example.com.", "A", 301, "192.0.2.1", "192.0.2.2")}, 400, "do not match", &www},
		{"delete missing value", []string{change("DELETE", "www.example.com.", "A", 300, "192.0.2.1")}, 400, "do not match", &www},
		{"delete absent", []string{change("DELETE", "api.example.com.", "A", 300, "192.0.2.1")}, 400, "it was not found", &www},
		{"create existing", []string{change("CREATE", "www.example.com.", "A", 300, "192.0.2.9")}, 400, "already exists", &www},
		{"upsert", []string{change("UPSERT", "www.example.com.", "A", 60, "192.0.2.9")}, 200, "PENDING", ptr(zone.MustRRset("www.example.com.", dns.TypeA, 60, "192.0.2.9"))},
		{"delete twice", []string{change("DELETE", "www.example.com.", "A", 300, "192.0.2.1", "192.0.2.2"), change("DELETE", "www.example.com.", "A", 300, "192.0.2.1", "192.0.2.2")}, 400, "more than once", &www},
		{"atomic: valid delete+create, then a bad delete", []string{
			change("DELETE", "www.example.com.", "A", 300, "192.0.2.1", "192.0.2.2"),
			change("CREATE", "www.example.com.", "A", 300, "192.0.2.5"),
			change("DELETE", "nope.example.com.", "A", 300, "192.0.2.1"),
		}, 400, "<InvalidChangeBatch", &www},
		{"outside the zone", []string{change("CREATE", "www.example.net.", "A", 300, "192.0.2.1")}, 400, "not permitted in zone", &www},
		{"bad value", []string{change("CREATE", "bad.example.com.", "A", 300, "not-an-address")}, 400, "Invalid Resource Record", &www},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset(id)
			s.Put(id, www)
			status, body := post(t, s, id, tc.changes...)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("got %d %s, want %d containing %q", status, body, tc.wantStatus, tc.wantBody)
			}
			var got *zone.RRset
			for _, rs := range s.Dump(id) {
				if rs.Key() == www.Key() {
					got = &rs
				}
			}
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("after: got %v, want absent", got)
			case tc.want != nil && (got == nil || !got.Equal(*tc.want)):
				t.Errorf("after: got %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr(s zone.RRset) *zone.RRset { return &s }

func TestChangeBatchLimits(t *testing.T) {
	s := New(t)
	id := s.AddZone("example.com.")
	many := func(n int) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		}
		return v
	}
	long := func(n int) []string { // TXT values of 250 characters each
		v := make([]string, n)
		for i := range v {
			v[i] = fmt.Sprintf(`"%03d%s"`, i, strings.Repeat("x", 245))
		}
		return v
	}
	tests := []struct {
		name    string
		changes []string
		want    int
	}{
		{"1000 records", []string{change("CREATE", "a.example.com.", "A", 60, many(1000)...)}, 200},
		{"1001 records", []string{change("CREATE", "a.example.com.", "A", 60, many(1001)...)}, 400},
		{"501 records upserted count twice", []string{change("UPSERT", "a.example.com.", "A", 60, many(501)...)}, 400},
		{"32000 characters", []string{change("CREATE", "t.example.com.", "TXT", 60, long(128)...)}, 200},
		{"over 32000 characters", []string{change("CREATE", "t.example.com.", "TXT", 60, long(129)...)}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset(id)
			if status, body := post(t, s, id, tc.changes...); status != tc.want {
				t.Errorf("got %d %s, want %d", status, body, tc.want)
			}
		})
	}
}

func TestListOrderAndPaging(t *testing.T) {
	s := New(t)
	id := s.AddZone("example.com.")
	s.Put(id,
		zone.MustRRset("b.example.com.", dns.TypeA, 60, "192.0.2.1"),
		zone.MustRRset("a.b.example.com.", dns.TypeA, 60, "192.0.2.2"),
		zone.MustRRset("a.example.com.", dns.TypeTXT, 60, `"t"`),
		zone.MustRRset("a.example.com.", dns.TypeAAAA, 60, "2001:db8::1"),
		zone.MustRRset("*.example.com.", dns.TypeA, 60, "192.0.2.3"),
	)
	// Reversed labels, then type name: example.com (NS, SOA), *.example.com,
	// a.example.com (AAAA, TXT), b.example.com, a.b.example.com.
	want := []string{"example.com. NS", "example.com. SOA", `\052.example.com. A`, "a.example.com. AAAA", "a.example.com. TXT", "b.example.com. A", "a.b.example.com. A"}
	var got []string
	q := url.Values{"maxitems": {"2"}}
	for page := 0; page < 10; page++ {
		status, body := get(t, s, "/2013-04-01/hostedzone/"+id+"/rrset?"+q.Encode())
		if status != 200 {
			t.Fatalf("page %d: got %d %s", page, status, body)
		}
		var out listRRsetsResponse
		if err := xmlUnmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		for _, rs := range out.RRsets {
			got = append(got, rs.Name+" "+rs.Type)
		}
		if !out.IsTruncated {
			break
		}
		q = url.Values{"maxitems": {"2"}, "name": {out.NextRecordName}, "type": {out.NextRecordType}}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if status, _ := get(t, s, "/2013-04-01/hostedzone/"+id+"/rrset?type=A"); status != 400 {
		t.Errorf("type without name: got %d, want 400", status)
	}
	if status, body := get(t, s, "/2013-04-01/hostedzone/ZNOPE/rrset"); status != 404 || !strings.Contains(body, "NoSuchHostedZone") {
		t.Errorf("unknown zone: got %d %s, want 404 NoSuchHostedZone", status, body)
	}
}

func TestFaults(t *testing.T) {
	s := New(t)
	id := s.AddZone("example.com.")
	s.ThrottleNext(1, 2)
	resp, err := http.Get(s.URL() + "/2013-04-01/hostedzone/" + id + "/rrset")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "<Code>Throttling</Code>") || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("throttled: got %d %q retry-after %q, want 400 Throttling 2", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	s.FailNextWrites(1, 503, "ServiceUnavailable", "down")
	if status, _ := get(t, s, "/2013-04-01/hostedzone/"+id+"/rrset"); status != 200 {
		t.Errorf("read with a write fault pending: got %d, want 200", status)
	}
	w0 := s.Writes()
	if status, body := post(t, s, id, change("CREATE", "x.example.com.", "A", 60, "192.0.2.1")); status != 503 || !strings.Contains(body, "<Type>Receiver</Type>") {
		t.Errorf("write fault: got %d %s, want 503 Receiver", status, body)
	}
	ran := false
	s.BeforeNextWrite(func() {
		ran = true
		s.Put(id, zone.MustRRset("x.example.com.", dns.TypeA, 60, "192.0.2.7"))
	})
	if status, body := post(t, s, id, change("CREATE", "x.example.com.", "A", 60, "192.0.2.1")); status != 400 || !strings.Contains(body, "already exists") {
		t.Errorf("create after a concurrent write: got %d %s, want 400 already exists", status, body)
	}
	if !ran {
		t.Errorf("BeforeNextWrite hook: got not run, want run")
	}
	if got := s.Writes() - w0; got != 2 {
		t.Errorf("writes: got %d, want 2", got)
	}
	s.FailNext(100, 503, "ServiceUnavailable", "down")
	if status, _ := get(t, s, "/2013-04-01/hostedzone/"+id+"/rrset"); status != 503 {
		t.Errorf("read with faults pending: got %d, want 503", status)
	}
	s.ClearFaults()
	if status, _ := get(t, s, "/2013-04-01/hostedzone/"+id+"/rrset"); status != 200 {
		t.Errorf("read after ClearFaults: got %d, want 200", status)
	}
}

func TestGetChangeAndZonesByName(t *testing.T) {
	s := New(t)
	id := s.AddZone("example.com.")
	s.AddZoneID("ZPRIVATE", "example.com.", true)
	s.SetInsyncAfter(2)
	_, body := post(t, s, id, change("CREATE", "x.example.com.", "A", 60, "192.0.2.1"))
	var cr changeResponse
	if err := xmlUnmarshal(body, &cr); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"PENDING", "PENDING", "INSYNC", "INSYNC"} {
		_, body := get(t, s, "/2013-04-01"+cr.ChangeInfo.ID)
		if !strings.Contains(body, "<Status>"+want+"</Status>") {
			t.Errorf("poll %d: got %s, want %s", i, body, want)
		}
	}
	_, body = get(t, s, "/2013-04-01/hostedzonesbyname?dnsname=example.com.")
	if !strings.Contains(body, "/hostedzone/"+id) || !strings.Contains(body, "<PrivateZone>true</PrivateZone>") {
		t.Errorf("zones by name: got %s, want both zones", body)
	}
}

func TestDNS(t *testing.T) {
	s := New(t)
	id := s.AddZone("example.com.")
	s.Put(id, zone.MustRRset("www.example.com.", dns.TypeA, 60, "192.0.2.1", "192.0.2.2"))
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"answer", "WWW.example.com.", dns.TypeA, dns.RcodeSuccess, 2},
		{"nodata", "www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, 0},
		{"nxdomain", "nope.example.com.", dns.TypeA, dns.RcodeNameError, 0},
		{"apex ns", "example.com.", dns.TypeNS, dns.RcodeSuccess, 4},
		{"refused outside", "example.net.", dns.TypeA, dns.RcodeRefused, 0},
	}
	for _, netw := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				r, _, err := (&dns.Client{Net: netw}).Exchange(m, s.DNSAddr())
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tc.rcode || len(r.Answer) != tc.answers {
					t.Errorf("got rcode %s with %d answers, want %s with %d", dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tc.rcode], tc.answers)
				}
				if tc.rcode != dns.RcodeRefused && !r.Authoritative {
					t.Errorf("got AA=false, want true")
				}
			})
		}
	}
}

func xmlUnmarshal(body string, v any) error { return xml.Unmarshal([]byte(body), v) }
