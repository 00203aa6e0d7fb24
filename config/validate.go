package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

// Defaults, applied before validation.
const (
	DefaultInterval        = 2 * time.Second
	DefaultTimeout         = 1 * time.Second
	DefaultRecheckInterval = 100 * time.Millisecond
	DefaultRise            = 2
	DefaultFall            = 2
	DefaultRecordTTL       = 60
	DefaultNSTTL           = 3600
	DefaultObserverTimeout = 10 * time.Second
	DefaultVerifyTimeout   = 60 * time.Second
	DefaultMaxConcurrent   = 64
)

// EmbeddedProvider is the name under which the embedded server is always
// available to zones, whether or not the policy defines it.
const EmbeddedProvider = "embedded"

var (
	identRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	methodRE = regexp.MustCompile(`^[A-Z]+$`)
)

// applyDefaults fills the fields the file did not set. set reports whether
// a field (by path) was written; where zero is a value a user may write on
// purpose (ttl: 0, rise: 0), only an absent field takes the default, so that
// an explicit bad zero still reaches validation.
func (c *Config) applyDefaults(set func(path string) bool) {
	if !set("node.max_concurrent_checks") {
		c.Node.MaxConcurrentChecks = DefaultMaxConcurrent
	}
	if c.Node.RaftAdvertise == "" {
		c.Node.RaftAdvertise = c.Node.RaftListen
	}
	c.Policy.applyDefaults(set)
}

// zeroUnset treats every zero value as unset: the rule for policies that
// arrive as JSON, where absence and zero look alike.
func zeroUnset(string) bool { return false }

func (p *Policy) applyDefaults(set func(path string) bool) {
	if p.Consensus.Quorum == "" {
		p.Consensus.Quorum = "majority"
	}
	if !set("consensus.observer_timeout") && p.Consensus.ObserverTimeout == 0 {
		p.Consensus.ObserverTimeout = Duration(DefaultObserverTimeout)
	}
	defInt := func(path string, f *int64, d int64) {
		if !set(path) && *f == 0 {
			*f = d
		}
	}
	for i := range p.Zones {
		z := &p.Zones[i]
		path := indexPath("zones", i)
		defInt(path+".ns_ttl", &z.NSTTL, DefaultNSTTL)
		s := &z.SOA
		defInt(path+".soa.refresh", &s.Refresh, 3600)
		defInt(path+".soa.retry", &s.Retry, 600)
		defInt(path+".soa.expire", &s.Expire, 1209600)
		defInt(path+".soa.minimum", &s.Minimum, 60)
		defInt(path+".soa.ttl", &s.TTL, 3600)
	}
	for name, pr := range p.Providers {
		if pr == nil {
			continue
		}
		path := joinPath("providers", name)
		if !set(path+".verify_timeout") && pr.Common.VerifyTimeout == 0 {
			pr.Common.VerifyTimeout = Duration(DefaultVerifyTimeout)
		}
		if s := pr.RFC2136; s != nil {
			if s.TSIGAlgorithm == "" {
				s.TSIGAlgorithm = "hmac-sha256"
			}
			if s.Transfer == "" {
				s.Transfer = "axfr"
			}
			if !set(path+".timeout") && s.Timeout == 0 {
				s.Timeout = Duration(5 * time.Second)
			}
		}
		if s := pr.Route53; s != nil && !set(path+".requests_per_second") && s.RequestsPerS == 0 {
			s.RequestsPerS = 5
		}
	}
	for name, c := range p.Checks {
		if c == nil {
			continue
		}
		path := joinPath("checks", name)
		if !set(path+".interval") && c.Interval == 0 {
			c.Interval = Duration(DefaultInterval)
		}
		base := c.Interval.D()
		if base <= 0 {
			base = DefaultInterval // a bad interval is reported on its own
		}
		if !set(path+".timeout") && c.Timeout == 0 {
			c.Timeout = Duration(min(DefaultTimeout, base/2))
		}
		if !set(path+".recheck_interval") && c.RecheckInterval == 0 {
			c.RecheckInterval = Duration(min(DefaultRecheckInterval, base))
		}
		if !set(path+".rise") && c.Rise == 0 {
			c.Rise = DefaultRise
		}
		if !set(path+".fall") && c.Fall == 0 {
			c.Fall = DefaultFall
		}
		if c.Type == CheckHTTP || c.Type == CheckHTTPS {
			if c.Method == "" {
				c.Method = "GET"
			}
			if c.Path == "" {
				c.Path = "/"
			}
			if c.ExpectStatus == "" {
				c.ExpectStatus = "200-399"
			}
		}
	}
	for i := range p.Records {
		r := &p.Records[i]
		path := indexPath("records", i)
		defInt(path+".ttl", &r.TTL, DefaultRecordTTL)
		if r.Steering == "" {
			r.Steering = SteerFailover
		}
		if r.WhenAllDown == "" {
			r.WhenAllDown = AllDownServeAll
		}
	}
}

