// Package azuredns publishes a zone's managed RRsets to Azure DNS through
// the official SDK (armdns, API version 2018-05-01) with credentials from
// azidentity's default chain.
//
// # Compare-and-swap without transactions
//
// Azure DNS has no multi-RRset transaction, so [Provider.Capabilities]
// reports Atomic false and [Provider.Apply] writes one record set at a
// time, each write conditional on the record set's ETag:
//
//   - create: PUT with If-None-Match: * (fails if the set exists);
//   - update: PUT with If-Match: <etag of the Old content>;
//   - delete: DELETE with If-Match: <etag of the Old content>.
//
// The ETag comes from the last [Provider.Read] when the content read then
// equals [providers.Change.Old]; otherwise the provider GETs the set and
// compares it with Old first. Either way the write itself carries the
// ETag, so Azure refuses it (412 Precondition Failed, reported as
// [providers.ErrConflict]) if anything changed the set in between.
//
// The fencing TXT record at [providers.FenceName] is written first, also
// conditionally (If-Match its ETag when ChangeSet.ExpectFence > 0 and the
// fence holds that generation, If-None-Match: * when it is 0), so a writer
// with a stale plan is stopped before it touches any managed record.
//
// # Write order
//
// Creates and updates go before deletes, so a name that keeps any record
// is never empty between two writes. The one exception is a name that
// swaps a CNAME for other types (or the reverse): Azure refuses a CNAME
// next to any other record set (409), so the old sets must go before the
// new one is created. Such swaps run last, delete then create, back to
// back; the name is empty for one round trip, and if the create then
// fails the next Read shows the name missing and the reconciler re-plans
// the create. This is logged at Warn.
//
// On the first conflict (or any other error) Apply stops: later writes
// are not sent, and what was written stays visible to the next Read.
//
// # Retries
//
// The SDK retries 408, 500, 502, 503 and 504 at most twice with
// exponential backoff (a Retry-After above 4s is not waited for: the
// error returns as [providers.ErrUnavailable]). Retrying a conditional write is harmless: if the
// first attempt landed, the retry fails its precondition and comes back
// as a conflict, never as an overwrite. 429 is not retried inside the SDK:
// it returns at once as [providers.ErrThrottled] with the Retry-After
// Azure sent, so the reconciler's per-provider queue waits and shows the
// lag instead of a worker sleeping inside an HTTP call. Until that time
// has passed, Read and Apply fail fast the same way and send nothing.
package azuredns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// Type is the provider type name in the configuration.
const Type = config.ProviderAzureDNS

// listThreshold is the number of keys above which Read lists the whole
// zone (100 record sets a page) instead of getting each set.
const listThreshold = 16

// pageSize is the $top of a list request (Azure's maximum is 100).
const pageSize = 100

// Retry policy of the SDK pipeline; see the package comment.
const (
	maxRetries    = 2
	retryDelay    = 500 * time.Millisecond
	maxRetryDelay = 4 * time.Second
	tryTimeout    = 30 * time.Second
)

// recordSetsAPI is the part of [armdns.RecordSetsClient] the provider
// uses.
type recordSetsAPI interface {
	NewListByDNSZonePager(resourceGroupName, zoneName string, options *armdns.RecordSetsClientListByDNSZoneOptions) *runtime.Pager[armdns.RecordSetsClientListByDNSZoneResponse]
	Get(ctx context.Context, resourceGroupName, zoneName, relativeRecordSetName string, recordType armdns.RecordType, options *armdns.RecordSetsClientGetOptions) (armdns.RecordSetsClientGetResponse, error)
	CreateOrUpdate(ctx context.Context, resourceGroupName, zoneName, relativeRecordSetName string, recordType armdns.RecordType, parameters armdns.RecordSet, options *armdns.RecordSetsClientCreateOrUpdateOptions) (armdns.RecordSetsClientCreateOrUpdateResponse, error)
	Delete(ctx context.Context, resourceGroupName, zoneName, relativeRecordSetName string, recordType armdns.RecordType, options *armdns.RecordSetsClientDeleteOptions) (armdns.RecordSetsClientDeleteResponse, error)
}

var _ recordSetsAPI = (*armdns.RecordSetsClient)(nil)

var _ providers.Provider = (*Provider)(nil)

