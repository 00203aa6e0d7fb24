// Package clouddns publishes zones to Google Cloud DNS through the official
// client, google.golang.org/api/dns/v1, authenticated with
// cloud.google.com/go/auth (application default credentials or a
// service-account file).
//
// # Reads and writes
//
// [Provider.Read] lists the managed zone's RRsets page by page
// (ResourceRecordSets.List) and keeps the ones asked for plus the fencing
// record. A listing of several pages is not a snapshot; that is harmless
// because every write is checked by Cloud DNS itself.
//
// [Provider.Apply] sends one Changes.Create per change set. Cloud DNS
// applies a Change atomically and refuses it whole when a deletion does not
// match the live RRset exactly (name, type, TTL and every rrdata: HTTP 412
// conditionNotMet; a deletion of an RRset that does not exist is 404) or
// when an addition names an RRset that exists (409 alreadyExists). So an
// update is the deletion of the exact old RRset plus the addition of the
// new one, a create is an addition, a delete is a deletion, and the fencing
// TXT is swapped in the same Change: deletion of the expected fence (when
// there is one) plus addition of the new one. A delayed writer holding an
// old plan names an old fence and is refused by Cloud DNS. Apply returns
// once Changes.Get reports the Change "done".
//
// # Retries
//
// 429 and rateLimitExceeded, 5xx and transport failures are retried with
// exponential backoff and jitter while the context allows (Retry-After is
// honoured). A conditional Change is safe to repeat: if it had in fact been
// applied before the answer was lost, the repeat is refused (412/409/404)
// because the zone no longer holds the old content. After such an
// ambiguous first attempt the provider re-reads the managed RRsets and the
// fence; when the zone holds exactly the change set's new content and
// fence, the earlier attempt succeeded and Apply returns nil. Otherwise
// the refusal is reported as [providers.ErrConflict].
package clouddns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// Type is the provider type name in configuration.
const Type = config.ProviderCloudDNS

// Per-Change limits. Cloud DNS reports them per project as the quotas
// rrsetAdditionsPerChange and rrsetDeletionsPerChange (Projects.Get); both
// default to 1000.
const (
	// MaxAdditionsPerChange is the most RRsets one Change may add.
	MaxAdditionsPerChange = 1000
	// MaxDeletionsPerChange is the most RRsets one Change may delete.
	MaxDeletionsPerChange = 1000
	// MaxRrdataBytesPerChange is the most rrdata bytes (additions and
	// deletions together) one Change may carry (totalRrdataSizePerChange).
	MaxRrdataBytesPerChange = 100000
)

// maxChanges is what [Provider.Capabilities] advertises: every RRset
// change costs at most one addition and one deletion, and the fence swap
// costs one of each on top.
const maxChanges = min(MaxAdditionsPerChange, MaxDeletionsPerChange) - 1

// DefaultRateLimit is the sustained Changes.Create requests per second
// when the provider's rate_limit is 0: well under Cloud DNS's default
// per-project write quota, leaving room for other tools in the project.
const DefaultRateLimit = 5

// Environment variables read by [New] (through [providers.Env.Getenv]).
const (
	// EnvCredentials is the standard variable naming a credentials file
	// for application default credentials; without credentials_file,
	// [New] reads the file it names.
	EnvCredentials = "GOOGLE_APPLICATION_CREDENTIALS"
)

// Provider is a Cloud DNS managed zone. It implements [providers.Provider].
type Provider struct {
	name        string
	project     string
	managedZone string
	log         *slog.Logger

	// connect builds the API client on first use: New does no I/O, so a
	// node starts while Google's API (or the metadata server) is down.
	connect func(ctx context.Context) (api, error)
	// secrets are strings from the credentials that must never leave the
	// process; every returned error is checked against them.
	secrets secretList

	mu      sync.Mutex
	client  api    // set once connect succeeds
	dnsName string // the managed zone's DNS name, once known
	// seen holds each managed RRset as Cloud DNS returned it in the last
	// read, text untouched: a deletion must match the live RRset
	// exactly, so when the canonical form of what was seen equals the
	// change's Old, the deletion is sent in Cloud DNS's own spelling
	// (an RRset written by another tool as "2001:DB8::1" is deleted as
	// such, whatever Cloud DNS compares).
	seen map[zone.Key]seenRRset

	retry retryPolicy
	// writes paces Changes.Create (retries included) at rate_limit.
	writes *rate.Limiter
}