// validator checks semantics and normalises names in place.
type validator struct {
	*positions
	// badAddress holds endpoints whose address was already reported, so
	// that the records using them do not repeat the error.
	badAddress map[string]bool
}

func (v *validator) sort() {
	slices.SortStableFunc(v.errs, func(a, b Error) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Col, b.Col); c != 0 {
			return c
		}
		return cmp.Compare(a.Path, b.Path)
	})
}

func (v *validator) required(path, value string) bool {
	if value == "" {
		v.errorf(path, "missing required field %q", fieldName(path))
		return false
	}
	return true
}

func (v *validator) ident(path, kind, name string) {
	if !identRE.MatchString(name) {
		v.errorf(path, "%s name %q must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit", kind, name)
	}
}

// hostPort checks a host:port listen or dial address.
func (v *validator) hostPort(path, value string) {
	if !v.required(path, value) {
		return
	}
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		v.errorf(path, "%q is not host:port", value)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.errorf(path, "port %q out of range 0..65535", port)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			if _, ok := dns.IsDomainName(host); !ok {
				v.errorf(path, "%q is not an address or host name", host)
			}
		}
	}
}

// domain normalises *name to a canonical FQDN, reporting a bad name.
func (v *validator) domain(path string, name *string) bool {
	if !v.required(path, *name) {
		return false
	}
	n, err := zone.CanonicalName(*name)
	if err != nil {
		v.errorf(path, "%v", err)
		return false
	}
	*name = n
	return true
}

func (v *validator) ttl(path string, ttl int64) {
	if ttl < 0 || ttl > zone.MaxTTL {
		v.errorf(path, "ttl %d out of range 0..%d", ttl, zone.MaxTTL)
	}
}

func (v *validator) node(n *Node, c *Cluster) {
	if v.required("node.id", n.ID) {
		v.ident("node.id", "node", n.ID)
	}
	v.required("node.data_dir", n.DataDir)
	v.hostPort("node.dns_listen", n.DNSListen)
	v.hostPort("node.api_listen", n.APIListen)
	v.hostPort("node.raft_listen", n.RaftListen)
	if n.RaftAdvertise != n.RaftListen {
		v.hostPort("node.raft_advertise", n.RaftAdvertise)
	}
	if n.SourceIP != "" {
		if a, err := netip.ParseAddr(n.SourceIP); err != nil || a.Zone() != "" {
			v.errorf("node.source_ip", "source_ip %q is not an IP address", n.SourceIP)
		}
	}
	if n.MaxConcurrentChecks < 1 {
		v.errorf("node.max_concurrent_checks", "max_concurrent_checks %d must be at least 1", n.MaxConcurrentChecks)
	}
	v.cluster(n, c)
}

func (v *validator) cluster(n *Node, c *Cluster) {
	ids := map[string]string{}
	self := false
	for i := range c.Peers {
		p := &c.Peers[i]
		path := indexPath("cluster.peers", i)
		if v.required(path+".id", p.ID) {
			v.ident(path+".id", "peer", p.ID)
			if first, dup := ids[p.ID]; dup {
				v.errorf(path+".id", "duplicate peer id %q (first at %s)", p.ID, v.where(first))
			} else {
				ids[p.ID] = path + ".id"
			}
		}
		v.hostPort(path+".raft", p.Raft)
		v.hostPort(path+".api", p.API)
		if p.ID == n.ID {
			self = true
		}
	}
	if len(c.Peers) > 0 && !self && !c.Observer && len(c.Join) == 0 {
		v.errorf("cluster.peers", "node %q is not among the peers; add it, or set observer: true or join", n.ID)
	}
	if c.Observer && self {
		v.errorf("cluster.observer", "node %q is listed as a voting peer and as an observer", n.ID)
	}
	for i, j := range c.Join {
		v.hostPort(indexPath("cluster.join", i), j)
	}
	multi := len(c.Peers) > 1 || len(c.Join) > 0 || c.Observer
	t := c.TLS
	switch {
	case t.Insecure && (t.CA != "" || t.Cert != "" || t.Key != ""):
		v.errorf("cluster.tls.insecure", "insecure: true cannot be combined with ca, cert or key")
	case !t.Insecure && (t.CA != "" || t.Cert != "" || t.Key != "" || multi):
		v.required("cluster.tls.ca", t.CA)
		v.required("cluster.tls.cert", t.Cert)
		v.required("cluster.tls.key", t.Key)
	}
	v.timing(&c.Timing)
}

