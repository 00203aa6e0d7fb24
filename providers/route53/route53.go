// Package route53 publishes a zone's managed records to an Amazon Route 53
// hosted zone through aws-sdk-go-v2.
//
// # Compare-and-swap
//
// Route 53 applies a ChangeResourceRecordSets batch all or nothing, and a
// DELETE succeeds only when name, type, TTL and every value match the
// record set exactly. So every change of the [providers.ChangeSet] becomes
// DELETE(exact old content) + CREATE(new content), a creation is a CREATE
// (which fails if the set exists) and a deletion a DELETE(exact old), and
// the fencing TXT is swapped in the same batch: DELETE(fence holding
// ExpectFence) + CREATE(fence holding Generation). Anything else written
// in between makes Route 53 refuse the whole batch with InvalidChangeBatch,
// which this package reports as [providers.ErrConflict].
//
// # Batch limits
//
// One request holds at most 1000 ResourceRecord elements and 32,000
// characters of values. A change set is one batch and is never split here
// (a split would need intermediate fencing generations the caller did not
// give, and would not be atomic): [Provider.Capabilities] advertises
// [MaxChanges] so that the reconciler splits large plans, each part with
// its own generation and fence, and Apply refuses, as
// [providers.ErrInvalid] and before sending anything, a change set whose
// batch would still exceed the request limits.
//
// # Retries
//
// The SDK never retries a change batch: the reconciler owns retries (with
// backoff, jitter and a visible lag), and a silently retried batch whose
// first attempt was applied would come back as a conflict. A batch whose
// response is lost is reported as [providers.ErrUnavailable]; the
// reconciler then re-reads, finds the content and fence it wanted, and has
// nothing left to do. Reads are retried by the SDK up to three attempts on
// 5xx and connection errors only; throttling is returned at once as
// [providers.ErrThrottled], so the caller backs off.
//
// # Rate limit
//
// Route 53 allows five requests per second per AWS account. Every HTTP
// attempt (retries and GetChange polls included) waits on a token bucket
// shared by all providers of the same account in this process. The account
// is not known without a network call, so the bucket is keyed by what
// selects it in the configuration: the profile (empty for the default
// credential chain), a fingerprint of the access key given through
// [providers.Env] if any, and the API endpoint. A package-level registry
// rather than an explicit one passed in, because [providers.Constructor]
// has no place for it and every caller in one process wants the same
// sharing. Two profiles of one account get two buckets; the docs say to
// use one profile per account.
package route53

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// Limits of one ChangeResourceRecordSets request (Route 53 developer
// guide, "Quotas on ChangeResourceRecordSets requests").
const (
	// MaxRecords is the most ResourceRecord elements in one request.
	MaxRecords = 1000
	// MaxValueChars is the most characters of Value elements in one
	// request.
	MaxValueChars = 32000
	// MaxChanges is what [Provider.Capabilities] advertises: with up to
	// four values per set, old and new, 100 changes stay well inside
	// [MaxRecords] and, for addresses, inside [MaxValueChars].
	MaxChanges = 100
)

// DefaultRequestsPerSecond is Route 53's documented per-account limit.
const DefaultRequestsPerSecond = 5

// DefaultRegion signs requests when no region is configured: Route 53 is
// a global service served from us-east-1.
const DefaultRegion = "us-east-1"

// targetedReadMax is the most keys (fence included) read one by one;
// above it Read lists the whole zone, page by page.
const targetedReadMax = 4

// listPage is the page size asked of ListResourceRecordSets (its maximum).
const listPage = 300

