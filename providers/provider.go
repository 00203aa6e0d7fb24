// Package providers is the seam between the controller and the places a
// zone's authoritative records live: the [Provider] interface and its
// contract, the change sets the reconciler hands to it, the typed errors it
// returns, and an explicit registry of constructors by provider type.
//
// One package per provider sits below this one (providers/rfc2136,
// providers/route53, providers/clouddns, providers/azuredns,
// providers/embedded), and providers/providertest is the conformance suite
// every one of them passes.
//
// # Why every write is compare-and-swap
//
// The AWS us-east-1 outage of October 2025 was a delayed DNS automation
// worker applying an old plan over a newer one. A reconciler that checks
// "is my plan still current?" and then writes has the same race, and SDK
// retries make a write arrive late even from a healthy process. So the
// check is made by the provider at the moment of the write: every change
// names the exact content it expects to replace, and the provider refuses
// the whole change (nothing applied) if the zone holds anything else. On
// providers that apply a batch atomically the batch also swaps the fencing
// record, a TXT at [FenceName] holding the generation, so a writer whose
// plan is older than what was last applied is refused by the provider
// itself.
package providers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

// Provider is one place a zone's records are published: a cloud DNS
// service, an RFC 2136 server, the embedded server.
//
// Contract:
//
//   - A Provider touches only the RRsets named in what it is given: the
//     keys passed to Read, the changes passed to Apply, and the fencing
//     record. Every other record of the zone stays exactly as it was.
//   - Apply is compare-and-swap, enforced by the provider at the moment of
//     the write: for each change, the RRset at the provider must equal
//     [Change.Old] (nil: absent) and the fencing record must hold
//     [ChangeSet.ExpectFence]; otherwise it returns an error wrapping
//     [ErrConflict]. Names compare case-insensitively; rdata compares in
//     canonical form; the TTL is part of the comparison.
//   - A provider with [Capabilities.Atomic] applies the whole change set,
//     fence included, or nothing. Without it (Azure DNS) it applies the
//     changes one RRset at a time, each conditional on its own prior
//     content, the fence first; it orders the writes so that no managed
//     name is ever left without records between two of them, and on a
//     conflict part way it stops and reports [ErrConflict]; what it had
//     written is then visible to the next Read, which is how the
//     reconciler re-plans.
//   - An empty change set sends no write at all.
//   - Errors are typed (see [Error]): [ErrConflict], [ErrThrottled] (with a
//     retry-after when the provider said), [ErrUnavailable], [ErrInvalid].
//     Retrying is the caller's decision: a Provider may retry a request
//     that is safe to repeat (a read, or a write whose own precondition
//     makes a duplicate harmless) but never turns a conflict into an
//     overwrite.
//   - Methods are safe for concurrent use, but the reconciler calls one
//     provider from one worker at a time.
//   - Credentials are never part of an error, a log line or a String.
type Provider interface {
	// Capabilities says how the provider applies change sets.
	Capabilities() Capabilities
	// Read returns the current content of the given RRsets of zone (an
	// absent RRset is absent from the result) and the fencing generation.
	Read(ctx context.Context, zoneName string, keys []zone.Key) (*Content, error)
	// Apply applies cs as compare-and-swap, as the contract above says.
	Apply(ctx context.Context, cs *ChangeSet) error
}

// Capabilities describes how a provider applies a change set.
type Capabilities struct {
	// Atomic is true when a change set (fence included) is applied all or
	// nothing: Route 53, Cloud DNS, RFC 2136. False means one RRset at a
	// time, each conditional on its own prior content (Azure DNS ETags).
	Atomic bool
	// MaxChanges is the most RRset changes one Apply takes, not counting
	// the fence (0: no limit). The reconciler splits a larger plan into
	// several change sets, each fenced and each leaving no name empty.
	MaxChanges int
}

// Content is what a provider holds for the managed names of one zone.
type Content struct {
	// Zone is the zone's lower-case FQDN.
	Zone string
	// RRsets holds the requested RRsets that exist, canonical.
	RRsets map[zone.Key]zone.RRset
	// Fence is the generation in the fencing record, 0 when there is none.
	Fence uint64
}

// Lookup returns the RRset for k, if the provider holds it.
func (c *Content) Lookup(k zone.Key) (zone.RRset, bool) {
	s, ok := c.RRsets[k]
	return s, ok
}

// Change replaces one RRset. Old is the content the provider must hold
// now (nil: the RRset must not exist); New is what it holds after (nil:
// the RRset is deleted). Old and New, when set, have the key Key.
type Change struct {
	Key zone.Key
	Old *zone.RRset
	New *zone.RRset
}

