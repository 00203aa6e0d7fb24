package embedded

import (
	"errors"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

func TestEmbedded(t *testing.T) {
	www := zone.MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.1")
	www2 := zone.MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.2")
	wwwTTL := zone.MustRRset("www.example.com.", dns.TypeA, 60, "192.0.2.1")
	api := zone.MustRRset("api.example.com.", dns.TypeAAAA, 30, "2001:db8::1")
	gone := zone.Key{Name: "old.example.com.", Type: dns.TypeA}
	committed := &zone.Zone{Origin: "example.com.", Generation: 7, Records: []zone.RRset{api, www}, Managed: []zone.Key{api.Key(), www.Key()}}
	zone.SortRRsets(committed.Records)
	p := New(func(name string) *zone.Zone {
		if name == "example.com." {
			return committed
		}
		return nil
	})

	c, err := p.Read(t.Context(), "Example.COM", []zone.Key{www.Key(), api.Key(), gone})
	if err != nil {
		t.Fatal(err)
	}
	if c.Fence != 7 || c.Zone != "example.com." || len(c.RRsets) != 2 || !c.RRsets[www.Key()].Equal(www) || !c.RRsets[api.Key()].Equal(api) {
		t.Errorf("read: got %+v, want www, api and fence 7", c)
	}

	tests := []struct {
		name    string
		zone    string
		changes []providers.Change
		want    error
	}{
		{"empty", "example.com.", nil, nil},
		{"committed already", "example.com.", []providers.Change{{Key: www.Key(), Old: &www2, New: &www}, {Key: api.Key(), New: &api}}, nil},
		{"deleted already", "example.com.", []providers.Change{{Key: gone}}, nil},
		{"other data", "example.com.", []providers.Change{{Key: www.Key(), Old: &www, New: &www2}}, providers.ErrConflict},
		{"other TTL", "example.com.", []providers.Change{{Key: www.Key(), Old: &www, New: &wwwTTL}}, providers.ErrConflict},
		{"not deleted", "example.com.", []providers.Change{{Key: api.Key(), Old: &api}}, providers.ErrConflict},
		{"not created", "example.com.", []providers.Change{{Key: gone, New: &www}}, providers.ErrConflict},
		{"one of two differs", "example.com.", []providers.Change{{Key: api.Key(), New: &api}, {Key: www.Key(), New: &www2}}, providers.ErrConflict},
		{"no committed zone", "example.org.", []providers.Change{{Key: www.Key(), New: &www}}, providers.ErrUnavailable},
		{"bad zone name", "bad..name", []providers.Change{{Key: www.Key(), New: &www}}, providers.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Apply(t.Context(), &providers.ChangeSet{Zone: tc.zone, Generation: 7, ExpectFence: 6, Changes: tc.changes})
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Apply: got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := p.Read(t.Context(), "example.org.", nil); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("read of an uncommitted zone: got %v, want unavailable", err)
	}
	if got := p.Capabilities(); !got.Atomic {
		t.Errorf("Capabilities: got %+v, want atomic", got)
	}
	if _, err := Constructor(nil)("embedded", nil, providers.Env{}); !errors.Is(err, providers.ErrInvalid) {
		t.Errorf("Constructor(nil): got %v, want invalid", err)
	}
	if q, err := Constructor(p.source)("embedded", nil, providers.Env{}); err != nil || q == nil {
		t.Errorf("Constructor: got %v, %v; want a provider", q, err)
	}
}
