// Package rfc2136 publishes a zone on any server that takes RFC 2136
// dynamic updates: BIND 9, Knot DNS, PowerDNS, Windows DNS.
//
// Every write is one UPDATE message, signed with TSIG, applied by the server
// all or nothing. Its prerequisite section is the compare-and-swap: for
// every RRset the change set expects, "RRset exists (value dependent)"
// (RFC 2136 section 2.4.2), or "RRset does not exist" (section 2.4.3) when
// it expects none; and the same for the fencing TXT record at
// _switchboard.<zone>, whose new value is swapped in by the same message.
// A server that finds any prerequisite false answers NXRRSET or YXRRSET
// and changes nothing, which this package reports as
// [providers.ErrConflict].
//
// Value-dependent prerequisites compare the records but not the TTL. To
// keep the TTL part of the contract, Apply reads the expected RRsets right
// before it writes and refuses a change set whose TTLs differ; that check is
// not atomic with the write, the rdata check is.
//
// Reads are a TSIG-signed AXFR filtered to the requested keys (the
// default), or one query per key ("transfer: query") for servers that do
// not allow transfers. Requests go over UDP when they fit in 1232 bytes
// and over TCP otherwise, or when the UDP answer is truncated or lost.
package rfc2136

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// MaxChanges is the most RRset changes one UPDATE carries. With the
// prerequisites, deletions and additions of 100 ordinary RRsets an UPDATE
// stays far below the 65535 bytes a DNS message can hold; a change set
// whose message would not fit is refused with [providers.ErrInvalid].
const MaxChanges = 100

// maxUDP is the largest request sent over UDP: the DNS flag day 2020
// size, which crosses any path without fragmentation.
const maxUDP = 1232

// fudge is the TSIG time window in seconds (RFC 8945 recommends 300).
const fudge = 300

// Provider writes zones to one RFC 2136 server. Construct it with [New].
type Provider struct {
	name     string
	server   string
	keyName  string // FQDN, lower case; "" means no TSIG
	alg      string // TSIG algorithm name, e.g. dns.HmacSHA256
	secret   secretSource
	transfer string // "axfr" or "query"
	timeout  time.Duration
	log      *slog.Logger

	// onExchange, when set (tests), sees the transport of every request.
	onExchange func(network string, opcode int)
}

var _ providers.Provider = (*Provider)(nil)
var _ providers.Constructor = New

// New builds a provider from its settings. It does no I/O: the TSIG
// secret is read when a request is made, so a node starts while the
// secret or the server is missing.
func New(name string, cfg *config.Provider, env providers.Env) (providers.Provider, error) {
	if cfg == nil || cfg.RFC2136 == nil {
		return nil, providers.Invalid(fmt.Errorf("rfc2136: %s: no rfc2136 settings", name))
	}
	s := cfg.RFC2136
	if s.Server == "" {
		return nil, providers.Invalid(fmt.Errorf("rfc2136: %s: server is empty", name))
	}
	algName := s.TSIGAlgorithm
	if algName == "" {
		algName = "hmac-sha256"
	}
	alg, ok := algorithms[algName]
	if !ok {
		return nil, providers.Invalid(fmt.Errorf("rfc2136: %s: tsig_algorithm %q is not hmac-sha256, hmac-sha512 or hmac-sha1", name, algName))
	}
	transfer := s.Transfer
	if transfer == "" {
		transfer = "axfr"
	}
	if transfer != "axfr" && transfer != "query" {
		return nil, providers.Invalid(fmt.Errorf("rfc2136: %s: transfer %q is not axfr or query", name, transfer))
	}
	timeout := s.Timeout.D()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = defaultGetenv
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{
		name:     name,
		server:   s.Server,
		alg:      alg,
		secret:   secretSource{file: s.TSIGSecretFile, env: s.TSIGSecretEnv, getenv: getenv},
		transfer: transfer,
		timeout:  timeout,
		log:      log.With("component", "rfc2136", "server", s.Server),
	}
	if s.TSIGKey != "" {
		p.keyName = dns.CanonicalName(s.TSIGKey)
		if (s.TSIGSecretFile == "") == (s.TSIGSecretEnv == "") {
			return nil, providers.Invalid(fmt.Errorf("rfc2136: %s: tsig_key needs exactly one of tsig_secret_file and tsig_secret_env", name))
		}
	}
	return p, nil
}

