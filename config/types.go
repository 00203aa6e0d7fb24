// Package config holds switchboard's configuration: the node's local
// settings and the replicated policy (zones, providers, checks, endpoints,
// pools, records), with strict YAML decoding, defaults and semantic
// validation that reports every error as FILE:LINE:COL.
//
// The flow is the house one: [Load] (or [Parse]) decodes strictly and fills
// defaults, then validates; a config with any error is rejected whole and
// nothing of it is used. Names are normalised on the way in (domain names to
// lower-case FQDNs), so the rest of the program compares them with ==.
package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Config is one config file: the local node settings and the policy.
type Config struct {
	Node    Node    `yaml:"node" json:"-"`
	Cluster Cluster `yaml:"cluster" json:"-"`
	Policy  `yaml:",inline"`

	hasNode bool
}

// Node holds settings that belong to this process only; they are never
// replicated.
type Node struct {
	// ID names the node in the cluster; unique, stable across restarts.
	ID string `yaml:"id"`
	// DataDir holds the Raft log, stable store and snapshots.
	DataDir string `yaml:"data_dir"`
	// DNSListen is the host:port of the authoritative DNS server (UDP and
	// TCP).
	DNSListen string `yaml:"dns_listen"`
	// APIListen is the host:port of the HTTP API and metrics.
	APIListen string `yaml:"api_listen"`
	// RaftListen is the host:port of the Raft transport and node-to-node
	// channel.
	RaftListen string `yaml:"raft_listen"`
	// RaftAdvertise is the address other nodes dial; defaults to RaftListen.
	RaftAdvertise string `yaml:"raft_advertise"`
	// Cloud and Region label where this node runs, for drills and status.
	Cloud  string `yaml:"cloud"`
	Region string `yaml:"region"`
	// MaxConcurrentChecks bounds the probes in flight at once (default 64).
	MaxConcurrentChecks int `yaml:"max_concurrent_checks"`
	// SourceIP is the local address health probes and node connections
	// leave from; empty leaves the choice to the kernel.
	SourceIP string `yaml:"source_ip"`
}

// Cluster describes the Raft cluster this node belongs to. An empty section
// means a single node that bootstraps itself.
type Cluster struct {
	// Peers lists the voters of a static bootstrap, this node included.
	Peers []Peer `yaml:"peers"`
	// Observer makes this node a Raft non-voter: it checks endpoints and
	// serves DNS but does not count towards the quorum.
	Observer bool `yaml:"observer"`
	// Join lists API addresses of existing members to ask for admission
	// when this node has no Raft state yet.
	Join []string `yaml:"join"`
	// TLS secures Raft and node-to-node forwarding with mutual TLS.
	TLS ClusterTLS `yaml:"tls"`
	// Timing selects Raft timeouts.
	Timing Timing `yaml:"timing"`
}

// Peer is one voter of a static bootstrap.
type Peer struct {
	ID   string `yaml:"id"`
	Raft string `yaml:"raft"` // host:port of its Raft listener
	API  string `yaml:"api"`  // host:port of its HTTP API
}

// ClusterTLS names the files of the cluster's mutual TLS. Insecure must be
// set explicitly to run without TLS.
type ClusterTLS struct {
	CA       string `yaml:"ca"`
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	Insecure bool   `yaml:"insecure"`
}

// Timing selects Raft timeouts: a profile ("lan", the default, or "wan",
// safe for 150 ms round trips between clouds), optionally with explicit
// values that override it.
type Timing struct {
	Profile          string   `yaml:"profile"`
	HeartbeatTimeout Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout  Duration `yaml:"election_timeout"`
	LeaderLease      Duration `yaml:"leader_lease"`
	CommitTimeout    Duration `yaml:"commit_timeout"`
}