// Options change how [NewWithOptions] reaches Azure; the zero value is
// what [New] does.
type Options struct {
	// Transport carries the Azure Resource Manager requests (nil: the
	// SDK's HTTP client). A proxying transport goes here, or, in tests,
	// the armdns/fake transport from package azurednstest.
	Transport policy.Transporter
	// Credential signs the requests (nil: azidentity's default chain,
	// built on the first request). Tests pass azcore/fake's
	// TokenCredential.
	Credential azcore.TokenCredential
}

// options are Options plus what only this package's tests change.
type options struct {
	// transport carries the ARM requests (nil: the SDK's HTTP client).
	transport policy.Transporter
	// credential signs them (nil: azidentity's default chain, built on
	// first use).
	credential azcore.TokenCredential
	// identityTransport carries the default chain's token requests (nil:
	// the SDK's HTTP client).
	identityTransport policy.Transporter
	// retryDelay replaces the SDK's initial retry delay (0: retryDelay).
	retryDelay time.Duration
	// now is the clock of the throttling window (nil: time.Now).
	now func() time.Time
}

// Provider publishes RRsets to one Azure DNS zone. It is safe for
// concurrent use.
type Provider struct {
	name     string
	sub      string
	rg       string
	zoneName string // configured zone_name, canonical FQDN; "" takes the zone given
	log      *slog.Logger
	api      recordSetsAPI

	now func() time.Time

	mu    sync.Mutex
	etags map[zone.Key]seen
	// throttledUntil is when the last 429's Retry-After ends; until
	// then calls fail fast with ErrThrottled and send nothing.
	throttledUntil time.Time
}

// seen is what the provider last saw of a record set: its ETag and its
// content (no data: the set exists without records).
type seen struct {
	etag string
	set  zone.RRset
}

// New builds an Azure DNS provider from cfg; it matches
// [providers.Constructor]. It does no network I/O: the credential chain is
// built on the first request.
func New(name string, cfg *config.Provider, env providers.Env) (providers.Provider, error) {
	return newProvider(name, cfg, env, options{})
}

// NewWithOptions is [New] with the transport and credential given; it does
// no network I/O either.
func NewWithOptions(name string, cfg *config.Provider, env providers.Env, o Options) (providers.Provider, error) {
	return newProvider(name, cfg, env, options{transport: o.Transport, credential: o.Credential})
}

func newProvider(name string, cfg *config.Provider, env providers.Env, o options) (*Provider, error) {
	if cfg == nil || cfg.AzureDNS == nil {
		return nil, providers.Invalid(errors.New("azuredns: missing azuredns settings"))
	}
	s := cfg.AzureDNS
	if s.SubscriptionID == "" || s.ResourceGroup == "" {
		return nil, providers.Invalid(errors.New("azuredns: subscription_id and resource_group are required"))
	}
	p := &Provider{
		name:  name,
		sub:   s.SubscriptionID,
		rg:    s.ResourceGroup,
		log:   env.Logger,
		etags: map[zone.Key]seen{},
		now:   o.now,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("provider_type", Type, "resource_group", s.ResourceGroup)
	if s.ZoneName != "" {
		n, err := zone.CanonicalName(s.ZoneName)
		if err != nil {
			return nil, providers.Invalid(fmt.Errorf("azuredns: zone_name: %w", err))
		}
		p.zoneName = n
	}
	delay := retryDelay
	if o.retryDelay != 0 {
		delay = o.retryDelay
	}
	co := &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Transport: o.transport,
			Retry: policy.RetryOptions{
				MaxRetries:    maxRetries,
				TryTimeout:    tryTimeout,
				RetryDelay:    delay,
				MaxRetryDelay: maxRetryDelay,
				StatusCodes: []int{
					http.StatusRequestTimeout,
					http.StatusInternalServerError,
					http.StatusBadGateway,
					http.StatusServiceUnavailable,
					http.StatusGatewayTimeout,
				},
			},
			Telemetry: policy.TelemetryOptions{ApplicationID: "switchboard"},
		},
		// Registering the Microsoft.Network resource provider is a
		// subscription-wide write we were not asked to make.
		DisableRPRegistration: true,
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, providers.Invalid(fmt.Errorf("azuredns: endpoint %q must be an https URL", s.Endpoint))
		}
		pub := cloud.AzurePublic
		co.Cloud = cloud.Configuration{
			ActiveDirectoryAuthorityHost: pub.ActiveDirectoryAuthorityHost,
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: s.Endpoint, Audience: pub.Services[cloud.ResourceManager].Audience},
			},
		}
	}
	cred := o.credential
	if cred == nil {
		cred = &lazyCredential{transport: o.identityTransport}
	}
	c, err := armdns.NewRecordSetsClient(s.SubscriptionID, cred, co)
	if err != nil {
		return nil, providers.Invalid(fmt.Errorf("azuredns: client: %w", err))
	}
	p.api = c
	return p, nil
}