// String names the provider, its server and key, never the secret.
func (p *Provider) String() string {
	if p.keyName == "" {
		return fmt.Sprintf("rfc2136 %s (server %s, no TSIG)", p.name, p.server)
	}
	return fmt.Sprintf("rfc2136 %s (server %s, key %s %s)", p.name, p.server, strings.TrimSuffix(p.keyName, "."), strings.TrimSuffix(p.alg, "."))
}

// Capabilities: one UPDATE is atomic, fence included; at most
// [MaxChanges] RRsets per change set.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Atomic: true, MaxChanges: MaxChanges}
}

// Read returns the requested RRsets of zoneName and the fencing
// generation, by AXFR or by one query per key.
func (p *Provider) Read(ctx context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	origin, err := zone.CanonicalName(zoneName)
	if err != nil {
		return nil, providers.Invalid(fmt.Errorf("rfc2136: read: %w", err))
	}
	tsig, err := p.tsig()
	if err != nil {
		return nil, err
	}
	fk := providers.FenceKey(origin)
	want := make(map[zone.Key]bool, len(keys)+1)
	for _, k := range keys {
		want[k] = true
	}
	fenceAsked := want[fk]
	want[fk] = true // always read, for Content.Fence
	var sets []zone.RRset
	if p.transfer == "query" {
		sets, err = p.queryKeys(ctx, tsig, origin, want)
	} else {
		sets, err = p.axfr(ctx, tsig, origin, want)
	}
	if err != nil {
		return nil, err
	}
	c := &providers.Content{Zone: origin, RRsets: make(map[zone.Key]zone.RRset, len(keys))}
	for _, s := range sets {
		if s.Key() == fk {
			gen, err := providers.ParseFence(s)
			if err != nil {
				return nil, fmt.Errorf("rfc2136: read %s: %w", origin, err)
			}
			c.Fence = gen
			if !fenceAsked {
				continue
			}
		}
		c.RRsets[s.Key()] = s
	}
	return c, nil
}