var _ providers.Provider = (*Provider)(nil)

// New builds a Cloud DNS provider from its validated settings. It matches
// [providers.Constructor]. It reads the credentials file when one is named
// (so a missing or malformed file fails at start) but does no network
// I/O.
func New(name string, cfg *config.Provider, env providers.Env) (providers.Provider, error) {
	return newProvider(name, cfg, env)
}

func newProvider(name string, cfg *config.Provider, env providers.Env) (*Provider, error) {
	if cfg == nil || cfg.CloudDNS == nil {
		return nil, providers.Invalid(errors.New("clouddns: no clouddns settings"))
	}
	s := cfg.CloudDNS
	if s.Project == "" || s.ManagedZone == "" {
		return nil, providers.Invalid(errors.New("clouddns: project and managed_zone are required"))
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("provider_type", Type, "project", s.Project, "managed_zone", s.ManagedZone)

	var creds *credentialSource
	switch {
	case s.CredentialsFile != "":
		c, err := readCredentialsFile(s.CredentialsFile)
		if err != nil {
			return nil, providers.Invalid(fmt.Errorf("clouddns: %w", err))
		}
		creds = c
	case s.Endpoint == "" && getenv(EnvCredentials) != "":
		// The first step of application default credentials, taken
		// here so that the file is read through env (and its secrets
		// learnt for redaction) and a bad file fails at start.
		c, err := readCredentialsFile(getenv(EnvCredentials))
		if err != nil {
			return nil, providers.Invalid(fmt.Errorf("clouddns: %s: %w", EnvCredentials, err))
		}
		creds = c
	case s.Endpoint == "":
		// The rest of application default credentials (gcloud's file,
		// the metadata server), resolved when the provider connects.
		creds = &credentialSource{}
	}
	p := &Provider{
		name:        name,
		project:     s.Project,
		managedZone: s.ManagedZone,
		log:         log,
		retry:       defaultRetry,
		writes:      newLimiter(cfg.Common.RateLimit),
	}
	if creds != nil {
		p.secrets = creds.secrets
	}
	endpoint := s.Endpoint
	p.connect = func(ctx context.Context) (api, error) {
		return newServiceAPI(ctx, p.project, p.managedZone, endpoint, creds)
	}
	return p, nil
}

// String names the provider without any credential.
func (p *Provider) String() string {
	return fmt.Sprintf("clouddns %s (project %s, managed zone %s)", p.name, p.project, p.managedZone)
}

// GoString is [Provider.String], so that %#v prints no credential.
func (p *Provider) GoString() string { return p.String() }

// newLimiter paces writes at perSecond (0: [DefaultRateLimit]) with a
// burst of one second's worth.
func newLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		perSecond = DefaultRateLimit
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
}

// secretList holds credential material; it prints as a mask.
type secretList []string

// String masks the secrets.
func (secretList) String() string { return "[redacted]" }

// GoString masks the secrets.
func (secretList) GoString() string { return "[redacted]" }

// Capabilities reports atomic change sets of at most 999 RRset changes
// (see [MaxAdditionsPerChange]).
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Atomic: true, MaxChanges: maxChanges}
}

// api returns the client, connecting on first use.
func (p *Provider) api(ctx context.Context) (api, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	c, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	p.client = c
	return c, nil
}