// Policy is the replicated part of the configuration: what to check, how to
// steer, where to publish. Every node of a cluster holds the same committed
// version. It is serialised to JSON for the Raft log.
type Policy struct {
	Consensus Consensus            `yaml:"consensus" json:"consensus"`
	Zones     []Zone               `yaml:"zones" json:"zones"`
	Providers map[string]*Provider `yaml:"providers" json:"providers"`
	Checks    map[string]*Check    `yaml:"checks" json:"checks"`
	Endpoints []Endpoint           `yaml:"endpoints" json:"endpoints"`
	Pools     map[string]*Pool     `yaml:"pools" json:"pools"`
	Records   []Record             `yaml:"records" json:"records"`
}

// Consensus sets how observers' verdicts combine into the cluster's.
type Consensus struct {
	// Quorum is "majority" (default), "any", "all" or a number of observers
	// that must say down for an endpoint to be down.
	Quorum string `yaml:"quorum" json:"quorum"`
	// ObserverTimeout is how long the leader waits without contact before
	// it declares an observer dead (its verdicts then stop counting).
	ObserverTimeout Duration `yaml:"observer_timeout" json:"observer_timeout"`
}

// Zone is a DNS zone the cluster is authoritative for.
type Zone struct {
	Name        string   `yaml:"name" json:"name"`
	Providers   []string `yaml:"providers" json:"providers"`
	SOA         SOA      `yaml:"soa" json:"soa"`
	Nameservers []string `yaml:"nameservers" json:"nameservers"`
	NSTTL       int64    `yaml:"ns_ttl" json:"ns_ttl"`
	// Static records, one RFC 1035 line each; names are relative to the
	// zone unless they end in a dot.
	Static []string `yaml:"static" json:"static"`
}

// SOA holds the SOA fields a zone may set; the serial is never set: it is
// the generation.
type SOA struct {
	MName   string `yaml:"mname" json:"mname"`
	RName   string `yaml:"rname" json:"rname"`
	Refresh int64  `yaml:"refresh" json:"refresh"`
	Retry   int64  `yaml:"retry" json:"retry"`
	Expire  int64  `yaml:"expire" json:"expire"`
	Minimum int64  `yaml:"minimum" json:"minimum"`
	TTL     int64  `yaml:"ttl" json:"ttl"`
}

// Provider types known to the config schema.
const (
	ProviderEmbedded = "embedded"
	ProviderRFC2136  = "rfc2136"
	ProviderRoute53  = "route53"
	ProviderCloudDNS = "clouddns"
	ProviderAzureDNS = "azuredns"
)

// Provider is a place where zones are published. Exactly one of the
// type-specific sections is set, the one named by Type. Credentials never
// appear here: only the names of files and environment variables that hold
// them.
type Provider struct {
	Type     string            `yaml:"type" json:"type"`
	RFC2136  *RFC2136Settings  `yaml:"-" json:"rfc2136,omitempty"`
	Route53  *Route53Settings  `yaml:"-" json:"route53,omitempty"`
	CloudDNS *CloudDNSSettings `yaml:"-" json:"clouddns,omitempty"`
	AzureDNS *AzureDNSSettings `yaml:"-" json:"azuredns,omitempty"`
	// Common holds the settings every provider type shares.
	Common ProviderCommon `yaml:"-" json:"common"`
}

// ProviderCommon holds the settings every provider type shares.
type ProviderCommon struct {
	// RateLimit is the sustained writes per second (0: the provider's
	// default).
	RateLimit float64 `yaml:"rate_limit" json:"rate_limit"`
	// VerifyTimeout bounds how long the reconciler waits for the
	// provider's nameservers to answer new content before it marks the
	// provider unverified (default 60s).
	VerifyTimeout Duration `yaml:"verify_timeout" json:"verify_timeout"`
	// Nameservers are host:port addresses to query when verifying; empty
	// means the zone's NS names resolved through the system resolver.
	Nameservers []string `yaml:"verify_nameservers" json:"verify_nameservers"`
}