// RaftTimeouts are the Raft timeouts a [Timing] resolves to.
type RaftTimeouts struct {
	Heartbeat, Election, LeaderLease, Commit time.Duration
}

// Resolve returns the timeouts of the profile with explicit overrides.
func (t Timing) Resolve() RaftTimeouts {
	// The commit timeout is how long an idle leader waits before it tells
	// followers the new commit index; followers swap their DNS answers only
	// then, so on a LAN it is short (an empty AppendEntries every 10-20 ms
	// per follower costs next to nothing). hashicorp/raft's default, 50 ms,
	// made followers answer 50-100 ms after the leader.
	r := RaftTimeouts{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond, Commit: 10 * time.Millisecond}
	if t.Profile == "wan" {
		// Several round trips of 150 ms fit in each timeout, so a slow
		// cross-cloud link does not cause elections.
		r = RaftTimeouts{Heartbeat: 2 * time.Second, Election: 3 * time.Second, LeaderLease: time.Second, Commit: 20 * time.Millisecond}
	}
	if t.HeartbeatTimeout > 0 {
		r.Heartbeat = t.HeartbeatTimeout.D()
	}
	if t.ElectionTimeout > 0 {
		r.Election = t.ElectionTimeout.D()
	}
	if t.LeaderLease > 0 {
		r.LeaderLease = t.LeaderLease.D()
	}
	if t.CommitTimeout > 0 {
		r.Commit = t.CommitTimeout.D()
	}
	return r
}

func (v *validator) timing(t *Timing) {
	switch t.Profile {
	case "", "lan", "wan":
	default:
		v.errorf("cluster.timing.profile", "unknown timing profile %q (want lan or wan)", t.Profile)
		return
	}
	r := t.Resolve()
	const floor = 5 * time.Millisecond
	for _, f := range []struct {
		path string
		d    time.Duration
		min  time.Duration
	}{
		{"heartbeat_timeout", r.Heartbeat, floor},
		{"election_timeout", r.Election, floor},
		{"leader_lease", r.LeaderLease, floor},
		{"commit_timeout", r.Commit, time.Millisecond},
	} {
		if f.d < f.min {
			v.errorf("cluster.timing."+f.path, "%s %s is below the minimum %s", f.path, f.d, f.min)
		}
	}
	if r.Election < r.Heartbeat {
		v.errorf("cluster.timing.election_timeout", "election_timeout %s must not be shorter than heartbeat_timeout %s", r.Election, r.Heartbeat)
	}
	if r.LeaderLease > r.Heartbeat {
		v.errorf("cluster.timing.leader_lease", "leader_lease %s must not be longer than heartbeat_timeout %s", r.LeaderLease, r.Heartbeat)
	}
}

// where describes a path's position for "first at ..." messages.
func (v *validator) where(path string) string {
	if v.file == "" {
		return path
	}
	return fmt.Sprintf("line %d", v.at(path).Line)
}

func (v *validator) policy(p *Policy) {
	v.consensus(&p.Consensus)
	v.providers(p)
	v.checks(p)
	v.endpoints(p)
	v.pools(p)
	zoneOf := v.zones(p)
	v.records(p, zoneOf)
}

func (v *validator) consensus(c *Consensus) {
	switch c.Quorum {
	case "majority", "any", "all":
	default:
		n, err := strconv.Atoi(c.Quorum)
		if err != nil || n < 1 {
			v.errorf("consensus.quorum", "quorum %q must be majority, any, all or a number of observers of at least 1", c.Quorum)
		}
	}
	if c.ObserverTimeout < 0 {
		v.errorf("consensus.observer_timeout", "observer_timeout must be positive")
	}
}

