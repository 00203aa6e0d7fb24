package clouddnstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start("p", "z", "example.com.")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func post(t *testing.T, s *Server, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.URL()+"dns/v1/projects/p/managedZones/z/changes", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct {
			Errors []struct{ Reason string } `json:"errors"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	reason := ""
	if len(e.Error.Errors) > 0 {
		reason = e.Error.Errors[0].Reason
	}
	return resp.StatusCode, reason
}

func rrJSON(name, typ string, ttl int, data ...string) string {
	b, _ := json.Marshal(map[string]any{"name": name, "type": typ, "ttl": ttl, "rrdatas": data})
	return string(b)
}

// TestChangeSemantics checks the fake against the Cloud DNS semantics the
// provider relies on, with raw requests.
func TestChangeSemantics(t *testing.T) {
	a1 := rrJSON("www.example.com.", "A", 30, "192.0.2.1")
	tests := []struct {
		name       string
		body       string
		wantCode   int
		wantReason string
		wantWWW    []string // rrdatas of www A afterwards (nil: absent)
	}{
		{"exact delete and add", `{"deletions":[` + a1 + `],"additions":[` + rrJSON("www.example.com.", "A", 30, "192.0.2.2") + `]}`, 200, "", []string{"192.0.2.2"}},
		{"delete and re-add the same set", `{"deletions":[` + a1 + `],"additions":[` + a1 + `]}`, 200, "", []string{"192.0.2.1"}},
		{"delete with other ttl", `{"deletions":[` + rrJSON("www.example.com.", "A", 60, "192.0.2.1") + `]}`, 412, "conditionNotMet", []string{"192.0.2.1"}},
		{"delete with other data", `{"deletions":[` + rrJSON("www.example.com.", "A", 30, "192.0.2.9") + `]}`, 412, "conditionNotMet", []string{"192.0.2.1"}},
		{"delete of absent", `{"deletions":[` + rrJSON("x.example.com.", "A", 30, "192.0.2.1") + `]}`, 404, "notFound", []string{"192.0.2.1"}},
		{"add existing", `{"additions":[` + a1 + `]}`, 409, "alreadyExists", []string{"192.0.2.1"}},
		{"atomic: good delete and add, then an existing add", `{"deletions":[` + a1 + `],"additions":[` + rrJSON("n.example.com.", "A", 30, "192.0.2.3") + `,` + rrJSON("example.com.", "NS", 300, "ns.example.net.") + `]}`, 409, "alreadyExists", []string{"192.0.2.1"}},
		{"same key twice", `{"additions":[` + rrJSON("n.example.com.", "A", 30, "192.0.2.3") + `,` + rrJSON("n.example.com.", "A", 30, "192.0.2.4") + `]}`, 400, "invalid", []string{"192.0.2.1"}},
		{"atomic: good add, bad delete", `{"additions":[` + rrJSON("n.example.com.", "A", 30, "192.0.2.3") + `],"deletions":[` + rrJSON("www.example.com.", "A", 31, "192.0.2.1") + `]}`, 412, "conditionNotMet", []string{"192.0.2.1"}},
		{"out of zone", `{"additions":[` + rrJSON("www.example.org.", "A", 30, "192.0.2.1") + `]}`, 400, "invalid", []string{"192.0.2.1"}},
		{"rrdata size", `{"additions":[` + rrJSON("big.example.com.", "TXT", 30, strings.Repeat(`"`+strings.Repeat("x", 250)+`" `, 400)) + `]}`, 400, "quotaExceeded", []string{"192.0.2.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			s.Put(zone.MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.1"))
			before := len(s.Dump())
			code, reason := post(t, s, tc.body)
			if code != tc.wantCode || reason != tc.wantReason {
				t.Errorf("got %d %q, want %d %q", code, reason, tc.wantCode, tc.wantReason)
			}
			var got []string
			for _, set := range s.Dump() {
				if set.Key() == (zone.Key{Name: "www.example.com.", Type: dns.TypeA}) {
					got = set.Data
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantWWW) {
				t.Errorf("got www %v, want %v", got, tc.wantWWW)
			}
			if code != 200 && len(s.Dump()) != before {
				t.Errorf("got %d rrsets after a refused change, want %d", len(s.Dump()), before)
			}
			if got := s.Writes(); got != 1 {
				t.Errorf("got %d writes, want 1", got)
			}
		})
	}
	t.Run("addition limit", func(t *testing.T) {
		s := start(t)
		s.SetLimits(2, 2)
		var adds []string
		for i := range 3 {
			adds = append(adds, rrJSON(fmt.Sprintf("h%d.example.com.", i), "A", 30, "192.0.2.1"))
		}
		if code, reason := post(t, s, `{"additions":[`+strings.Join(adds, ",")+`]}`); code != 400 || reason != "quotaExceeded" {
			t.Errorf("got %d %q, want 400 quotaExceeded", code, reason)
		}
		if code, _ := post(t, s, `{"additions":[`+strings.Join(adds[:2], ",")+`]}`); code != 200 {
			t.Errorf("got %d, want 200", code)
		}
	})
}

// TestListPaging lists a zone larger than a page while it changes
// between pages: every RRset present throughout is seen exactly once.
func TestListPaging(t *testing.T) {
	s := start(t)
	s.SetPageSize(7)
	for i := range 30 {
		s.Put(zone.MustRRset(fmt.Sprintf("h%02d.example.com.", i), dns.TypeA, 30, "192.0.2.1"))
	}
	seen := map[string]int{}
	token := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		u := s.URL() + "dns/v1/projects/p/managedZones/z/rrsets?maxResults=1000&pageToken=" + url.QueryEscape(token)
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Rrsets        []struct{ Name, Type string } `json:"rrsets"`
			NextPageToken string                        `json:"nextPageToken"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Rrsets) > 7 {
			t.Fatalf("got page of %d, want at most 7", len(page.Rrsets))
		}
		for _, r := range page.Rrsets {
			seen[r.Name+" "+r.Type]++
		}
		if pages == 1 { // a change between pages, before the cursor
			s.Put(zone.RRset{Name: "h00.example.com.", Type: dns.TypeA})
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	for i := 1; i < 30; i++ {
		if n := seen[fmt.Sprintf("h%02d.example.com. A", i)]; n != 1 {
			t.Errorf("h%02d seen %d times, want 1", i, n)
		}
	}
	if seen["example.com. SOA"] != 1 || seen["example.com. NS"] != 1 {
		t.Errorf("got apex %v, want SOA and NS once", seen)
	}
}

// TestServesDNS: the zone is answered over UDP and TCP from its current
// content, with NXDOMAIN and NODATA carrying the SOA.
func TestServesDNS(t *testing.T) {
	s := start(t)
	s.Put(zone.MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.1"))
	tests := []struct {
		net, name string
		qtype     uint16
		rcode     int
		answers   int
	}{
		{"udp", "www.example.com.", dns.TypeA, dns.RcodeSuccess, 1},
		{"tcp", "WWW.example.com.", dns.TypeA, dns.RcodeSuccess, 1},
		{"udp", "www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, 0},
		{"udp", "nope.example.com.", dns.TypeA, dns.RcodeNameError, 0},
		{"udp", "www.example.org.", dns.TypeA, dns.RcodeRefused, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %s %s", tc.net, tc.name, dns.TypeToString[tc.qtype]), func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tc.name, tc.qtype)
			c := &dns.Client{Net: tc.net}
			in, _, err := c.Exchange(m, s.DNSAddr())
			if err != nil {
				t.Fatal(err)
			}
			if in.Rcode != tc.rcode || len(in.Answer) != tc.answers {
				t.Errorf("got rcode %s with %d answers, want %s with %d", dns.RcodeToString[in.Rcode], len(in.Answer), dns.RcodeToString[tc.rcode], tc.answers)
			}
			if tc.rcode != dns.RcodeRefused && tc.answers == 0 && (len(in.Ns) != 1 || in.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("got authority %v, want the SOA", in.Ns)
			}
		})
	}
}