// Kind returns "create", "update" or "delete".
func (c Change) Kind() string {
	switch {
	case c.Old == nil:
		return "create"
	case c.New == nil:
		return "delete"
	}
	return "update"
}

// String prints the change as "update www.example.com. A".
func (c Change) String() string { return c.Kind() + " " + c.Key.String() }

// ChangeSet is one conditional write to one zone of one provider.
type ChangeSet struct {
	// Zone is the zone's lower-case FQDN.
	Zone string
	// Generation is the generation the plan was computed from; the fence
	// holds it after the change.
	Generation uint64
	// ExpectFence is the fencing generation the provider must hold now
	// (0: no fencing record yet).
	ExpectFence uint64
	// Changes are the RRset changes, at most one per key.
	Changes []Change
}

// FenceName returns the owner name of a zone's fencing record,
// "_switchboard.<zone>".
func FenceName(zoneName string) string {
	return "_switchboard." + dns.Fqdn(strings.ToLower(zoneName))
}

// FenceTTL is the TTL of the fencing record.
const FenceTTL = 60

// fencePrefix starts the text of the fencing record.
const fencePrefix = "switchboard-generation="

// FenceRRset returns the fencing record of zoneName holding generation
// gen: a TXT at [FenceName] with the text "switchboard-generation=N".
func FenceRRset(zoneName string, gen uint64) zone.RRset {
	return zone.MustRRset(FenceName(zoneName), dns.TypeTXT, FenceTTL, `"`+fencePrefix+strconv.FormatUint(gen, 10)+`"`)
}

// FenceKey returns the key of zoneName's fencing record.
func FenceKey(zoneName string) zone.Key {
	return zone.Key{Name: FenceName(zoneName), Type: dns.TypeTXT}
}

// ParseFence reads the generation from a fencing RRset's data. A set that
// is not exactly one well-formed fencing text is [ErrInvalid]: someone
// else wrote it, and the reconciler must not guess.
func ParseFence(s zone.RRset) (uint64, error) {
	if len(s.Data) != 1 {
		return 0, Invalid(fmt.Errorf("fencing record %s has %d texts, want 1", s.Name, len(s.Data)))
	}
	txt := strings.Trim(s.Data[0], `"`)
	v, ok := strings.CutPrefix(txt, fencePrefix)
	if !ok {
		return 0, Invalid(fmt.Errorf("fencing record %s holds %q, not %q", s.Name, txt, fencePrefix+"N"))
	}
	gen, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, Invalid(fmt.Errorf("fencing record %s: bad generation %q", s.Name, v))
	}
	return gen, nil
}

// Kinds of provider failure. Match them with errors.Is.
var (
	// ErrConflict: compare-and-swap failed (an RRset or the fence was not
	// what the change expected); nothing of the failed write was applied.
	// The caller re-reads and re-plans; it never overwrites.
	ErrConflict = errors.New("conflict")
	// ErrThrottled: the provider asked us to slow down; see [RetryAfter].
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: the provider could not be reached or failed (5xx,
	// time-out); retry with backoff.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid: the request or the provider's content is wrong in a way
	// a retry will not fix (bad credentials, unknown zone, bad data).
	ErrInvalid = errors.New("invalid")
)

// Error is a typed provider failure.
type Error struct {
	// Kind is one of [ErrConflict], [ErrThrottled], [ErrUnavailable],
	// [ErrInvalid].
	Kind error
	// RetryAfter is how long the provider asked us to wait (throttling),
	// 0 when it did not say.
	RetryAfter time.Duration
	// Err is the cause.
	Err error
}

// Error prints "conflict: cause".
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Err.Error()
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Conflict wraps err as [ErrConflict].
func Conflict(err error) error { return &Error{Kind: ErrConflict, Err: err} }

// Throttled wraps err as [ErrThrottled] with the provider's retry-after
// (0 when it gave none).
func Throttled(err error, retryAfter time.Duration) error {
	return &Error{Kind: ErrThrottled, Err: err, RetryAfter: retryAfter}
}

// Unavailable wraps err as [ErrUnavailable].
func Unavailable(err error) error { return &Error{Kind: ErrUnavailable, Err: err} }

// Invalid wraps err as [ErrInvalid].
func Invalid(err error) error { return &Error{Kind: ErrInvalid, Err: err} }

// RetryAfter returns the wait a throttling provider asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrThrottled && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// KindOf names the kind of a provider error for metrics and status:
// "conflict", "throttled", "unavailable", "invalid", or "other".
func KindOf(err error) string {
	for _, k := range []error{ErrConflict, ErrThrottled, ErrUnavailable, ErrInvalid} {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "other"
}