// api is the part of the Route 53 client this package uses.
type api interface {
	ListResourceRecordSets(ctx context.Context, in *route53.ListResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
	ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(ctx context.Context, in *route53.GetChangeInput, optFns ...func(*route53.Options)) (*route53.GetChangeOutput, error)
	ListHostedZonesByName(ctx context.Context, in *route53.ListHostedZonesByNameInput, optFns ...func(*route53.Options)) (*route53.ListHostedZonesByNameOutput, error)
}

var _ api = (*route53.Client)(nil)

// Provider writes one Route 53 hosted zone. Build it with [New].
type Provider struct {
	name     string
	settings config.Route53Settings
	log      *slog.Logger
	limiter  *rate.Limiter
	client   api

	// insyncPoll is the interval between GetChange polls when waiting for
	// INSYNC; insyncTimeout bounds the wait.
	insyncPoll    time.Duration
	insyncTimeout time.Duration

	mu     sync.Mutex
	zoneID string // resolved hosted zone id, without /hostedzone/
}

var _ providers.Provider = (*Provider)(nil)

// New builds a Route 53 provider from cfg.Route53. It matches
// [providers.Constructor] and does no network I/O: the credentials are
// resolved by the SDK on the first request and a hosted zone given by
// name is looked up on first use.
//
// Credentials: with a profile, that shared-config profile; otherwise, when
// env.Getenv is set and returns AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, those (with AWS_SESSION_TOKEN); otherwise the
// SDK's default chain (environment, shared files, SSO, web identity,
// container and instance roles).
func New(name string, cfg *config.Provider, env providers.Env) (providers.Provider, error) {
	return newProvider(name, cfg, env, defaultLimiters)
}

func newProvider(name string, cfg *config.Provider, env providers.Env, lims *limiters) (*Provider, error) {
	if cfg == nil || cfg.Route53 == nil {
		return nil, providers.Invalid(errors.New("route53: no route53 settings"))
	}
	s := *cfg.Route53
	if (s.HostedZoneID == "") == (s.HostedZone == "") {
		return nil, providers.Invalid(errors.New("route53: set exactly one of hosted_zone_id and hosted_zone"))
	}
	if s.RequestsPerS <= 0 {
		s.RequestsPerS = DefaultRequestsPerSecond
	}
	if s.Region == "" {
		s.Region = DefaultRegion
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("provider_type", config.ProviderRoute53)

	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(s.Region)}
	source := "default credential chain"
	account := accountKey{profile: s.Profile, endpoint: s.Endpoint}
	if s.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(s.Profile))
		source = "shared config profile " + strconv.Quote(s.Profile)
	} else if env.Getenv != nil {
		if id, secret := env.Getenv("AWS_ACCESS_KEY_ID"), env.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
			opts = append(opts, awsconfig.WithCredentialsProvider(
				credentials.NewStaticCredentialsProvider(id, secret, env.Getenv("AWS_SESSION_TOKEN"))))
			source = "environment given to the provider"
			account.keyID = fingerprint(id)
		}
	}
	// LoadDefaultConfig reads environment and shared files only; the
	// credential chain itself runs on the first request.
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, providers.Invalid(fmt.Errorf("route53: load AWS configuration: %w", err))
	}
	lim := lims.get(account, s.RequestsPerS)
	awsCfg.HTTPClient = &limitedClient{next: awshttp.NewBuildableClient(), limiter: lim}
	awsCfg.RetryMaxAttempts = 0
	awsCfg.Retryer = func() aws.Retryer { return readRetryer() }
	client := route53.NewFromConfig(awsCfg, func(o *route53.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
	})
	p := &Provider{
		name:          name,
		settings:      s,
		log:           log,
		limiter:       lim,
		client:        client,
		insyncPoll:    5 * time.Second,
		insyncTimeout: 5 * time.Minute,
		zoneID:        strings.TrimPrefix(s.HostedZoneID, "/hostedzone/"),
	}
	log.Debug("route53 provider configured", "credentials", source, "region", s.Region,
		"hosted_zone", p.zoneLabel(), "requests_per_second", s.RequestsPerS, "wait_insync", s.WaitInsync)
	return p, nil
}

// readRetryer retries reads on 5xx and connection errors, three attempts
// in all; throttling goes back to the caller. The SDK's own retry token
// bucket is off: the account's limiter paces every attempt.
func readRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.MaxBackoff = time.Second
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{
			retry.NoRetryCanceledError{},
			retry.RetryableConnectionError{},
			retry.RetryableHTTPStatusCode{Codes: map[int]struct{}{500: {}, 502: {}, 503: {}, 504: {}}},
		}
	})
}

// noRetry is applied to every change batch: see "Retries" in the package
// documentation.
func noRetry(o *route53.Options) {
	o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1)
}

// String names the provider and its hosted zone; it never includes
// credentials.
func (p *Provider) String() string {
	return "route53 provider " + p.name + " (" + p.zoneLabel() + ")"
}

func (p *Provider) zoneLabel() string {
	if p.settings.HostedZoneID != "" {
		return "hosted zone " + p.settings.HostedZoneID
	}
	return "hosted zone named " + p.settings.HostedZone
}

// Capabilities reports atomic batches of at most [MaxChanges] changes.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Atomic: true, MaxChanges: MaxChanges}
}