func (v *validator) providers(p *Policy) {
	for _, name := range slices.Sorted(maps.Keys(p.Providers)) {
		pr := p.Providers[name]
		path := joinPath("providers", name)
		v.ident(path, "provider", name)
		if pr == nil {
			v.errorf(path, "provider %q is empty; it needs at least a type", name)
			continue
		}
		tp := path + ".type"
		switch pr.Type {
		case "":
			v.errorf(tp, "provider %q: missing required field \"type\"", name)
			continue
		case ProviderEmbedded, ProviderRFC2136, ProviderRoute53, ProviderCloudDNS, ProviderAzureDNS:
		default:
			v.errorf(tp, "unknown provider type %q (want embedded, rfc2136, route53, clouddns or azuredns)", pr.Type)
			continue
		}
		if name == EmbeddedProvider && pr.Type != ProviderEmbedded {
			v.errorf(tp, "the name %q is reserved for the embedded server", EmbeddedProvider)
		}
		if pr.Common.RateLimit < 0 {
			v.errorf(path+".rate_limit", "rate_limit must not be negative")
		}
		if pr.Common.VerifyTimeout < 0 {
			v.errorf(path+".verify_timeout", "verify_timeout must be positive")
		}
		for i, ns := range pr.Common.Nameservers {
			v.hostPort(indexPath(path+".verify_nameservers", i), ns)
		}
		switch {
		case pr.RFC2136 != nil:
			s := pr.RFC2136
			v.hostPort(path+".server", s.Server)
			switch s.TSIGAlgorithm {
			case "hmac-sha256", "hmac-sha512", "hmac-sha1":
			default:
				v.errorf(path+".tsig_algorithm", "tsig_algorithm %q must be hmac-sha256, hmac-sha512 or hmac-sha1", s.TSIGAlgorithm)
			}
			if s.TSIGKey != "" {
				if _, ok := dns.IsDomainName(s.TSIGKey); !ok {
					v.errorf(path+".tsig_key", "tsig_key %q is not a valid key name", s.TSIGKey)
				}
				switch {
				case s.TSIGSecretFile == "" && s.TSIGSecretEnv == "":
					v.errorf(path+".tsig_key", "tsig_key needs tsig_secret_file or tsig_secret_env (secrets never go in the policy)")
				case s.TSIGSecretFile != "" && s.TSIGSecretEnv != "":
					v.errorf(path+".tsig_secret_env", "set tsig_secret_file or tsig_secret_env, not both")
				}
			} else if s.TSIGSecretFile != "" || s.TSIGSecretEnv != "" {
				v.errorf(path, "a TSIG secret is set but tsig_key is missing")
			}
			if s.Transfer != "axfr" && s.Transfer != "query" {
				v.errorf(path+".transfer", "transfer %q must be axfr or query", s.Transfer)
			}
			if s.Timeout <= 0 {
				v.errorf(path+".timeout", "timeout must be positive")
			}
		case pr.Route53 != nil:
			s := pr.Route53
			if (s.HostedZoneID == "") == (s.HostedZone == "") {
				v.errorf(path, "route53 provider %q needs exactly one of hosted_zone_id and hosted_zone", name)
			}
			if s.RequestsPerS <= 0 {
				v.errorf(path+".requests_per_second", "requests_per_second must be positive")
			}
		case pr.CloudDNS != nil:
			v.required(path+".project", pr.CloudDNS.Project)
			v.required(path+".managed_zone", pr.CloudDNS.ManagedZone)
		case pr.AzureDNS != nil:
			v.required(path+".subscription_id", pr.AzureDNS.SubscriptionID)
			v.required(path+".resource_group", pr.AzureDNS.ResourceGroup)
			if e := pr.AzureDNS.Endpoint; e != "" {
				if u, err := url.Parse(e); err != nil || u.Scheme != "https" || u.Host == "" {
					v.errorf(path+".endpoint", "endpoint %q must be an https URL (Azure Resource Manager sends tokens only over TLS)", e)
				}
			}
		}
	}
}

