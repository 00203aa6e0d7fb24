package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// valid is a small policy every malformed case starts from. Cases replace
// whole sections so that the line numbers they assert can be read off the
// case itself.
const validPolicy = `zones:
  - name: Example.COM
    providers: [embedded]
    nameservers: [ns1.example.com.]
checks:
  web: {type: http, interval: 2s, timeout: 1s}
endpoints:
  - {name: a, address: 192.0.2.1, check: web}
  - {name: b, address: 192.0.2.2, check: web}
pools:
  p1: {endpoints: [a]}
  p2: {endpoints: [b]}
records:
  - {name: www.example.com, type: A, pools: [p1, p2]}
`

func TestParseValid(t *testing.T) {
	cfg, err := Parse("valid.yaml", []byte(validPolicy))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p := cfg.Policy
	if got, want := p.Zones[0].Name, "example.com."; got != want {
		t.Errorf("zone name: got %q, want %q", got, want)
	}
	if got, want := p.Records[0].Name, "www.example.com."; got != want {
		t.Errorf("record name: got %q, want %q", got, want)
	}
	if got, want := p.Records[0].TTL, int64(DefaultRecordTTL); got != want {
		t.Errorf("record ttl default: got %d, want %d", got, want)
	}
	if got, want := p.Zones[0].SOA.MName, "ns1.example.com."; got != want {
		t.Errorf("soa mname default: got %q, want %q", got, want)
	}
	if got, want := p.Zones[0].SOA.RName, "hostmaster.example.com."; got != want {
		t.Errorf("soa rname default: got %q, want %q", got, want)
	}
	c := p.Checks["web"]
	if c.Rise != 2 || c.Fall != 2 || c.RecheckInterval.D() != 100*time.Millisecond || c.Method != "GET" || c.Path != "/" || c.ExpectStatus != "200-399" {
		t.Errorf("check defaults: got %+v", c)
	}
	if cfg.HasNode() {
		t.Errorf("HasNode: got true for a policy-only file, want false")
	}
}

func TestExplicitZeroes(t *testing.T) {
	// ttl: 0 is a legal TTL and must survive defaulting.
	doc := strings.Replace(validPolicy, "type: A, pools", "type: A, ttl: 0, pools", 1)
	cfg, err := Parse("zero.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := cfg.Records[0].TTL; got != 0 {
		t.Errorf("explicit ttl 0: got %d, want 0", got)
	}
}

func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Errorf("Load(%s):\n%v", f, err)
			}
		})
	}
}

func TestPolicyJSONRoundTrip(t *testing.T) {
	cfg, err := Parse("valid.yaml", []byte(validPolicy))
	if err != nil {
		t.Fatal(err)
	}
	back, err := PolicyFromJSON(cfg.Policy.JSON())
	if err != nil {
		t.Fatalf("PolicyFromJSON: %v", err)
	}
	if got, want := string(back.JSON()), string(cfg.Policy.JSON()); got != want {
		t.Errorf("round trip:\ngot  %s\nwant %s", got, want)
	}
}

func TestPolicyValidateWithoutFile(t *testing.T) {
	p := &Policy{Records: []Record{{Name: "www.example.com.", Type: "MX", Pools: []string{"nope"}}}}
	err := p.Validate()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate: got %v, want Errors", err)
	}
	want := []string{
		`records[0].type: record type "MX" cannot be steered (want A, AAAA or CNAME; put other types in a zone's static records)`,
		`records[0].pools[0]: record "www.example.com." refers to undefined pool "nope"`,
	}
	for _, w := range want {
		if !strings.Contains(errs.Error(), w) {
			t.Errorf("Validate errors:\n%v\nwant a line %q", errs, w)
		}
	}
}