// checkZone makes sure zoneName is the managed zone's DNS name, asking
// Cloud DNS once (ManagedZones.Get) and remembering the answer, so that a
// configuration that points a zone at the wrong managed zone writes
// nothing.
func (p *Provider) checkZone(ctx context.Context, c api, zoneName string) (string, error) {
	zn, err := zone.CanonicalName(zoneName)
	if err != nil {
		return "", providers.Invalid(fmt.Errorf("clouddns: zone %q: %w", zoneName, err))
	}
	p.mu.Lock()
	known := p.dnsName
	p.mu.Unlock()
	if known == "" {
		var mz string
		err := p.retry.do(ctx, p.log, "get managed zone", func(ctx context.Context) error {
			var err error
			mz, err = c.getZone(ctx)
			return err
		})
		if err != nil {
			return "", p.fail("get managed zone", err)
		}
		known, err = zone.CanonicalName(mz)
		if err != nil {
			return "", providers.Invalid(fmt.Errorf("clouddns: managed zone %s has DNS name %q: %w", p.managedZone, mz, err))
		}
		p.mu.Lock()
		p.dnsName = known
		p.mu.Unlock()
	}
	if known != zn {
		return "", providers.Invalid(fmt.Errorf("clouddns: managed zone %s serves %s, not %s", p.managedZone, known, zn))
	}
	return zn, nil
}

// Read returns the managed RRsets named by keys and the fencing
// generation, from a full paged listing of the managed zone.
func (p *Provider) Read(ctx context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	c, err := p.api(ctx)
	if err != nil {
		return nil, p.scrub(err)
	}
	zn, err := p.checkZone(ctx, c, zoneName)
	if err != nil {
		return nil, p.scrub(err)
	}
	for _, k := range keys {
		if !zone.InZone(k.Name, zn) {
			return nil, providers.Invalid(fmt.Errorf("clouddns: read: %s is not in zone %s", k, zn))
		}
	}
	content, err := p.read(ctx, c, zn, keys)
	return content, p.scrub(err)
}

func (p *Provider) read(ctx context.Context, c api, zn string, keys []zone.Key) (*providers.Content, error) {
	want := make(map[zone.Key]bool, len(keys)+1)
	for _, k := range keys {
		want[zone.Key{Name: strings.ToLower(dns.Fqdn(k.Name)), Type: k.Type}] = true
	}
	fenceKey := providers.FenceKey(zn)
	out := &providers.Content{Zone: zn, RRsets: map[zone.Key]zone.RRset{}}
	var fence *zone.RRset
	token := ""
	for page := 0; ; page++ {
		var sets []apiRRset
		var next string
		err := p.retry.do(ctx, p.log, "list rrsets", func(ctx context.Context) error {
			var err error
			sets, next, err = c.listPage(ctx, token)
			return err
		})
		if err != nil {
			return nil, p.fail("list rrsets", err)
		}
		for _, a := range sets {
			s, ok, err := fromAPI(a)
			if err != nil {
				return nil, providers.Invalid(fmt.Errorf("clouddns: list rrsets: %w", err))
			}
			if !ok {
				continue // a type we do not manage (and cannot name)
			}
			switch k := s.Key(); {
			case k == fenceKey:
				f := s
				fence = &f
				p.remember(s, a)
			case want[k]:
				out.RRsets[k] = s
				p.remember(s, a)
			}
		}
		if next == "" {
			break
		}
		if next == token {
			return nil, providers.Unavailable(fmt.Errorf("clouddns: list rrsets: page %d repeats page token", page))
		}
		token = next
	}
	if fence != nil {
		gen, err := providers.ParseFence(*fence)
		if err != nil {
			return nil, fmt.Errorf("clouddns: read: %w", err)
		}
		out.Fence = gen
		if want[fenceKey] {
			out.RRsets[fenceKey] = *fence
		}
	}
	return out, nil
}

// Apply sends cs as one Cloud DNS Change (deletions of the exact old
// RRsets and the expected fence, additions of the new RRsets and the new
// fence) and waits until Cloud DNS reports it done.
func (p *Provider) Apply(ctx context.Context, cs *providers.ChangeSet) error {
	if cs == nil || len(cs.Changes) == 0 {
		return nil
	}
	return p.scrub(p.apply(ctx, cs))
}