func (v *validator) checks(p *Policy) {
	for _, name := range slices.Sorted(maps.Keys(p.Checks)) {
		c := p.Checks[name]
		path := joinPath("checks", name)
		v.ident(path, "check", name)
		if c == nil {
			v.errorf(path, "check %q is empty; it needs at least a type", name)
			continue
		}
		switch c.Type {
		case CheckHTTP, CheckHTTPS, CheckTCP:
		case "":
			v.errorf(path+".type", "check %q: missing required field \"type\"", name)
		default:
			v.errorf(path+".type", "unknown check type %q (want http, https or tcp)", c.Type)
		}
		intervalOK := !v.undecoded(path + ".interval")
		if intervalOK && c.Interval <= 0 {
			v.errorf(path+".interval", "interval must be positive")
		}
		if c.Timeout <= 0 {
			v.errorf(path+".timeout", "timeout must be positive")
		} else if intervalOK && c.Timeout >= c.Interval {
			v.errorf(path+".timeout", "timeout %s must be shorter than interval %s", c.Timeout, c.Interval)
		}
		if c.RecheckInterval <= 0 {
			v.errorf(path+".recheck_interval", "recheck_interval must be positive")
		} else if intervalOK && c.RecheckInterval > c.Interval {
			v.errorf(path+".recheck_interval", "recheck_interval %s must not be longer than interval %s", c.RecheckInterval, c.Interval)
		}
		if c.Rise < 1 {
			v.errorf(path+".rise", "rise %d must be at least 1", c.Rise)
		}
		if c.Fall < 1 {
			v.errorf(path+".fall", "fall %d must be at least 1", c.Fall)
		}
		if c.Port < 0 || c.Port > 65535 {
			v.errorf(path+".port", "port %d out of range 1..65535", c.Port)
		}
		web := c.Type == CheckHTTP || c.Type == CheckHTTPS
		for field, set := range map[string]bool{
			"method": c.Method != "", "path": c.Path != "", "expect_status": c.ExpectStatus != "",
			"body_contains": c.BodyContains != "", "host": c.Host != "",
		} {
			if set && !web && v.has(path+"."+field) {
				v.keyErrorf(path+"."+field, "%s does not apply to %s checks", field, c.Type)
			}
		}
		for field, set := range map[string]bool{"sni": c.SNI != "", "tls_skip_verify": c.TLSSkipVerify, "ca_file": c.CAFile != ""} {
			if set && c.Type != CheckHTTPS {
				v.keyErrorf(path+"."+field, "%s applies only to https checks", field)
			}
		}
		if web {
			if !strings.HasPrefix(c.Path, "/") {
				v.errorf(path+".path", "path %q must start with /", c.Path)
			}
			if !methodRE.MatchString(c.Method) {
				v.errorf(path+".method", "method %q must be an upper-case HTTP method such as GET or HEAD", c.Method)
			}
			if _, err := ParseStatusRanges(c.ExpectStatus); err != nil {
				v.errorf(path+".expect_status", "%v", err)
			}
			if c.Method == "HEAD" && c.BodyContains != "" {
				v.errorf(path+".body_contains", "body_contains cannot be checked with method HEAD, which has no body")
			}
		}
	}
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// ParseStatusRanges parses "200-399", "200" or "200,204,301-302".
func ParseStatusRanges(s string) ([]StatusRange, error) {
	var out []StatusRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("expect_status %q: %q is not a status code or range within 100-599", s, part)
		}
		out = append(out, StatusRange{a, b})
	}
	return out, nil
}

func (v *validator) endpoints(p *Policy) {
	names := map[string]string{}
	for i := range p.Endpoints {
		e := &p.Endpoints[i]
		path := indexPath("endpoints", i)
		if v.required(path+".name", e.Name) {
			v.ident(path+".name", "endpoint", e.Name)
			if first, dup := names[e.Name]; dup {
				v.errorf(path+".name", "duplicate endpoint name %q (first at %s)", e.Name, v.where(first))
			} else {
				names[e.Name] = path + ".name"
			}
		}
		if v.required(path+".address", e.Address) {
			if a, err := netip.ParseAddr(e.Address); err == nil {
				if a.Zone() != "" {
					v.errorf(path+".address", "address %q must not carry a zone", e.Address)
				}
				e.Address = a.Unmap().String()
			} else {
				n, err := zone.CanonicalName(e.Address)
				if err != nil || strings.ContainsAny(e.Address, ":/ ") {
					v.errorf(path+".address", "address %q is neither an IP address nor a host name", e.Address)
					v.badAddress[e.Name] = true
				} else {
					e.Address = n
				}
			}
		}
		if e.Port < 0 || e.Port > 65535 {
			v.errorf(path+".port", "port %d out of range 1..65535", e.Port)
		}
		if e.Weight != nil && *e.Weight < 0 {
			v.errorf(path+".weight", "weight %d must not be negative", *e.Weight)
		} else if e.Weight != nil && *e.Weight > 1<<31 {
			v.errorf(path+".weight", "weight %d is larger than %d", *e.Weight, 1<<31)
		}
		if v.required(path+".check", e.Check) {
			c, ok := p.Checks[e.Check]
			switch {
			case !ok:
				v.errorf(path+".check", "endpoint %q refers to undefined check %q", e.Name, e.Check)
			case c != nil && c.Type == CheckTCP && c.Port == 0 && e.Port == 0:
				v.errorf(path+".check", "endpoint %q: tcp check %q needs a port on the check or the endpoint", e.Name, e.Check)
			}
		}
	}
}