// TestMalformed asserts the exact position and message of every error in
// each malformed file.
var malformedCases = []struct {
	name string
	doc  string
	want []string // "LINE:COL: message"
}{
	{
		name: "unknown top-level field",
		doc:  "zone:\n  - name: example.com.\n",
		want: []string{`1:1: unknown field "zone", did you mean "zones"?`},
	},
	{
		name: "unknown nested field and wrong kind",
		doc: `checks:
  web: {type: http, intervall: 2s}
  tcp: [1, 2]
`,
		want: []string{
			`2:21: unknown field "intervall", did you mean "interval"?`,
			`3:8: tcp: expected a mapping, got a list`,
		},
	},
	{
		name: "duplicate map key",
		doc: `checks:
  web: {type: http}
  web: {type: tcp, port: 80}
`,
		want: []string{`3:3: duplicate key "web" (first at line 2)`},
	},
	{
		name: "bad duration and bad number",
		doc: `checks:
  web: {type: http, interval: 2 seconds, rise: two}
`,
		want: []string{
			`2:31: interval: "2 seconds" is not a duration (write it like 2s or 150ms)`,
			`2:48: rise: "two" is not a whole number in range`,
		},
	},
	{
		name: "yaml syntax error",
		doc:  "zones:\n  - name: [unclosed\n",
		want: []string{`2:11: yaml: sequence end token ']' not found`},
	},
	{
		name: "record refers to undefined pool",
		doc: validPolicy + `  - {name: api.example.com, type: A, pools: [p9]}
`,
		want: []string{`15:46: record "api.example.com." refers to undefined pool "p9"`},
	},
	{
		name: "pool refers to undefined endpoint",
		doc:  strings.Replace(validPolicy, "p2: {endpoints: [b]}", "p2: {endpoints: [b, c]}", 1),
		want: []string{`12:23: pool "p2" refers to undefined endpoint "c"`},
	},
	{
		name: "endpoint refers to undefined check",
		doc:  strings.Replace(validPolicy, "address: 192.0.2.2, check: web", "address: 192.0.2.2, check: api", 1),
		want: []string{`9:42: endpoint "b" refers to undefined check "api"`},
	},
	{
		name: "zone refers to undefined provider",
		doc:  strings.Replace(validPolicy, "providers: [embedded]", "providers: [embedded, route53-main]", 1),
		want: []string{`3:27: zone "example.com." refers to undefined provider "route53-main"`},
	},
	{
		name: "duplicate endpoint name",
		doc:  strings.Replace(validPolicy, "{name: b, address", "{name: a, address", 1),
		want: []string{
			`9:12: duplicate endpoint name "a" (first at line 8)`,
			`12:20: pool "p2" refers to undefined endpoint "b"`,
		},
	},
	{
		name: "duplicate zone",
		doc: strings.Replace(validPolicy, "checks:", `  - name: example.com.
    providers: [embedded]
    nameservers: [ns1.example.com.]
checks:`, 1),
		want: []string{`5:11: duplicate zone "example.com." (first at line 2)`},
	},
	{
		name: "duplicate record",
		doc: validPolicy + `  - {name: WWW.example.com., type: a, pools: [p2]}
`,
		want: []string{`15:12: duplicate record www.example.com. A (first at line 14)`},
	},
	{
		name: "record outside every zone",
		doc: validPolicy + `  - {name: www.example.org., type: A, pools: [p1]}
`,
		want: []string{`15:12: record www.example.org. is outside every zone`},
	},
	{
		name: "CNAME at the apex",
		doc:  strings.Replace(strings.Replace(validPolicy, "192.0.2.1", "a.cdn.example.net.", 1), "- {name: www.example.com, type: A, pools: [p1, p2]}", "- {name: example.com., type: CNAME, pools: [p1]}", 1),
		want: []string{`14:32: CNAME at the zone apex example.com. is not allowed (RFC 1034 section 3.6.2)`},
	},
	{
		name: "managed CNAME beside static data",
		doc: strings.Replace(strings.Replace(strings.Replace(validPolicy, "192.0.2.1", "a.cdn.example.net.", 1),
			"nameservers: [ns1.example.com.]", "nameservers: [ns1.example.com.]\n    static: [\"www 300 IN TXT hello\"]", 1),
			"{name: www.example.com, type: A, pools: [p1, p2]}", "{name: www.example.com, type: CNAME, pools: [p1]}", 1),
		want: []string{`15:12: CNAME www.example.com. cannot exist beside other data: TXT (at line 5)`},
	},
	{
		name: "static CNAME beside managed A",
		doc:  strings.Replace(validPolicy, "nameservers: [ns1.example.com.]", "nameservers: [ns1.example.com.]\n    static: [\"www 300 IN CNAME elsewhere.example.net.\"]", 1),
		want: []string{`5:14: CNAME www.example.com. cannot exist beside other data: A (at line 15)`},
	},
	{
		name: "IPv6 address in an A record's pool",
		doc:  strings.Replace(validPolicy, "address: 192.0.2.2", "address: 2001:db8::2", 1),
		want: []string{`14:50: record www.example.com. A: endpoint "b" in pool "p2" has address "2001:db8::2", which is not an IPv4 address`},
	},
	{
		name: "IPv4 address in a CNAME record's pool",
		doc:  strings.Replace(validPolicy, "{name: www.example.com, type: A, pools: [p1, p2]}", "{name: www.example.com, type: CNAME, pools: [p1]}", 1),
		want: []string{`14:50: record www.example.com. CNAME: endpoint "a" in pool "p1" has address "192.0.2.1", which is an IP address, not a host name`},
	},
	{
		name: "bad endpoint address",
		doc:  strings.Replace(validPolicy, "address: 192.0.2.2", "address: 192.0.2.256:80", 1),
		want: []string{`9:24: address "192.0.2.256:80" is neither an IP address nor a host name`},
	},
	{
		name: "record TTL negative",
		doc:  strings.Replace(validPolicy, "type: A, pools", "type: A, ttl: -1, pools", 1),
		want: []string{`14:43: ttl -1 out of range 0..2147483647`},
	},
	{
		name: "record TTL too large",
		doc:  strings.Replace(validPolicy, "type: A, pools", "type: A, ttl: 2147483648, pools", 1),
		want: []string{`14:43: ttl 2147483648 out of range 0..2147483647`},
	},
	{
		name: "static TTL too large",
		doc:  strings.Replace(validPolicy, "nameservers: [ns1.example.com.]", "nameservers: [ns1.example.com.]\n    static: [\"txt 3000000000 IN TXT big\"]", 1),
		want: []string{`5:14: static record "txt 3000000000 IN TXT big": ttl 3000000000 out of range 0..2147483647`},
	},
	{
		name: "timeout not shorter than interval",
		doc:  strings.Replace(validPolicy, "interval: 2s, timeout: 1s", "interval: 2s, timeout: 2s", 1),
		want: []string{`6:44: timeout 2s must be shorter than interval 2s`},
	},
	{
		name: "rise and fall below one",
		doc:  strings.Replace(validPolicy, "timeout: 1s}", "timeout: 1s, rise: 0, fall: -2}", 1),
		want: []string{
			`6:54: rise 0 must be at least 1`,
			`6:63: fall -2 must be at least 1`,
		},
	},
	{
		name: "negative weight",
		doc:  strings.Replace(validPolicy, "address: 192.0.2.1, check: web}", "address: 192.0.2.1, check: web, weight: -3}", 1),
		want: []string{`8:55: weight -3 must not be negative`},
	},
	{
		name: "min_healthy larger than the pool",
		doc:  strings.Replace(validPolicy, "p1: {endpoints: [a]}", "p1: {endpoints: [a], min_healthy: 2}", 1),
		want: []string{`11:37: min_healthy 2 is larger than the pool's 1 endpoints`},
	},
	{
		name: "min_healthy zero",
		doc:  strings.Replace(validPolicy, "p1: {endpoints: [a]}", "p1: {endpoints: [a], min_healthy: 0}", 1),
		want: []string{`11:37: min_healthy 0 must be at least 1`},
	},
	{
		name: "unparsable static line",
		doc:  strings.Replace(validPolicy, "nameservers: [ns1.example.com.]", "nameservers: [ns1.example.com.]\n    static:\n      - \"@ 3600 IN MX mx.example.com.\"", 1),
		want: []string{`6:9: static record "@ 3600 IN MX mx.example.com.": bad MX Pref: "mx.example.com."`},
	},
	{
		name: "static record outside its zone",
		doc:  strings.Replace(validPolicy, "nameservers: [ns1.example.com.]", "nameservers: [ns1.example.com.]\n    static: [\"mail.example.net. 60 IN A 192.0.2.9\"]", 1),
		want: []string{`5:14: static record mail.example.net. is outside zone example.com.`},
	},
	{
		name: "unknown steering and when_all_down",
		doc:  strings.Replace(validPolicy, "type: A, pools: [p1, p2]}", "type: A, pools: [p1, p2], steering: random, when_all_down: pray}", 1),
		want: []string{
			`14:65: unknown steering "random" (want failover, weighted or all)`,
			`14:88: unknown when_all_down "pray" (want serve-all or serve-last-pool)`,
		},
	},
	{
		name: "unknown check type",
		doc:  strings.Replace(validPolicy, "{type: http, interval", "{type: icmp, interval", 1),
		want: []string{`6:15: unknown check type "icmp" (want http, https or tcp)`},
	},
	{
		name: "tcp check without a port",
		doc:  strings.Replace(validPolicy, "{type: http, interval", "{type: tcp, interval", 1),
		want: []string{
			`8:42: endpoint "a": tcp check "web" needs a port on the check or the endpoint`,
			`9:42: endpoint "b": tcp check "web" needs a port on the check or the endpoint`,
		},
	},
	{
		name: "http-only field on a tcp check",
		doc:  strings.Replace(validPolicy, "{type: http, interval: 2s, timeout: 1s}", "{type: tcp, port: 443, path: /healthz}", 1),
		want: []string{`6:31: path does not apply to tcp checks`},
	},
	{
		name: "sni on an http check",
		doc:  strings.Replace(validPolicy, "timeout: 1s}", "timeout: 1s, sni: www.example.com}", 1),
		want: []string{`6:48: sni applies only to https checks`},
	},
	{
		name: "bad expect_status",
		doc:  strings.Replace(validPolicy, "timeout: 1s}", "timeout: 1s, expect_status: 200-99}", 1),
		want: []string{`6:63: expect_status "200-99": "200-99" is not a status code or range within 100-599`},
	},
	{
		name: "HEAD with body_contains",
		doc:  strings.Replace(validPolicy, "timeout: 1s}", "timeout: 1s, method: HEAD, body_contains: ok}", 1),
		want: []string{`6:77: body_contains cannot be checked with method HEAD, which has no body`},
	},
	{
		name: "bad node source_ip",
		doc: `node: {id: n1, data_dir: /tmp/x, dns_listen: ":53", api_listen: ":80", raft_listen: ":7000", source_ip: 10.0.0.300}
` + validPolicy,
		want: []string{`1:105: source_ip "10.0.0.300" is not an IP address`},
	},
	{
		name: "unknown provider type and misplaced field",
		doc: strings.Replace(validPolicy, "checks:", `providers:
  r53: {type: route53, hosted_zone_id: Z1, server: 192.0.2.53:53}
  x: {type: powerdns}
checks:`, 1),
		want: []string{
			`6:44: unknown field "server" for provider type "route53"`,
			`7:13: unknown provider type "powerdns" (want embedded, rfc2136, route53, clouddns or azuredns)`,
		},
	},
	{
		name: "rfc2136 key without secret",
		doc: strings.Replace(validPolicy, "checks:", `providers:
  bind: {type: rfc2136, server: 127.0.0.1:53, tsig_key: sb-key}
checks:`, 1),
		want: []string{`6:57: tsig_key needs tsig_secret_file or tsig_secret_env (secrets never go in the policy)`},
	},
	{
		name: "steered MX",
		doc:  strings.Replace(validPolicy, "type: A, pools", "type: MX, pools", 1),
		want: []string{`14:35: record type "MX" cannot be steered (want A, AAAA or CNAME; put other types in a zone's static records)`},
	},
	{
		name: "node section errors",
		doc: `node:
  id: "node 1"
  data_dir: /var/lib/switchboard
  dns_listen: 127.0.0.1:99999
  api_listen: localhost
` + validPolicy,
		want: []string{
			`2:7: node name "node 1" must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit`,
			`1:1: missing required field "raft_listen"`,
			`4:15: port "99999" out of range 0..65535`,
			`5:15: "localhost" is not host:port`,
		},
	},
	{
		name: "timing election shorter than heartbeat",
		doc: `node: {id: n1, data_dir: /tmp/x, dns_listen: ":53", api_listen: ":80", raft_listen: ":7000"}
cluster:
  timing: {profile: wan, election_timeout: 500ms}
` + validPolicy,
		want: []string{`3:44: election_timeout 500ms must not be shorter than heartbeat_timeout 2s`},
	},
	{
		name: "azure endpoint not https, negative panic window",
		doc: `zones: [{name: example.com., providers: [az], nameservers: [ns1.example.com.]}]
providers:
  az: {type: azuredns, subscription_id: s, resource_group: g, endpoint: "http://127.0.0.1:8080"}
checks: {web: {type: tcp, port: 80}}
endpoints: [{name: a, address: 192.0.2.1, check: web}]
pools: {p: {endpoints: [a]}}
records: [{name: www.example.com., type: A, pools: [p], panic_window: -1s}]
`,
		want: []string{
			`3:73: endpoint "http://127.0.0.1:8080" must be an https URL (Azure Resource Manager sends tokens only over TLS)`,
			`7:71: panic_window -1s must not be negative`,
		},
	},
	{
		name: "every error of a bad file",
		doc: `zones:
  - name: "bad..name"
    providers: []
checks:
  web: {type: http, timeout: 0s}
records:
  - {name: a.example.com., type: A, pools: []}
`,
		want: []string{
			`2:11: invalid domain name "bad..name"`,
			`3:16: zone "bad..name": missing required field "providers"`,
			`2:5: zone "bad..name": missing required field "nameservers"`,
			`5:30: timeout must be positive`,
			`7:44: record "a.example.com.": missing required field "pools"`,
			`7:12: record a.example.com. is outside every zone`,
		},
	},
}

