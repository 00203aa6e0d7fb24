// Package providertest is the conformance suite every [providers.Provider]
// passes: the same tests run against BIND, Knot, the Route 53 and Cloud DNS
// fakes, Azure's armdns/fake server, and, in live mode, the real services.
//
// A provider's test implements [Backend] (how to reach the zone other than
// through the provider: to seed records someone else owns, to dump the
// whole zone byte for byte, to change an RRset behind the provider's back,
// to count writes) and calls [Run].
package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// Backend gives the suite access to the zone behind a provider.
type Backend interface {
	// Zone returns the zone's lower-case FQDN. The suite uses names below
	// it only.
	Zone() string
	// Provider returns the provider under test for Zone.
	Provider(t testing.TB) providers.Provider
	// Reset makes the zone hold only its apex records (SOA, NS), as a new
	// zone does. The suite calls it before every test.
	Reset(ctx context.Context, t testing.TB)
	// Put sets RRsets directly, not through the provider, as another
	// writer would (an operator, another tool); a set with no data
	// deletes the RRset.
	Put(ctx context.Context, t testing.TB, sets ...zone.RRset)
	// Dump returns every RRset of the zone as the backend holds it,
	// apex records included, canonical and sorted.
	Dump(ctx context.Context, t testing.TB) []zone.RRset
	// Writes returns how many write requests the backend has received
	// since the start (any request that could change the zone, successful
	// or not). The suite compares two readings.
	Writes() int
}

// Options tune the suite for a backend.
type Options struct {
	// Large is how many RRsets the paging test creates (default 2000).
	// Live modes may lower it to save money; fakes and servers must not.
	Large int
	// Timeout bounds each subtest (default [DefaultTimeout]).
	Timeout time.Duration
	// Skip names subtests of [Run] not to run ("large", ...), for live
	// modes only; say why where it is set.
	Skip []string
}