func (v *validator) pools(p *Policy) {
	byName := map[string]*Endpoint{}
	for i := range p.Endpoints {
		byName[p.Endpoints[i].Name] = &p.Endpoints[i]
	}
	for _, name := range slices.Sorted(maps.Keys(p.Pools)) {
		pool := p.Pools[name]
		path := joinPath("pools", name)
		v.ident(path, "pool", name)
		if pool == nil || len(pool.Endpoints) == 0 {
			v.errorf(path+".endpoints", "pool %q has no endpoints", name)
			continue
		}
		seen := map[string]bool{}
		for i, e := range pool.Endpoints {
			ep := indexPath(path+".endpoints", i)
			if _, ok := byName[e]; !ok {
				v.errorf(ep, "pool %q refers to undefined endpoint %q", name, e)
			}
			if seen[e] {
				v.errorf(ep, "pool %q lists endpoint %q twice", name, e)
			}
			seen[e] = true
		}
		if n := pool.Need(); n < 1 {
			v.errorf(path+".min_healthy", "min_healthy %d must be at least 1", n)
		} else if n > len(seen) {
			v.errorf(path+".min_healthy", "min_healthy %d is larger than the pool's %d endpoints", n, len(seen))
		}
	}
}

// zoneRecords gathers, per owner name, the types present in a zone and
// where each came from, for the CNAME rules.
type nameTypes map[string]map[uint16]string

func (nt nameTypes) add(name string, t uint16, path string) (first string, dup bool) {
	m := nt[name]
	if m == nil {
		m = map[uint16]string{}
		nt[name] = m
	}
	if f, ok := m[t]; ok {
		return f, true
	}
	m[t] = path
	return "", false
}

// zones validates zones and returns, for each zone origin, its record
// types by name (apex NS, SOA and static records).
func (v *validator) zones(p *Policy) map[string]nameTypes {
	out := map[string]nameTypes{}
	firstZone := map[string]string{}
	usedBy := map[string]string{} // provider bound to a single zone → zone path
	for i := range p.Zones {
		z := &p.Zones[i]
		path := indexPath("zones", i)
		nameOK := v.domain(path+".name", &z.Name)
		if nameOK {
			if first, dup := firstZone[z.Name]; dup {
				v.errorf(path+".name", "duplicate zone %q (first at %s)", z.Name, v.where(first))
				continue
			}
			firstZone[z.Name] = path + ".name"
		}
		if len(z.Providers) == 0 {
			v.errorf(path+".providers", "zone %q: missing required field \"providers\"", z.Name)
		}
		seen := map[string]bool{}
		for j, name := range z.Providers {
			pp := indexPath(path+".providers", j)
			pr, ok := p.Providers[name]
			if !ok && name != EmbeddedProvider {
				v.errorf(pp, "zone %q refers to undefined provider %q", z.Name, name)
				continue
			}
			if seen[name] {
				v.errorf(pp, "zone %q lists provider %q twice", z.Name, name)
			}
			seen[name] = true
			if pr != nil && (pr.Route53 != nil || pr.CloudDNS != nil || pr.AzureDNS != nil) {
				if first, dup := usedBy[name]; dup {
					v.errorf(pp, "provider %q names one hosted zone and is already used by %s", name, v.where(first))
				} else {
					usedBy[name] = pp
				}
			}
		}
		if len(z.Nameservers) == 0 {
			v.errorf(path+".nameservers", "zone %q: missing required field \"nameservers\"", z.Name)
		}
		for j := range z.Nameservers {
			v.domain(indexPath(path+".nameservers", j), &z.Nameservers[j])
		}
		s := &z.SOA
		if s.MName == "" && len(z.Nameservers) > 0 {
			s.MName = z.Nameservers[0]
		} else if s.MName != "" {
			v.domain(path+".soa.mname", &s.MName)
		}
		if s.RName == "" {
			s.RName = "hostmaster." + z.Name
		} else {
			// An RNAME is a mailbox written as a name; accept the
			// mail form too.
			s.RName = strings.Replace(s.RName, "@", ".", 1)
			v.domain(path+".soa.rname", &s.RName)
		}
		for field, val := range map[string]int64{"refresh": s.Refresh, "retry": s.Retry, "expire": s.Expire, "minimum": s.Minimum, "ttl": s.TTL} {
			if val < 0 || val > zone.MaxTTL {
				v.errorf(path+".soa."+field, "%s %d out of range 0..%d", field, val, zone.MaxTTL)
			}
		}
		v.ttl(path+".ns_ttl", z.NSTTL)
		if !nameOK {
			continue // static records cannot be placed without an origin
		}
		nt := nameTypes{}
		nt.add(z.Name, dns.TypeSOA, path+".soa")
		nt.add(z.Name, dns.TypeNS, path+".nameservers")
		for j := range z.Static {
			sp := indexPath(path+".static", j)
			rr, err := ParseStatic(z.Static[j], z.Name, uint32(max(0, min(s.TTL, zone.MaxTTL))))
			if err != nil {
				v.errorf(sp, "static record %q: %v", z.Static[j], err)
				continue
			}
			h := rr.Header()
			switch {
			case !zone.InZone(h.Name, z.Name):
				v.errorf(sp, "static record %s is outside zone %s", h.Name, z.Name)
				continue
			case h.Rrtype == dns.TypeSOA:
				v.errorf(sp, "static SOA records are not allowed: the SOA is generated (set soa: on the zone)")
				continue
			case h.Rrtype == dns.TypeNS && h.Name == z.Name:
				v.errorf(sp, "static NS records at the apex are not allowed: list them in nameservers")
				continue
			}
			// Several static lines may make up one RRset; only the
			// first of each type is recorded for the CNAME rules.
			nt.add(h.Name, h.Rrtype, sp)
		}
		out[z.Name] = nt
	}
	return out
}