// RFC2136Settings configures a dynamic-update server (BIND, Knot, ...).
type RFC2136Settings struct {
	Server string `yaml:"server" json:"server"` // host:port
	// TSIGKey is the key's name as the server knows it.
	TSIGKey string `yaml:"tsig_key" json:"tsig_key"`
	// TSIGAlgorithm is hmac-sha256 (default), hmac-sha512 or hmac-sha1.
	TSIGAlgorithm string `yaml:"tsig_algorithm" json:"tsig_algorithm"`
	// TSIGSecretFile and TSIGSecretEnv name where the base64 secret is.
	TSIGSecretFile string `yaml:"tsig_secret_file" json:"tsig_secret_file"`
	TSIGSecretEnv  string `yaml:"tsig_secret_env" json:"tsig_secret_env"`
	// Transfer selects how content is read: "axfr" (default) or "query".
	Transfer string   `yaml:"transfer" json:"transfer"`
	Timeout  Duration `yaml:"timeout" json:"timeout"`
}

// Route53Settings configures AWS Route 53.
type Route53Settings struct {
	HostedZoneID string  `yaml:"hosted_zone_id" json:"hosted_zone_id"`
	HostedZone   string  `yaml:"hosted_zone" json:"hosted_zone"` // by name, resolved once
	Region       string  `yaml:"region" json:"region"`
	Profile      string  `yaml:"profile" json:"profile"`
	Endpoint     string  `yaml:"endpoint" json:"endpoint"` // API endpoint override (tests, fakes)
	RequestsPerS float64 `yaml:"requests_per_second" json:"requests_per_second"`
	WaitInsync   bool    `yaml:"wait_insync" json:"wait_insync"`
}

// CloudDNSSettings configures Google Cloud DNS.
type CloudDNSSettings struct {
	Project         string `yaml:"project" json:"project"`
	ManagedZone     string `yaml:"managed_zone" json:"managed_zone"`
	CredentialsFile string `yaml:"credentials_file" json:"credentials_file"`
	Endpoint        string `yaml:"endpoint" json:"endpoint"`
}

// AzureDNSSettings configures Azure DNS.
type AzureDNSSettings struct {
	SubscriptionID string `yaml:"subscription_id" json:"subscription_id"`
	ResourceGroup  string `yaml:"resource_group" json:"resource_group"`
	ZoneName       string `yaml:"zone_name" json:"zone_name"`
	Endpoint       string `yaml:"endpoint" json:"endpoint"`
}

// Check types.
const (
	CheckHTTP  = "http"
	CheckHTTPS = "https"
	CheckTCP   = "tcp"
)

// Check says how endpoints are probed.
type Check struct {
	Type string `yaml:"type" json:"type"`
	// Port to probe; 0 means the endpoint's port, then 80 for http and
	// 443 for https (tcp needs one).
	Port int `yaml:"port" json:"port"`
	// HTTP(S) settings.
	Method       string `yaml:"method" json:"method"`
	Path         string `yaml:"path" json:"path"`
	ExpectStatus string `yaml:"expect_status" json:"expect_status"` // "200-399", "200", "200,204"
	BodyContains string `yaml:"body_contains" json:"body_contains"`
	// Host overrides the Host header, SNI the TLS server name, so that an
	// IP can be checked under its site name.
	Host string `yaml:"host" json:"host"`
	SNI  string `yaml:"sni" json:"sni"`
	// TLSSkipVerify turns certificate verification off (on by default).
	TLSSkipVerify bool `yaml:"tls_skip_verify" json:"tls_skip_verify"`
	// CAFile adds a CA bundle to trust for https checks.
	CAFile string `yaml:"ca_file" json:"ca_file"`

	Interval Duration `yaml:"interval" json:"interval"`
	Timeout  Duration `yaml:"timeout" json:"timeout"`
	// RecheckInterval is how soon a probe is repeated after a result that
	// disagrees with the current verdict (default 100ms).
	RecheckInterval Duration `yaml:"recheck_interval" json:"recheck_interval"`
	Rise            int      `yaml:"rise" json:"rise"`
	Fall            int      `yaml:"fall" json:"fall"`
	// Watch keeps an idle connection open to the endpoint; its loss makes
	// the observer probe at once, so a crashed process is seen within a
	// round trip (default on).
	Watch *bool `yaml:"watch" json:"watch"`
}