// hostedZoneID returns the hosted zone's id, looking a zone given by name
// up once (a failed lookup is retried on the next call).
func (p *Provider) hostedZoneID(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.zoneID != "" {
		return p.zoneID, nil
	}
	want, err := zone.CanonicalName(p.settings.HostedZone)
	if err != nil {
		return "", providers.Invalid(fmt.Errorf("route53: hosted_zone: %w", err))
	}
	out, err := p.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{
		DNSName: aws.String(want), MaxItems: aws.Int32(100),
	})
	if err != nil {
		return "", classify("find hosted zone "+want, err)
	}
	var ids []string
	for _, hz := range out.HostedZones {
		name, err := decodeName(aws.ToString(hz.Name))
		if err != nil || name != want {
			continue
		}
		if hz.Config != nil && hz.Config.PrivateZone {
			continue
		}
		ids = append(ids, strings.TrimPrefix(aws.ToString(hz.Id), "/hostedzone/"))
	}
	switch len(ids) {
	case 0:
		return "", providers.Invalid(fmt.Errorf("route53: no public hosted zone named %s", want))
	case 1:
	default:
		return "", providers.Invalid(fmt.Errorf("route53: %d public hosted zones named %s (%s): set hosted_zone_id", len(ids), want, strings.Join(ids, ", ")))
	}
	p.zoneID = ids[0]
	p.log.Info("route53 hosted zone resolved", "hosted_zone", want, "hosted_zone_id", p.zoneID)
	return p.zoneID, nil
}

// Read returns the requested RRsets and the fence. A few keys are read
// one by one (ListResourceRecordSets starting at the key, one item); more
// are read by listing the zone page by page.
func (p *Provider) Read(ctx context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	origin, err := zone.CanonicalName(zoneName)
	if err != nil {
		return nil, providers.Invalid(fmt.Errorf("route53: zone: %w", err))
	}
	id, err := p.hostedZoneID(ctx)
	if err != nil {
		return nil, err
	}
	fk := providers.FenceKey(origin)
	want := map[zone.Key]bool{fk: true}
	for _, k := range keys {
		want[k] = true
	}
	var found map[zone.Key]zone.RRset
	if len(want) <= targetedReadMax {
		found, err = p.readKeys(ctx, id, want)
	} else {
		found, err = p.readAll(ctx, id, want)
	}
	if err != nil {
		return nil, err
	}
	c := &providers.Content{Zone: origin, RRsets: map[zone.Key]zone.RRset{}}
	for k, s := range found {
		if k == fk {
			gen, err := providers.ParseFence(s)
			if err != nil {
				return nil, fmt.Errorf("route53: read %s: %w", origin, err)
			}
			c.Fence = gen
			continue
		}
		c.RRsets[k] = s
	}
	// The fence is reported as a generation; a caller that asked for its
	// key as well gets the set too.
	if s, ok := found[fk]; ok && slices.Contains(keys, fk) {
		c.RRsets[fk] = s
	}
	return c, nil
}

func (p *Provider) readKeys(ctx context.Context, id string, want map[zone.Key]bool) (map[zone.Key]zone.RRset, error) {
	found := map[zone.Key]zone.RRset{}
	for k := range want {
		out, err := p.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
			HostedZoneId:    aws.String(id),
			StartRecordName: aws.String(k.Name),
			StartRecordType: types.RRType(zone.TypeString(k.Type)),
			MaxItems:        aws.Int32(1),
		})
		if err != nil {
			return nil, classify("list record sets", err)
		}
		for _, rs := range out.ResourceRecordSets {
			if err := collect(rs, want, found); err != nil {
				return nil, err
			}
		}
	}
	return found, nil
}

func (p *Provider) readAll(ctx context.Context, id string, want map[zone.Key]bool) (map[zone.Key]zone.RRset, error) {
	found := map[zone.Key]zone.RRset{}
	in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id), MaxItems: aws.Int32(listPage)}
	for pages := 0; ; pages++ {
		out, err := p.client.ListResourceRecordSets(ctx, in)
		if err != nil {
			return nil, classify("list record sets", err)
		}
		for _, rs := range out.ResourceRecordSets {
			if err := collect(rs, want, found); err != nil {
				return nil, err
			}
		}
		if !out.IsTruncated {
			return found, nil
		}
		if out.NextRecordName == nil || (aws.ToString(out.NextRecordName) == aws.ToString(in.StartRecordName) && out.NextRecordType == in.StartRecordType) {
			return nil, providers.Unavailable(errors.New("route53: list record sets: truncated page without progress"))
		}
		in = &route53.ListResourceRecordSetsInput{
			HostedZoneId:    aws.String(id),
			StartRecordName: out.NextRecordName,
			StartRecordType: out.NextRecordType,
			MaxItems:        aws.Int32(listPage),
		}
		if ctx.Err() != nil {
			return nil, providers.Unavailable(fmt.Errorf("route53: list record sets: %w", ctx.Err()))
		}
	}
}

