// Package embedded is the provider for the cluster's own authoritative
// server (package dnsserver). That server answers from the committed zone
// of every node, so there is nothing to write: the content of the provider
// is the committed state. Read returns the committed RRsets and reports the
// committed generation as the fence; Apply only verifies that the committed
// zone already holds what the change set wants.
//
// It does not run the providertest conformance suite: the suite writes to
// the zone through the provider and behind its back, and this provider
// cannot be written to at all. Its table test covers the contract that
// applies to it.
package embedded

import (
	"context"
	"fmt"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

// Source returns the latest committed zone called zoneName (a lower-case
// FQDN), or nil when none has been committed yet.
type Source func(zoneName string) *zone.Zone

// Provider is the embedded server seen as a provider. Construct it with
// [New].
type Provider struct {
	source Source
}

var _ providers.Provider = (*Provider)(nil)

// New returns the provider reading committed zones from source.
func New(source Source) *Provider { return &Provider{source: source} }

// Constructor adapts [New] to the registry: the embedded provider has no
// settings, only the source of committed zones the program passes in.
func Constructor(source Source) providers.Constructor {
	return func(string, *config.Provider, providers.Env) (providers.Provider, error) {
		if source == nil {
			return nil, providers.Invalid(fmt.Errorf("embedded: no source of committed zones"))
		}
		return New(source), nil
	}
}

// Capabilities: nothing is written, so a change set is verified all at
// once; there is no size limit.
func (p *Provider) Capabilities() providers.Capabilities {
	return providers.Capabilities{Atomic: true}
}

func (p *Provider) zone(zoneName string) (*zone.Zone, string, error) {
	origin, err := zone.CanonicalName(zoneName)
	if err != nil {
		return nil, "", providers.Invalid(fmt.Errorf("embedded: %w", err))
	}
	z := p.source(origin)
	if z == nil {
		return nil, origin, providers.Unavailable(fmt.Errorf("embedded: no committed content for zone %s yet", origin))
	}
	return z, origin, nil
}

// Read returns the committed RRsets with the given keys and the committed
// generation as the fence.
func (p *Provider) Read(_ context.Context, zoneName string, keys []zone.Key) (*providers.Content, error) {
	z, origin, err := p.zone(zoneName)
	if err != nil {
		return nil, err
	}
	c := &providers.Content{Zone: origin, RRsets: make(map[zone.Key]zone.RRset, len(keys)), Fence: z.Generation}
	for _, k := range keys {
		if s, ok := z.Lookup(k); ok {
			c.RRsets[k] = s.Clone()
		}
	}
	return c, nil
}

// Apply returns nil when the committed zone already holds every New of cs
// (nil New: the RRset is absent), and [providers.ErrConflict] otherwise:
// the embedded server publishes commits, not writes, so verifying is all it
// can do. An empty change set is nil.
func (p *Provider) Apply(_ context.Context, cs *providers.ChangeSet) error {
	if cs == nil || len(cs.Changes) == 0 {
		return nil
	}
	z, origin, err := p.zone(cs.Zone)
	if err != nil {
		return err
	}
	for _, c := range cs.Changes {
		got, ok := z.Lookup(c.Key)
		switch {
		case c.New == nil && ok:
			return providers.Conflict(fmt.Errorf("embedded: %s: generation %d of %s still holds it, the change deletes it", c.Key, z.Generation, origin))
		case c.New != nil && !ok:
			return providers.Conflict(fmt.Errorf("embedded: %s: generation %d of %s does not hold it, the change creates it", c.Key, z.Generation, origin))
		case c.New != nil && !got.Equal(*c.New):
			return providers.Conflict(fmt.Errorf("embedded: %s: generation %d of %s holds other content than the change", c.Key, z.Generation, origin))
		}
	}
	return nil
}