// Apply sends cs as one UPDATE whose prerequisites are cs's expectations
// and the fence. An empty change set sends nothing.
func (p *Provider) Apply(ctx context.Context, cs *providers.ChangeSet) error {
	if cs == nil || len(cs.Changes) == 0 {
		return nil
	}
	if len(cs.Changes) > MaxChanges {
		return providers.Invalid(fmt.Errorf("rfc2136: change set of %d RRsets, at most %d", len(cs.Changes), MaxChanges))
	}
	origin, err := zone.CanonicalName(cs.Zone)
	if err != nil {
		return providers.Invalid(fmt.Errorf("rfc2136: apply: %w", err))
	}
	tsig, err := p.tsig()
	if err != nil {
		return err
	}
	m, err := updateMessage(origin, cs)
	if err != nil {
		return err
	}
	if err := p.checkTTLs(ctx, tsig, origin, cs); err != nil {
		return err
	}
	r, err := p.exchange(ctx, tsig, m)
	if err != nil {
		return fmt.Errorf("rfc2136: update %s (generation %d): %w", origin, cs.Generation, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
		p.log.Debug("update applied", "zone", origin, "generation", cs.Generation, "changes", len(cs.Changes))
		return nil
	case dns.RcodeNXRrset, dns.RcodeYXRrset, dns.RcodeYXDomain, dns.RcodeNameError:
		return providers.Conflict(fmt.Errorf("rfc2136: update %s (generation %d, fence %d): prerequisite failed: %s",
			origin, cs.Generation, cs.ExpectFence, dns.RcodeToString[r.Rcode]))
	}
	return rcodeError(fmt.Sprintf("update %s", origin), r.Rcode)
}

// checkTTLs reads the RRsets cs expects to exist and refuses cs when their
// TTL (or content) already differs: value-dependent prerequisites do not
// compare TTLs.
func (p *Provider) checkTTLs(ctx context.Context, tsig *tsigKey, origin string, cs *providers.ChangeSet) error {
	want := map[zone.Key]bool{}
	for _, c := range cs.Changes {
		if c.Old != nil {
			want[c.Key] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	var sets []zone.RRset
	var err error
	if p.transfer == "query" {
		sets, err = p.queryKeys(ctx, tsig, origin, want)
	} else {
		sets, err = p.axfr(ctx, tsig, origin, want)
	}
	if err != nil {
		return err
	}
	have := make(map[zone.Key]zone.RRset, len(sets))
	for _, s := range sets {
		have[s.Key()] = s
	}
	for _, c := range cs.Changes {
		if c.Old == nil {
			continue
		}
		if got, ok := have[c.Key]; ok && got.SameData(*c.Old) && got.TTL != c.Old.TTL {
			return providers.Conflict(fmt.Errorf("rfc2136: update %s: %s has TTL %d, the change expects %d", origin, c.Key, got.TTL, c.Old.TTL))
		}
	}
	return nil
}

// updateMessage builds the UPDATE for cs: prerequisites for every
// expectation and the fence, then every deletion, then every addition (so
// that a name changing from A to CNAME is never refused for holding both).
func updateMessage(origin string, cs *providers.ChangeSet) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetUpdate(origin)
	fk := providers.FenceKey(origin)
	stub := func(k zone.Key) []dns.RR {
		return []dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: k.Name, Rrtype: k.Type, Class: dns.ClassINET}}}
	}
	rrs := func(s zone.RRset) ([]dns.RR, error) {
		out, err := s.RRs()
		if err != nil {
			return nil, providers.Invalid(fmt.Errorf("rfc2136: %s: %w", s.Key(), err))
		}
		return out, nil
	}
	seen := map[zone.Key]bool{fk: true}
	for _, c := range cs.Changes {
		if !zone.InZone(c.Key.Name, origin) {
			return nil, providers.Invalid(fmt.Errorf("rfc2136: %s is not in zone %s", c.Key, origin))
		}
		if seen[c.Key] {
			return nil, providers.Invalid(fmt.Errorf("rfc2136: %s changed twice in one change set (or is the fence)", c.Key))
		}
		seen[c.Key] = true
		for _, s := range []*zone.RRset{c.Old, c.New} {
			if s != nil && (s.Key() != c.Key || s.Empty()) {
				return nil, providers.Invalid(fmt.Errorf("rfc2136: change %s holds a set for %s with %d records", c.Key, s.Key(), len(s.Data)))
			}
		}
	}
	// Prerequisites.
	if cs.ExpectFence == 0 {
		m.RRsetNotUsed(stub(fk))
	} else {
		f, err := rrs(providers.FenceRRset(origin, cs.ExpectFence))
		if err != nil {
			return nil, err
		}
		m.Used(f)
	}
	for _, c := range cs.Changes {
		if c.Old == nil {
			m.RRsetNotUsed(stub(c.Key))
			continue
		}
		old, err := rrs(*c.Old)
		if err != nil {
			return nil, err
		}
		m.Used(old)
	}
	// Updates: deletions first.
	m.RemoveRRset(stub(fk))
	for _, c := range cs.Changes {
		if c.Old != nil {
			m.RemoveRRset(stub(c.Key))
		}
	}
	f, err := rrs(providers.FenceRRset(origin, cs.Generation))
	if err != nil {
		return nil, err
	}
	m.Insert(f)
	for _, c := range cs.Changes {
		if c.New == nil {
			continue
		}
		nw, err := rrs(*c.New)
		if err != nil {
			return nil, err
		}
		m.Insert(nw)
	}
	m.Compress = true
	if n := m.Len(); n > dns.MaxMsgSize-256 { // room for the TSIG record
		return nil, providers.Invalid(fmt.Errorf("rfc2136: change set of %d RRsets makes an UPDATE of %d bytes, more than a DNS message holds", len(cs.Changes), n))
	}
	return m, nil
}