func (p *Provider) apply(ctx context.Context, cs *providers.ChangeSet) error {
	if len(cs.Changes) > maxChanges {
		return providers.Invalid(fmt.Errorf("clouddns: change set of %d changes exceeds %d (per-change addition/deletion limits); split it", len(cs.Changes), maxChanges))
	}
	c, err := p.api(ctx)
	if err != nil {
		return err
	}
	zn, err := p.checkZone(ctx, c, cs.Zone)
	if err != nil {
		return err
	}
	change, err := buildChange(zn, cs, p.spelling)
	if err != nil {
		return err
	}
	log := p.log.With("generation", cs.Generation, "expect_fence", cs.ExpectFence, "changes", len(cs.Changes))

	// ambiguous is set once an attempt failed in a way that leaves its
	// outcome unknown (5xx, lost connection): a later refusal may be our
	// own earlier success.
	ambiguous := false
	var id string
	err = p.retry.do(ctx, log, "create change", func(ctx context.Context) error {
		if err := p.writes.Wait(ctx); err != nil {
			// Our own pace would outlast the deadline: nothing sent.
			return providers.Throttled(fmt.Errorf("rate limit %.3g/s: %w", float64(p.writes.Limit()), err), 0)
		}
		var err error
		id, err = c.createChange(ctx, change)
		if err != nil && !ambiguous && outcomeUnknown(err) {
			ambiguous = true
		}
		return err
	})
	if err != nil {
		kerr := p.fail("create change", err)
		if isNotFound(err) {
			// A deletion of an RRset that does not exist is 404, as
			// is a managed zone that does not exist: tell them apart.
			zerr := p.retry.do(ctx, log, "get managed zone", func(ctx context.Context) error {
				_, err := c.getZone(ctx)
				return err
			})
			switch {
			case zerr == nil:
				kerr = fmt.Errorf("clouddns: create change: %w", providers.Conflict(err))
			case !isNotFound(zerr):
				// Cannot tell now; the caller retries.
				kerr = fmt.Errorf("clouddns: create change refused with 404, managed zone unknown: %w", classify(zerr))
			}
		}
		if errors.Is(kerr, providers.ErrConflict) && ambiguous {
			if p.holdsResult(ctx, c, zn, cs) {
				log.Info("an earlier attempt of the change had been applied; its repeat was refused")
				return nil
			}
		}
		return kerr
	}
	return p.waitDone(ctx, c, log, id)
}

// holdsResult reports whether the zone holds exactly what cs leaves
// behind: every New (or nothing, for a delete) and the new fence.
func (p *Provider) holdsResult(ctx context.Context, c api, zn string, cs *providers.ChangeSet) bool {
	keys := make([]zone.Key, 0, len(cs.Changes))
	for _, ch := range cs.Changes {
		keys = append(keys, ch.Key)
	}
	cur, err := p.read(ctx, c, zn, keys)
	if err != nil || cur.Fence != cs.Generation {
		return false
	}
	for _, ch := range cs.Changes {
		got, ok := cur.Lookup(canonicalKey(ch.Key))
		switch {
		case ch.New == nil && ok, ch.New != nil && !ok:
			return false
		case ch.New != nil && !got.Equal(*ch.New):
			return false
		}
	}
	return true
}

// waitDone polls Changes.Get until the Change is done.
func (p *Provider) waitDone(ctx context.Context, c api, log *slog.Logger, id string) error {
	wait := p.retry.pollBase
	for {
		var status string
		err := p.retry.do(ctx, log, "get change", func(ctx context.Context) error {
			var err error
			status, err = c.getChange(ctx, id)
			return err
		})
		if err != nil {
			return fmt.Errorf("clouddns: change %s accepted, waiting for it: %w", id, classify(err))
		}
		if status == "done" {
			return nil
		}
		if err := sleep(ctx, jitter(wait)); err != nil {
			return providers.Unavailable(fmt.Errorf("clouddns: change %s accepted but still %s: %w", id, status, err))
		}
		wait = min(2*wait, p.retry.max)
	}
}