// String names the provider and its zone; it holds no credential.
func (p *Provider) String() string {
	return fmt.Sprintf("azuredns %s (subscription %s, resource group %s)", p.name, p.sub, p.rg)
}

// Capabilities reports that Azure DNS applies one record set at a time.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Atomic: false}
}

// lazyCredential builds azidentity's default chain on first use, so that
// New does no I/O and a missing credential shows up as an error of the
// first request rather than of the node's start.
type lazyCredential struct {
	transport policy.Transporter

	once sync.Once
	cred azcore.TokenCredential
	err  error
}

// GetToken implements [azcore.TokenCredential].
func (l *lazyCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	l.once.Do(func() {
		o := &azidentity.DefaultAzureCredentialOptions{}
		o.Transport = l.transport
		l.cred, l.err = azidentity.NewDefaultAzureCredential(o)
	})
	if l.err != nil {
		return azcore.AccessToken{}, l.err
	}
	return l.cred.GetToken(ctx, opts)
}

// azureZone checks zoneName against the configured zone and returns its
// canonical FQDN and Azure's name for it ("example.com").
func (p *Provider) azureZone(zoneName string) (fqdn, az string, err error) {
	fqdn, err = zone.CanonicalName(zoneName)
	if err != nil {
		return "", "", providers.Invalid(fmt.Errorf("azuredns: zone: %w", err))
	}
	if p.zoneName != "" && fqdn != p.zoneName {
		return "", "", providers.Invalid(fmt.Errorf("azuredns: zone %s is not this provider's zone %s", fqdn, p.zoneName))
	}
	return fqdn, strings.TrimSuffix(fqdn, "."), nil
}

// target is one record set in Azure's terms.
type target struct {
	key  zone.Key
	rel  string
	typ  armdns.RecordType
	zone string // Azure zone name
}

func (p *Provider) target(k zone.Key, fqdn, az string) (target, error) {
	if !zone.InZone(k.Name, fqdn) {
		return target{}, providers.Invalid(fmt.Errorf("azuredns: %s is not in zone %s", k, fqdn))
	}
	rt, err := recordType(k.Type)
	if err != nil {
		return target{}, err
	}
	rel, err := relativeName(k.Name, fqdn)
	if err != nil {
		return target{}, err
	}
	return target{key: k, rel: rel, typ: rt, zone: az}, nil
}

// Read returns the current content of keys in zoneName and the fencing
// generation, and remembers the ETags for the next Apply.
func (p *Provider) Read(ctx context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	fqdn, az, err := p.azureZone(zoneName)
	if err != nil {
		return nil, err
	}
	if err := p.waitingOut(); err != nil {
		return nil, err
	}
	fk := providers.FenceKey(fqdn)
	want := map[zone.Key]target{}
	for _, k := range append(slices.Clone(keys), fk) {
		t, err := p.target(k, fqdn, az)
		if err != nil {
			return nil, err
		}
		want[k] = t
	}
	found := map[zone.Key]seen{}
	if len(want) > listThreshold {
		err = p.list(ctx, fqdn, az, want, found)
	} else {
		for _, t := range want {
			var s seen
			var ok bool
			s, ok, err = p.get(ctx, t)
			if err != nil {
				break
			}
			if ok {
				found[t.key] = s
			}
		}
	}
	if err != nil {
		p.noteThrottle(err)
		return nil, err
	}
	c := &providers.Content{Zone: fqdn, RRsets: map[zone.Key]zone.RRset{}}
	p.mu.Lock()
	for k := range want {
		s, ok := found[k]
		if !ok {
			delete(p.etags, k)
			continue
		}
		p.etags[k] = s
	}
	p.mu.Unlock()
	for _, k := range keys {
		if s, ok := found[k]; ok && !s.set.Empty() {
			c.RRsets[k] = s.set
		}
	}
	if s, ok := found[fk]; ok && !s.set.Empty() {
		gen, err := providers.ParseFence(s.set)
		if err != nil {
			return nil, fmt.Errorf("azuredns: read %s: %w", fqdn, err)
		}
		c.Fence = gen
	}
	p.log.Debug("read", "zone", fqdn, "keys", len(keys), "found", len(c.RRsets), "fence", c.Fence)
	return c, nil
}