// WatchEnabled reports whether the check keeps a watched connection.
func (c *Check) WatchEnabled() bool { return c.Watch == nil || *c.Watch }

// Endpoint is one address that serves traffic.
type Endpoint struct {
	Name string `yaml:"name" json:"name"`
	// Address is an IPv4 or IPv6 address (A/AAAA answers) or a host name
	// (CNAME answers).
	Address string `yaml:"address" json:"address"`
	// Port is where the check connects, unless the check sets its own.
	Port   int    `yaml:"port" json:"port"`
	Cloud  string `yaml:"cloud" json:"cloud"`
	Region string `yaml:"region" json:"region"`
	Check  string `yaml:"check" json:"check"`
	// Weight for weighted steering (default 1).
	Weight *int64 `yaml:"weight" json:"weight"`
}

// EffectiveWeight returns the endpoint's weight, 1 when unset.
func (e *Endpoint) EffectiveWeight() uint32 {
	if e.Weight == nil {
		return 1
	}
	return uint32(*e.Weight)
}

// Pool is a named group of endpoints, usually one region.
type Pool struct {
	Endpoints  []string `yaml:"endpoints" json:"endpoints"`
	MinHealthy *int     `yaml:"min_healthy" json:"min_healthy"`
}

// Need returns min_healthy, 1 when unset.
func (p *Pool) Need() int {
	if p.MinHealthy == nil {
		return 1
	}
	return *p.MinHealthy
}

// Steering policies.
const (
	SteerFailover = "failover"
	SteerWeighted = "weighted"
	SteerAll      = "all"
)

// When-all-down rules.
const (
	AllDownServeAll      = "serve-all"
	AllDownServeLastPool = "serve-last-pool"
)

// Record is a managed DNS name and type with a steering policy.
type Record struct {
	Name     string   `yaml:"name" json:"name"`
	Type     string   `yaml:"type" json:"type"`
	TTL      int64    `yaml:"ttl" json:"ttl"`
	Steering string   `yaml:"steering" json:"steering"`
	Pools    []string `yaml:"pools" json:"pools"`
	// WhenAllDown decides the answer when no pool is usable.
	WhenAllDown string `yaml:"when_all_down" json:"when_all_down"`
	// MaxAnswers bounds the records of one weighted answer (0: all).
	MaxAnswers int `yaml:"max_answers" json:"max_answers"`
	// PanicThreshold is the share of the record's endpoints that may go
	// down in one step before the record panics and serves all of them
	// (default 0.5).
	PanicThreshold *float64 `yaml:"panic_threshold" json:"panic_threshold"`
	// PanicWindow is how long one "step" of the panic threshold lasts:
	// failures within it count together, so at most the threshold of the
	// record's healthy endpoints is withdrawn per window (default 10s; 0
	// judges every committed change on its own).
	PanicWindow *Duration `yaml:"panic_window" json:"panic_window,omitempty"`
}

// DefaultPanicWindow is the panic window of a record that sets none.
const DefaultPanicWindow = 10 * time.Second

// Window returns the panic window, [DefaultPanicWindow] when unset.
func (r *Record) Window() time.Duration {
	if r.PanicWindow == nil {
		return DefaultPanicWindow
	}
	return r.PanicWindow.D()
}

// Threshold returns the panic threshold, 0.5 when unset.
func (r *Record) Threshold() float64 {
	if r.PanicThreshold == nil {
		return 0.5
	}
	return *r.PanicThreshold
}

// Duration is a time.Duration written as "2s", "150ms" in YAML and JSON.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String prints the duration as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}