// collect adds rs to found when its key is wanted. A wanted set that
// Route 53 holds as an alias or with a routing policy is not something
// switchboard wrote or can compare: that is [providers.ErrInvalid].
func collect(rs types.ResourceRecordSet, want map[zone.Key]bool, found map[zone.Key]zone.RRset) error {
	name, err := decodeName(aws.ToString(rs.Name))
	if err != nil {
		return nil // not a name we could have asked for
	}
	typ, ok := zone.ParseType(string(rs.Type))
	if !ok {
		return nil
	}
	k := zone.Key{Name: name, Type: typ}
	if !want[k] {
		return nil
	}
	if rs.AliasTarget != nil || rs.SetIdentifier != nil || rs.TTL == nil {
		return providers.Invalid(fmt.Errorf("route53: %s is an alias or has a routing policy; switchboard manages simple record sets only", k))
	}
	values := make([]string, 0, len(rs.ResourceRecords))
	for _, r := range rs.ResourceRecords {
		values = append(values, aws.ToString(r.Value))
	}
	s, err := zone.NewRRset(name, typ, uint32(aws.ToInt64(rs.TTL)), values...)
	if err != nil {
		return providers.Invalid(fmt.Errorf("route53: record set %s: %w", k, err))
	}
	found[k] = s
	return nil
}

// decodeName turns a name as Route 53 prints it (octal escapes such as
// \052 for "*", any case) into the canonical form.
func decodeName(n string) (string, error) {
	if strings.IndexByte(n, '\\') >= 0 {
		var b strings.Builder
		for i := 0; i < len(n); i++ {
			if n[i] == '\\' && i+3 < len(n) {
				if v, err := strconv.ParseUint(n[i+1:i+4], 8, 8); err == nil {
					b.WriteByte(byte(v))
					i += 3
					continue
				}
			}
			b.WriteByte(n[i])
		}
		n = b.String()
	}
	return zone.CanonicalName(n)
}

// Apply sends cs as one ChangeResourceRecordSets batch, fenced; see the
// package documentation.
func (p *Provider) Apply(ctx context.Context, cs *providers.ChangeSet) error {
	if cs == nil || len(cs.Changes) == 0 {
		return nil
	}
	origin, err := zone.CanonicalName(cs.Zone)
	if err != nil {
		return providers.Invalid(fmt.Errorf("route53: zone: %w", err))
	}
	batch, err := buildBatch(origin, cs)
	if err != nil {
		return err
	}
	id, err := p.hostedZoneID(ctx)
	if err != nil {
		return err
	}
	out, err := p.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(id),
		ChangeBatch:  batch,
	}, noRetry)
	if err != nil {
		err = classify("change batch", err)
		p.log.Debug("route53 change batch failed", "zone", origin, "generation", cs.Generation,
			"changes", len(cs.Changes), "kind", providers.KindOf(err), "error", err)
		return err
	}
	changeID := ""
	if out.ChangeInfo != nil {
		changeID = aws.ToString(out.ChangeInfo.Id)
	}
	p.log.Debug("route53 change batch applied", "zone", origin, "generation", cs.Generation,
		"changes", len(cs.Changes), "change_id", changeID)
	if !p.settings.WaitInsync || out.ChangeInfo == nil || out.ChangeInfo.Status == types.ChangeStatusInsync {
		return nil
	}
	return p.waitInsync(ctx, changeID)
}