// fail turns an API error into a typed error naming the operation.
func (p *Provider) fail(op string, err error) error {
	var perr *providers.Error
	if errors.As(err, &perr) {
		return fmt.Errorf("clouddns: %s: %w", op, err)
	}
	return fmt.Errorf("clouddns: %s: %w", op, classify(err))
}

// scrub replaces an error whose text contains a credential secret by a
// redacted copy of the same kind. Nothing we write puts a secret in an
// error; this guards against a library that would.
func (p *Provider) scrub(err error) error {
	if err == nil || len(p.secrets) == 0 {
		return err
	}
	msg := err.Error()
	hit := false
	for _, s := range p.secrets {
		if strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
			hit = true
		}
	}
	if !hit {
		return err
	}
	var perr *providers.Error
	out := &providers.Error{Kind: providers.ErrUnavailable, Err: errors.New(msg)}
	if errors.As(err, &perr) {
		out.Kind, out.RetryAfter = perr.Kind, perr.RetryAfter
	}
	return out
}

// buildChange turns a change set into the Change Cloud DNS applies
// atomically. Deletions and additions keep the change set's order; the
// fence swap comes last.
func buildChange(zn string, cs *providers.ChangeSet, spell func(zone.RRset) apiRRset) (*apiChange, error) {
	fenceKey := providers.FenceKey(zn)
	seen := make(map[zone.Key]bool, len(cs.Changes))
	ch := &apiChange{}
	for _, c := range cs.Changes {
		k := canonicalKey(c.Key)
		switch {
		case !zone.InZone(k.Name, zn):
			return nil, providers.Invalid(fmt.Errorf("clouddns: %s is not in zone %s", c, zn))
		case k == fenceKey:
			return nil, providers.Invalid(fmt.Errorf("clouddns: %s: the fencing record is not a managed RRset", c))
		case seen[k]:
			return nil, providers.Invalid(fmt.Errorf("clouddns: %s twice in one change set", c))
		case c.Old == nil && c.New == nil:
			return nil, providers.Invalid(fmt.Errorf("clouddns: %s: neither old nor new content", k))
		case c.Old != nil && canonicalKey(c.Old.Key()) != k, c.New != nil && canonicalKey(c.New.Key()) != k:
			return nil, providers.Invalid(fmt.Errorf("clouddns: %s: old or new content has another key", k))
		case c.New != nil && c.New.Empty():
			return nil, providers.Invalid(fmt.Errorf("clouddns: %s: new content has no records (use New=nil to delete)", k))
		}
		seen[k] = true
		if c.Old != nil {
			ch.Deletions = append(ch.Deletions, spell(*c.Old))
		}
		if c.New != nil {
			ch.Additions = append(ch.Additions, toAPI(*c.New))
		}
	}
	if cs.ExpectFence > 0 {
		ch.Deletions = append(ch.Deletions, spell(providers.FenceRRset(zn, cs.ExpectFence)))
	}
	ch.Additions = append(ch.Additions, toAPI(providers.FenceRRset(zn, cs.Generation)))
	if n := rrdataBytes(ch); n > MaxRrdataBytesPerChange {
		return nil, providers.Invalid(fmt.Errorf("clouddns: change set carries %d bytes of rrdata, Cloud DNS takes %d per change; split it", n, MaxRrdataBytesPerChange))
	}
	return ch, nil
}

// rrdataBytes counts the rrdata bytes of a Change as Cloud DNS's
// totalRrdataSizePerChange does: the length of every rrdata string.
func rrdataBytes(ch *apiChange) int {
	n := 0
	for _, l := range [][]apiRRset{ch.Additions, ch.Deletions} {
		for _, r := range l {
			for _, d := range r.Rrdatas {
				n += len(d)
			}
		}
	}
	return n
}