// get reads one record set; ok is false when it does not exist.
func (p *Provider) get(ctx context.Context, t target) (seen, bool, error) {
	resp, err := p.api.Get(ctx, p.rg, t.zone, t.rel, t.typ, nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && !zoneMissing(re) {
			return seen{}, false, nil
		}
		return seen{}, false, mapErr("get", t.key, err)
	}
	set, err := fromRecordSet(t.key.Name, t.key.Type, &resp.RecordSet)
	if err != nil {
		return seen{}, false, err
	}
	return seen{etag: str(resp.Etag), set: set}, true, nil
}

// zoneMissing tells a missing zone or resource group (the configuration
// is wrong) from a missing record set (a normal answer, code "NotFound").
func zoneMissing(re *azcore.ResponseError) bool {
	switch re.ErrorCode {
	case "ParentResourceNotFound", "ResourceGroupNotFound":
		return true
	}
	return false
}

// list pages through the whole zone and keeps the record sets in want.
func (p *Provider) list(ctx context.Context, fqdn, az string, want map[zone.Key]target, found map[zone.Key]seen) error {
	pager := p.api.NewListByDNSZonePager(p.rg, az, &armdns.RecordSetsClientListByDNSZoneOptions{Top: to.Ptr(int32(pageSize))})
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return mapErr("list", zoneRef(fqdn), err)
		}
		pages++
		for _, rs := range page.Value {
			if rs == nil || rs.Name == nil || rs.Type == nil {
				continue
			}
			typ, ok := typeFromResource(*rs.Type)
			if !ok {
				continue
			}
			k := zone.Key{Name: absoluteName(*rs.Name, fqdn), Type: typ}
			if _, ok := want[k]; !ok {
				continue
			}
			set, err := fromRecordSet(k.Name, k.Type, rs)
			if err != nil {
				return err
			}
			found[k] = seen{etag: str(rs.Etag), set: set}
		}
	}
	p.log.Debug("listed zone", "zone", fqdn, "pages", pages)
	return nil
}

// write is one conditional request of an Apply.
type write struct {
	change providers.Change
	t      target
	body   armdns.RecordSet // for creates and updates
}

// Apply applies cs one record set at a time, fence first, each write
// conditional on the ETag of the content the change expects; see the
// package comment for the order and what a conflict leaves behind.
func (p *Provider) Apply(ctx context.Context, cs *providers.ChangeSet) error {
	if cs == nil || len(cs.Changes) == 0 {
		return nil
	}
	fqdn, az, err := p.azureZone(cs.Zone)
	if err != nil {
		return err
	}
	fk := providers.FenceKey(fqdn)
	writes := make([]write, 0, len(cs.Changes))
	keys := map[zone.Key]bool{}
	for _, ch := range cs.Changes {
		if keys[ch.Key] {
			return providers.Invalid(fmt.Errorf("azuredns: two changes for %s", ch.Key))
		}
		keys[ch.Key] = true
		if ch.Key == fk {
			return providers.Invalid(fmt.Errorf("azuredns: %s: the fencing record is not a managed RRset", ch.Key))
		}
		if (ch.Old != nil && ch.Old.Key() != ch.Key) || (ch.New != nil && ch.New.Key() != ch.Key) {
			return providers.Invalid(fmt.Errorf("azuredns: %s: old or new content has another key", ch.Key))
		}
		if ch.Old == nil && ch.New == nil {
			return providers.Invalid(fmt.Errorf("azuredns: %s: change without old or new content", ch.Key))
		}
		if ch.New != nil && ch.New.Empty() {
			return providers.Invalid(fmt.Errorf("azuredns: %s: new content has no records (delete instead)", ch.Key))
		}
		t, err := p.target(ch.Key, fqdn, az)
		if err != nil {
			return err
		}
		w := write{change: ch, t: t}
		if ch.New != nil {
			if w.body, err = toRecordSet(*ch.New); err != nil {
				return err
			}
		}
		writes = append(writes, w)
	}
	if err := p.waitingOut(); err != nil {
		return err
	}
	if err := p.writeFence(ctx, cs, fqdn, az); err != nil {
		p.noteThrottle(err)
		return err
	}
	for _, w := range orderWrites(writes, p.log) {
		if err := p.apply(ctx, w); err != nil {
			p.noteThrottle(err)
			p.log.Info("apply stopped", "zone", fqdn, "generation", cs.Generation, "change", w.change.String(), "kind", providers.KindOf(err))
			return err
		}
	}
	p.log.Info("applied", "zone", fqdn, "generation", cs.Generation, "changes", len(writes))
	return nil
}