// buildBatch turns cs into one change batch and checks it against the
// request limits.
func buildBatch(origin string, cs *providers.ChangeSet) (*types.ChangeBatch, error) {
	if cs.Generation < cs.ExpectFence {
		// Swapping the fence would move it backwards: the plan is stale.
		return nil, providers.Conflict(fmt.Errorf("route53: plan of generation %d is older than the fence %d it expects", cs.Generation, cs.ExpectFence))
	}
	if len(cs.Changes) > MaxChanges {
		return nil, providers.Invalid(fmt.Errorf("route53: change set of %d changes exceeds %d: split it", len(cs.Changes), MaxChanges))
	}
	fk := providers.FenceKey(origin)
	batch := &types.ChangeBatch{Comment: aws.String(fmt.Sprintf("switchboard generation %d", cs.Generation))}
	add := func(action types.ChangeAction, s zone.RRset) {
		rrs := make([]types.ResourceRecord, len(s.Data))
		for i, d := range s.Data {
			rrs[i] = types.ResourceRecord{Value: aws.String(d)}
		}
		batch.Changes = append(batch.Changes, types.Change{Action: action, ResourceRecordSet: &types.ResourceRecordSet{
			Name: aws.String(s.Name), Type: types.RRType(zone.TypeString(s.Type)),
			TTL: aws.Int64(int64(s.TTL)), ResourceRecords: rrs,
		}})
	}
	if cs.ExpectFence > 0 {
		add(types.ChangeActionDelete, providers.FenceRRset(origin, cs.ExpectFence))
	}
	add(types.ChangeActionCreate, providers.FenceRRset(origin, cs.Generation))
	seen := map[zone.Key]bool{}
	for _, c := range cs.Changes {
		if seen[c.Key] {
			return nil, providers.Invalid(fmt.Errorf("route53: change set changes %s twice", c.Key))
		}
		seen[c.Key] = true
		if c.Key == fk {
			return nil, providers.Invalid(fmt.Errorf("route53: change set writes the fencing record %s", c.Key))
		}
		if !zone.InZone(c.Key.Name, origin) {
			return nil, providers.Invalid(fmt.Errorf("route53: %s is not in zone %s", c.Key, origin))
		}
		for _, s := range []*zone.RRset{c.Old, c.New} {
			if s != nil && (s.Key() != c.Key || s.Empty()) {
				return nil, providers.Invalid(fmt.Errorf("route53: change %s: content for %s with %d records", c, s.Key(), len(s.Data)))
			}
		}
		if c.Old == nil && c.New == nil {
			return nil, providers.Invalid(fmt.Errorf("route53: change of %s has neither old nor new content", c.Key))
		}
		if c.Old != nil {
			add(types.ChangeActionDelete, *c.Old)
		}
		if c.New != nil {
			add(types.ChangeActionCreate, *c.New)
		}
	}
	records, chars := 0, 0
	for _, ch := range batch.Changes {
		for _, r := range ch.ResourceRecordSet.ResourceRecords {
			records++
			chars += len(aws.ToString(r.Value))
		}
	}
	if records > MaxRecords || chars > MaxValueChars {
		return nil, providers.Invalid(fmt.Errorf("route53: change batch of %d records and %d value characters exceeds Route 53's limits (%d, %d): split it",
			records, chars, MaxRecords, MaxValueChars))
	}
	return batch, nil
}

// waitInsync polls GetChange until the change is INSYNC. The change is
// already applied; a wait that ends early (context, time-out) is reported
// as [providers.ErrUnavailable] naming the change, and the next Read shows
// the applied content.
func (p *Provider) waitInsync(ctx context.Context, changeID string) error {
	ctx, cancel := context.WithTimeout(ctx, p.insyncTimeout)
	defer cancel()
	t := time.NewTicker(p.insyncPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return providers.Unavailable(fmt.Errorf("route53: change %s applied, not INSYNC yet: %w", changeID, ctx.Err()))
		case <-t.C:
		}
		out, err := p.client.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(changeID)})
		if err != nil {
			if providers.KindOf(classify("", err)) == "throttled" {
				continue
			}
			return classify("change "+changeID+" applied; get change", err)
		}
		if out.ChangeInfo != nil && out.ChangeInfo.Status == types.ChangeStatusInsync {
			p.log.Debug("route53 change in sync", "change_id", changeID)
			return nil
		}
	}
}

// classify maps an SDK error to a typed provider error, by API error code
// first, then HTTP status, then transport.
func classify(op string, err error) error {
	wrapped := fmt.Errorf("route53: %s: %w", op, err)
	if op == "" {
		wrapped = fmt.Errorf("route53: %w", err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidChangeBatch":
			var icb *types.InvalidChangeBatch
			if errors.As(err, &icb) && len(icb.Messages) > 0 {
				// The SDK's message is generic; Route 53's reasons are here.
				wrapped = fmt.Errorf("%w (%s)", wrapped, strings.Join(icb.Messages, "; "))
			}
			return providers.Conflict(wrapped)
		case "Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded", "TooManyRequestsException":
			return providers.Throttled(wrapped, retryAfter(err))
		case "NoSuchHostedZone", "NoSuchChange", "InvalidInput", "InvalidDomainName", "InvalidArgument",
			"AccessDenied", "AccessDeniedException", "NotAuthorizedException",
			"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
			"IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken", "InvalidSignatureException":
			return providers.Invalid(wrapped)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusTooManyRequests:
			return providers.Throttled(wrapped, retryAfter(err))
		case code >= 500:
			return providers.Unavailable(wrapped)
		case code >= 400:
			return providers.Invalid(wrapped)
		}
	}
	// Transport failures, time-outs, cancelled contexts and credential
	// providers that could not be reached: a retry may succeed.
	return providers.Unavailable(wrapped)
}

// retryAfter reads a Retry-After header (seconds) from the response.
func retryAfter(err error) time.Duration {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0
	}
	v := re.Response.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