// seenRRset is an RRset read from Cloud DNS: canonical and as sent.
type seenRRset struct {
	canon zone.RRset
	raw   apiRRset
}

// maxSeen bounds the spelling cache; past it, it starts afresh.
const maxSeen = 20000

// remember notes how Cloud DNS spells s.
func (p *Provider) remember(s zone.RRset, raw apiRRset) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil || len(p.seen) >= maxSeen {
		p.seen = map[zone.Key]seenRRset{}
	}
	p.seen[s.Key()] = seenRRset{canon: s, raw: raw}
}

// spelling returns s as Cloud DNS last returned it when that is the same
// RRset, else in canonical form.
func (p *Provider) spelling(s zone.RRset) apiRRset {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.seen[canonicalKey(s.Key())]; ok && v.canon.Equal(s) {
		return v.raw
	}
	return toAPI(s)
}

func canonicalKey(k zone.Key) zone.Key {
	return zone.Key{Name: strings.ToLower(dns.Fqdn(k.Name)), Type: k.Type}
}

// toAPI converts a canonical RRset to Cloud DNS's form. Cloud DNS keeps
// rrdatas in presentation form, one record each; a TXT record is its
// quoted strings ("a" "b"), exactly what the zone package holds.
func toAPI(s zone.RRset) apiRRset {
	return apiRRset{Name: s.Name, Type: zone.TypeString(s.Type), TTL: int64(s.TTL), Rrdatas: append([]string(nil), s.Data...)}
}

// fromAPI converts an RRset from Cloud DNS to canonical form. ok is false
// for a type the dns package does not know.
func fromAPI(a apiRRset) (zone.RRset, bool, error) {
	typ, ok := zone.ParseType(a.Type)
	if !ok {
		return zone.RRset{}, false, nil
	}
	if a.TTL < 0 || a.TTL > zone.MaxTTL {
		return zone.RRset{}, false, fmt.Errorf("%s %s: ttl %d out of range", a.Name, a.Type, a.TTL)
	}
	s, err := zone.NewRRset(a.Name, typ, uint32(a.TTL), a.Rrdatas...)
	if err != nil {
		return zone.RRset{}, false, err
	}
	return s, true, nil
}

// retryPolicy is exponential backoff with jitter for requests that are
// safe to repeat.
type retryPolicy struct {
	attempts int           // total tries of one request
	base     time.Duration // first backoff
	max      time.Duration // largest backoff
	pollBase time.Duration // first wait between Changes.Get polls
	perTry   time.Duration // bound of one request, so a hung one is retried
}

var defaultRetry = retryPolicy{attempts: 6, base: 200 * time.Millisecond, max: 10 * time.Second, pollBase: 250 * time.Millisecond, perTry: 30 * time.Second}

// do runs f until it succeeds, fails in a way a retry will not fix, runs
// out of attempts, or the next wait would outlast ctx. It returns f's last
// error, unclassified.
func (r retryPolicy) do(ctx context.Context, log *slog.Logger, op string, f func(context.Context) error) error {
	backoff := r.base
	for attempt := 1; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, r.perTry)
		err := f(tctx)
		cancel()
		if err == nil {
			return nil
		}
		kerr := classify(err)
		if !errors.Is(kerr, providers.ErrThrottled) && !errors.Is(kerr, providers.ErrUnavailable) {
			return err
		}
		if ctx.Err() != nil || attempt >= r.attempts {
			return err
		}
		wait := jitter(backoff)
		if ra, ok := providers.RetryAfter(kerr); ok && ra > wait {
			wait = ra
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		log.Warn("retrying", "op", op, "attempt", attempt, "wait", wait, "kind", providers.KindOf(kerr), "err", err)
		if sleep(ctx, wait) != nil {
			return err
		}
		backoff = min(2*backoff, r.max)
	}
}

// jitter returns a wait between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