// writeFence swaps the fencing record from ExpectFence to Generation.
func (p *Provider) writeFence(ctx context.Context, cs *providers.ChangeSet, fqdn, az string) error {
	fk := providers.FenceKey(fqdn)
	t, err := p.target(fk, fqdn, az)
	if err != nil {
		return err
	}
	fence := providers.FenceRRset(fqdn, cs.Generation)
	body, err := toRecordSet(fence)
	if err != nil {
		return err
	}
	if cs.ExpectFence == 0 {
		resp, err := p.api.CreateOrUpdate(ctx, p.rg, az, t.rel, t.typ, body, p.createOptions(fk))
		if err != nil {
			p.forget(fk)
			return mapErr("fence", fk, err)
		}
		p.remember(fk, str(resp.Etag), fence)
	} else {
		holds := func(s zone.RRset) bool {
			gen, err := providers.ParseFence(s)
			return err == nil && gen == cs.ExpectFence
		}
		err := p.conditional(ctx, t, holds, func(etag string) error {
			resp, err := p.api.CreateOrUpdate(ctx, p.rg, az, t.rel, t.typ, body, &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: to.Ptr(etag)})
			if err != nil {
				return mapErr("fence", fk, err)
			}
			p.remember(fk, str(resp.Etag), fence)
			return nil
		})
		if err != nil {
			return fmt.Errorf("azuredns: fence %d: %w", cs.ExpectFence, err)
		}
	}
	p.log.Debug("fenced", "zone", fqdn, "from", cs.ExpectFence, "to", cs.Generation)
	return nil
}

// apply sends one conditional write.
func (p *Provider) apply(ctx context.Context, w write) error {
	ch, t := w.change, w.t
	switch {
	case ch.Old == nil:
		resp, err := p.api.CreateOrUpdate(ctx, p.rg, t.zone, t.rel, t.typ, w.body, p.createOptions(ch.Key))
		if err != nil {
			p.forget(ch.Key)
			return mapErr("create", ch.Key, err)
		}
		p.remember(ch.Key, str(resp.Etag), *ch.New)
	case ch.New == nil:
		err := p.conditional(ctx, t, ch.Old.Equal, func(etag string) error {
			if _, err := p.api.Delete(ctx, p.rg, t.zone, t.rel, t.typ, &armdns.RecordSetsClientDeleteOptions{IfMatch: to.Ptr(etag)}); err != nil {
				var re *azcore.ResponseError
				if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && !zoneMissing(re) {
					// Someone deleted it first: not what we expected.
					return providers.Conflict(fmt.Errorf("azuredns: delete %s: %w", ch.Key, &apiError{status: re.StatusCode, code: re.ErrorCode, err: err}))
				}
				return mapErr("delete", ch.Key, err)
			}
			p.forget(ch.Key)
			return nil
		})
		if err != nil {
			return err
		}
	default:
		err := p.conditional(ctx, t, ch.Old.Equal, func(etag string) error {
			resp, err := p.api.CreateOrUpdate(ctx, p.rg, t.zone, t.rel, t.typ, w.body, &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: to.Ptr(etag)})
			if err != nil {
				return mapErr("update", ch.Key, err)
			}
			p.remember(ch.Key, str(resp.Etag), *ch.New)
			return nil
		})
		if err != nil {
			return err
		}
	}
	p.log.Debug("wrote", "change", ch.String())
	return nil
}