// ParseStatic parses one static record line relative to origin, with
// defaultTTL where the line has none.
func ParseStatic(line, origin string, defaultTTL uint32) (dns.RR, error) {
	zp := dns.NewZoneParser(strings.NewReader(line), origin, "")
	zp.SetDefaultTTL(defaultTTL)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, staticError(err)
	}
	if !ok || rr == nil {
		return nil, fmt.Errorf("no record on the line")
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("one record per line, found more")
	}
	if err := zp.Err(); err != nil {
		return nil, staticError(err)
	}
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return nil, fmt.Errorf("class %s is not IN", dns.ClassToString[h.Class])
	}
	if h.Ttl > zone.MaxTTL {
		return nil, fmt.Errorf("ttl %d out of range 0..%d", h.Ttl, zone.MaxTTL)
	}
	h.Name = strings.ToLower(h.Name)
	return rr, nil
}

// staticError keeps miekg's message but drops its file/line decoration,
// which points into the one-line string rather than the config file.
func staticError(err error) error {
	var pe *dns.ParseError
	msg := err.Error()
	if e, ok := err.(*dns.ParseError); ok {
		pe = e
		msg = pe.Error()
	}
	msg = strings.TrimPrefix(msg, "dns: ")
	if i := strings.Index(msg, " at line: "); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("%s", msg)
}