func TestMalformed(t *testing.T) {
	cases := malformedCases
	if len(cases) < 25 {
		t.Fatalf("only %d malformed cases, want at least 25", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.doc))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse: got %v, want Errors", err)
			}
			var got []string
			for _, e := range errs {
				if e.File != "bad.yaml" {
					t.Errorf("error file: got %q, want bad.yaml", e.File)
				}
				got = append(got, strings.TrimPrefix(e.Error(), "bad.yaml:"))
			}
			// Errors come sorted by position; compare as sets so that
			// a case lists them in the order a reader finds natural,
			// and separately check the sort.
			if !sameSet(got, tc.want) {
				t.Errorf("errors:\ngot  %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
			for i := 1; i < len(errs); i++ {
				a, b := errs[i-1].Pos, errs[i].Pos
				if a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col) {
					t.Errorf("errors not sorted by position: %v before %v", a, b)
				}
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
		if m[s] < 0 {
			return false
		}
	}
	return true
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load missing: got %v, want ErrNotExist", err)
	}
}

func TestStatusRanges(t *testing.T) {
	cases := []struct {
		in   string
		want []StatusRange
		bad  bool
	}{
		{in: "200", want: []StatusRange{{200, 200}}},
		{in: "200-399", want: []StatusRange{{200, 399}}},
		{in: "200, 204,301-302", want: []StatusRange{{200, 200}, {204, 204}, {301, 302}}},
		{in: "99", bad: true},
		{in: "300-200", bad: true},
		{in: "2xx", bad: true},
		{in: "", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseStatusRanges(tc.in)
			if (err != nil) != tc.bad {
				t.Fatalf("ParseStatusRanges(%q): err %v, want bad=%v", tc.in, err, tc.bad)
			}
			if !tc.bad && len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