// conditional runs write with the ETag of the record set t, when its
// content passes match. The ETag comes from the last Read or write if the
// content seen then passes, else from a fresh GET; content that does not
// pass is a conflict and nothing is sent. The write itself carries the
// ETag, so the check holds at the moment of the write. When a write made
// with a remembered ETag fails its precondition, the set is read again
// and, if its content still passes (someone rewrote the same content),
// the write is sent once more with the new ETag: the contract compares
// content, not ETags.
func (p *Provider) conditional(ctx context.Context, t target, match func(zone.RRset) bool, write func(etag string) error) error {
	p.mu.Lock()
	s, ok := p.etags[t.key]
	p.mu.Unlock()
	if ok && s.etag != "" && !s.set.Empty() && match(s.set) {
		err := write(s.etag)
		if err == nil || !errors.Is(err, providers.ErrConflict) {
			return err
		}
		p.forget(t.key)
	}
	s, ok, err := p.get(ctx, t)
	if err != nil {
		return err
	}
	if !ok || s.set.Empty() {
		p.forget(t.key)
		return providers.Conflict(fmt.Errorf("azuredns: %s: expected content, found none", t.key))
	}
	p.remember(t.key, s.etag, s.set)
	if !match(s.set) || s.etag == "" {
		return providers.Conflict(fmt.Errorf("azuredns: %s: content differs from the expected", t.key))
	}
	if err := write(s.etag); err != nil {
		p.forget(t.key)
		return err
	}
	return nil
}

// createOptions returns the precondition of a create: If-None-Match: *,
// or If-Match its ETag when the last Read saw the record set existing
// without records (Azure allows that; DNS sees nothing, so it counts as
// absent and is taken over only if still unchanged).
func (p *Provider) createOptions(k zone.Key) *armdns.RecordSetsClientCreateOrUpdateOptions {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.etags[k]; ok && s.set.Empty() && s.etag != "" {
		return &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: to.Ptr(s.etag)}
	}
	return &armdns.RecordSetsClientCreateOrUpdateOptions{IfNoneMatch: to.Ptr("*")}
}

// waitingOut fails fast while a 429's Retry-After runs, so that no
// request reaches Azure before the time it asked for.
func (p *Provider) waitingOut() error {
	p.mu.Lock()
	until := p.throttledUntil
	p.mu.Unlock()
	if d := until.Sub(p.now()); d > 0 {
		return providers.Throttled(fmt.Errorf("azuredns: Azure asked to wait until %s", until.UTC().Format(time.RFC3339)), d)
	}
	return nil
}

// noteThrottle starts the throttling window of a 429 error.
func (p *Provider) noteThrottle(err error) {
	d, ok := providers.RetryAfter(err)
	if !ok {
		return
	}
	until := p.now().Add(d)
	p.mu.Lock()
	if until.After(p.throttledUntil) {
		p.throttledUntil = until
	}
	p.mu.Unlock()
}

func (p *Provider) remember(k zone.Key, etag string, set zone.RRset) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if etag == "" {
		delete(p.etags, k)
		return
	}
	p.etags[k] = seen{etag: etag, set: set}
}

func (p *Provider) forget(k zone.Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.etags, k)
}