func (v *validator) records(p *Policy, zoneOf map[string]nameTypes) {
	origins := slices.Collect(maps.Keys(zoneOf))
	byName := map[string]*Endpoint{}
	for i := range p.Endpoints {
		byName[p.Endpoints[i].Name] = &p.Endpoints[i]
	}
	seen := map[zone.Key]string{}
	for i := range p.Records {
		r := &p.Records[i]
		path := indexPath("records", i)
		nameOK := v.domain(path+".name", &r.Name)
		typ, typeOK := uint16(0), false
		if v.required(path+".type", r.Type) {
			r.Type = strings.ToUpper(r.Type)
			switch r.Type {
			case "A":
				typ, typeOK = dns.TypeA, true
			case "AAAA":
				typ, typeOK = dns.TypeAAAA, true
			case "CNAME":
				typ, typeOK = dns.TypeCNAME, true
			default:
				v.errorf(path+".type", "record type %q cannot be steered (want A, AAAA or CNAME; put other types in a zone's static records)", r.Type)
			}
		}
		v.ttl(path+".ttl", r.TTL)
		switch r.Steering {
		case SteerFailover, SteerWeighted:
		case SteerAll:
			if typ == dns.TypeCNAME {
				v.errorf(path+".steering", "steering all cannot be used with CNAME, which holds one target")
			}
		default:
			v.errorf(path+".steering", "unknown steering %q (want failover, weighted or all)", r.Steering)
		}
		switch r.WhenAllDown {
		case AllDownServeAll, AllDownServeLastPool:
		default:
			v.errorf(path+".when_all_down", "unknown when_all_down %q (want serve-all or serve-last-pool)", r.WhenAllDown)
		}
		if r.MaxAnswers < 0 {
			v.errorf(path+".max_answers", "max_answers %d must not be negative", r.MaxAnswers)
		} else if r.MaxAnswers > 0 && r.Steering != SteerWeighted {
			v.errorf(path+".max_answers", "max_answers applies only to weighted steering")
		}
		if t := r.Threshold(); t < 0 || t > 1 {
			v.errorf(path+".panic_threshold", "panic_threshold %g must be between 0 and 1", t)
		}
		if r.PanicWindow != nil && *r.PanicWindow < 0 {
			v.errorf(path+".panic_window", "panic_window %s must not be negative", r.PanicWindow.D())
		}
		if len(r.Pools) == 0 {
			v.errorf(path+".pools", "record %q: missing required field \"pools\"", r.Name)
		}
		poolSeen := map[string]bool{}
		for j, pn := range r.Pools {
			pp := indexPath(path+".pools", j)
			pool, ok := p.Pools[pn]
			if !ok {
				v.errorf(pp, "record %q refers to undefined pool %q", r.Name, pn)
				continue
			}
			if poolSeen[pn] {
				v.errorf(pp, "record %q lists pool %q twice", r.Name, pn)
			}
			poolSeen[pn] = true
			if !typeOK || pool == nil {
				continue
			}
			for _, en := range pool.Endpoints {
				e, ok := byName[en]
				if !ok || e.Address == "" || v.badAddress[en] {
					continue
				}
				if msg := addressFits(e.Address, typ); msg != "" {
					v.errorf(pp, "record %s %s: endpoint %q in pool %q has address %q, %s", r.Name, r.Type, en, pn, e.Address, msg)
				}
			}
		}
		if !nameOK || !typeOK {
			continue
		}
		k := zone.Key{Name: r.Name, Type: typ}
		if first, dup := seen[k]; dup {
			v.errorf(path+".name", "duplicate record %s %s (first at %s)", r.Name, r.Type, v.where(first))
			continue
		}
		seen[k] = path + ".name"
		origin := closestZone(r.Name, origins)
		if origin == "" {
			v.errorf(path+".name", "record %s is outside every zone", r.Name)
			continue
		}
		nt := zoneOf[origin]
		if typ == dns.TypeCNAME && r.Name == origin {
			v.errorf(path+".type", "CNAME at the zone apex %s is not allowed (RFC 1034 section 3.6.2)", origin)
			continue
		}
		if first, dup := nt.add(r.Name, typ, path+".name"); dup {
			v.errorf(path+".name", "record %s %s is both managed and static (static at %s)", r.Name, r.Type, v.where(first))
			continue
		}
	}
	// CNAME beside other data, managed or static.
	for _, origin := range slices.Sorted(maps.Keys(zoneOf)) {
		for _, name := range slices.Sorted(maps.Keys(zoneOf[origin])) {
			types := zoneOf[origin][name]
			cname, ok := types[dns.TypeCNAME]
			if !ok || len(types) == 1 {
				continue
			}
			if name == origin {
				v.errorf(cname, "CNAME at the zone apex %s is not allowed (RFC 1034 section 3.6.2)", origin)
				continue
			}
			var others []string
			for _, t := range slices.Sorted(maps.Keys(types)) {
				if t != dns.TypeCNAME {
					others = append(others, fmt.Sprintf("%s (at %s)", zone.TypeString(t), v.where(types[t])))
				}
			}
			v.errorf(cname, "CNAME %s cannot exist beside other data: %s", name, strings.Join(others, ", "))
		}
	}
}

// addressFits returns why an endpoint address cannot answer a record type,
// or "".
func addressFits(addr string, typ uint16) string {
	ip, err := netip.ParseAddr(addr)
	switch typ {
	case dns.TypeA:
		if err != nil || !ip.Is4() {
			return "which is not an IPv4 address"
		}
	case dns.TypeAAAA:
		if err != nil || !ip.Is6() {
			return "which is not an IPv6 address"
		}
	case dns.TypeCNAME:
		if err == nil {
			return "which is an IP address, not a host name"
		}
	}
	return ""
}

// closestZone returns the longest origin that contains name, or "".
func closestZone(name string, origins []string) string {
	best := ""
	for _, o := range origins {
		if zone.InZone(name, o) && len(o) > len(best) {
			best = o
		}
	}
	return best
}

// ClosestZone returns the origin of the policy's zone that contains name
// (the longest match), or "".
func (p *Policy) ClosestZone(name string) string {
	origins := make([]string, len(p.Zones))
	for i, z := range p.Zones {
		origins[i] = z.Name
	}
	return closestZone(name, origins)
}

// JSON serialises the policy canonically (map keys sorted), the form kept
// in the Raft log.
func (p *Policy) JSON() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("config: policy does not serialise: %v", err))
	}
	return b
}

func jsonUnmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