// orderWrites returns the writes in the order Apply sends them:
//
//  1. creates and updates, by key;
//  2. deletes, by key;
//  3. per name that swaps a CNAME for other types or back: its deletes,
//     then its creates.
//
// Steps 1 and 2 mean that a name keeping any record always has one.
func orderWrites(ws []write, log *slog.Logger) []write {
	type nameInfo struct{ newCNAME, delCNAME, newOther, delOther bool }
	names := map[string]*nameInfo{}
	for _, w := range ws {
		n := names[w.change.Key.Name]
		if n == nil {
			n = &nameInfo{}
			names[w.change.Key.Name] = n
		}
		cname := w.change.Key.Type == dns.TypeCNAME
		switch {
		case w.change.Old == nil && cname:
			n.newCNAME = true
		case w.change.Old == nil:
			n.newOther = true
		case w.change.New == nil && cname:
			n.delCNAME = true
		case w.change.New == nil:
			n.delOther = true
		}
	}
	swap := func(name string) bool {
		n := names[name]
		return (n.newCNAME && n.delOther) || (n.delCNAME && n.newOther)
	}
	var upserts, deletes, swapDel, swapNew []write
	for _, w := range ws {
		isDel := w.change.New == nil
		switch {
		case swap(w.change.Key.Name) && isDel:
			swapDel = append(swapDel, w)
		case swap(w.change.Key.Name):
			swapNew = append(swapNew, w)
		case isDel:
			deletes = append(deletes, w)
		default:
			upserts = append(upserts, w)
		}
	}
	byKey := func(a, b write) int {
		switch {
		case a.change.Key.Less(b.change.Key):
			return -1
		case b.change.Key.Less(a.change.Key):
			return 1
		}
		return 0
	}
	slices.SortFunc(upserts, byKey)
	slices.SortFunc(deletes, byKey)
	slices.SortFunc(swapDel, byKey)
	slices.SortFunc(swapNew, byKey)
	out := append(upserts, deletes...)
	// Keep each swapping name's delete and create back to back.
	var swapNames []string
	for _, w := range swapDel {
		if len(swapNames) == 0 || swapNames[len(swapNames)-1] != w.change.Key.Name {
			swapNames = append(swapNames, w.change.Key.Name)
		}
	}
	for _, name := range swapNames {
		log.Warn("CNAME swap: Azure DNS cannot hold a CNAME beside other types; the name is empty between the delete and the create", "name", name)
		for _, w := range swapDel {
			if w.change.Key.Name == name {
				out = append(out, w)
			}
		}
		for _, w := range swapNew {
			if w.change.Key.Name == name {
				out = append(out, w)
			}
		}
	}
	return out
}

// zoneRef names a whole zone in errors.
type zoneRef string

func (z zoneRef) String() string { return "zone " + string(z) }

// apiError is the short form of an ARM error response: status and code,
// without the request dump azcore prints.
type apiError struct {
	status int
	code   string
	err    error
}

func (e *apiError) Error() string {
	if e.code == "" {
		return "HTTP " + strconv.Itoa(e.status)
	}
	return "HTTP " + strconv.Itoa(e.status) + " " + e.code
}

func (e *apiError) Unwrap() error { return e.err }

// mapErr turns an SDK error of operation op on k (a record set, or a
// zone) into a typed provider error: 412 and 409 are conflicts, 429 is
// throttling with the server's Retry-After, 408 and 5xx are
// unavailability, other 4xx are invalid. An error already typed keeps its
// kind.
// Credential failures are invalid unless the identity service itself
// failed; transport failures are unavailability.
func mapErr(op string, k fmt.Stringer, err error) error {
	var typed *providers.Error
	if errors.As(err, &typed) {
		return fmt.Errorf("azuredns: %s %s: %w", op, k, err)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		cause := fmt.Errorf("azuredns: %s %s: %w", op, k, &apiError{status: re.StatusCode, code: re.ErrorCode, err: err})
		switch {
		case re.StatusCode == http.StatusPreconditionFailed || re.StatusCode == http.StatusConflict:
			return providers.Conflict(cause)
		case re.StatusCode == http.StatusTooManyRequests:
			return providers.Throttled(cause, retryAfter(re.RawResponse, time.Now()))
		case re.StatusCode == http.StatusRequestTimeout || re.StatusCode >= 500:
			return providers.Unavailable(cause)
		default:
			return providers.Invalid(cause)
		}
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) {
		cause := fmt.Errorf("azuredns: %s %s: credential: %w", op, k, err)
		if af.RawResponse != nil && (af.RawResponse.StatusCode >= 500 || af.RawResponse.StatusCode == http.StatusTooManyRequests) {
			return providers.Unavailable(cause)
		}
		return providers.Invalid(cause)
	}
	cause := fmt.Errorf("azuredns: %s %s: %w", op, k, err)
	var cu interface{ NonRetriable() }
	if errors.As(err, &cu) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		// azidentity marks "no credential in this environment" this way.
		return providers.Invalid(cause)
	}
	return providers.Unavailable(cause)
}

// retryAfter reads how long a 429 asks us to wait: Retry-After in seconds
// or as an HTTP date, or the millisecond headers ARM also sends.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	for _, h := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := resp.Header.Get(h); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
