package providertest

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

func TestSplit(t *testing.T) {
	ch := func(name string, typ uint16) providers.Change {
		return providers.Change{Key: zone.Key{Name: name + ".example.test.", Type: typ}}
	}
	a, aTXT, b, c, d := ch("a", dns.TypeA), ch("a", dns.TypeTXT), ch("b", dns.TypeA), ch("c", dns.TypeA), ch("d", dns.TypeA)
	tests := []struct {
		name    string
		changes []providers.Change
		max     int
		want    string
	}{
		{"empty", nil, 2, "[]"},
		{"no limit", []providers.Change{a, b, c}, 0, "[[a b c]]"},
		{"fits", []providers.Change{a, b}, 2, "[[a b]]"},
		{"even", []providers.Change{a, b, c, d}, 2, "[[a b] [c d]]"},
		{"name kept together", []providers.Change{b, a, aTXT, c}, 2, "[[b] [a a] [c]]"},
		{"name larger than max", []providers.Change{b, a, aTXT, c}, 1, "[[b] [a] [a] [c]]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]string
			for _, part := range Split(tc.changes, tc.max) {
				var names []string
				for _, c := range part {
					names = append(names, c.Key.Name[:1])
				}
				got = append(got, names)
			}
			if s := fmt.Sprint(got); s != tc.want {
				t.Errorf("Split: got %s, want %s", s, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	www1 := zone.MustRRset("www.example.test.", dns.TypeA, 300, "192.0.2.1")
	www2 := zone.MustRRset("www.example.test.", dns.TypeA, 60, "192.0.2.1")
	api := zone.MustRRset("api.example.test.", dns.TypeA, 300, "192.0.2.2")
	other := zone.MustRRset("other.example.test.", dns.TypeA, 300, "192.0.2.3")
	cur := &providers.Content{RRsets: map[zone.Key]zone.RRset{www1.Key(): www1, api.Key(): api}}
	managed := []zone.Key{www1.Key(), api.Key(), other.Key()}
	tests := []struct {
		name    string
		desired []zone.RRset
		want    string
		wantErr bool
	}{
		{"same", []zone.RRset{www1, api}, "[]", false},
		{"ttl only", []zone.RRset{www2, api}, "[update www.example.test. A]", false},
		{"delete and create", []zone.RRset{www1, other}, "[delete api.example.test. A create other.example.test. A]", false},
		{"empty set deletes", []zone.RRset{www1, {Name: api.Name, Type: api.Type}}, "[delete api.example.test. A]", false},
		{"unmanaged", []zone.RRset{zone.MustRRset("x.example.test.", dns.TypeA, 1, "192.0.2.9")}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(cur, tc.desired, managed)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Plan error: got %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if s := fmt.Sprint(got); s != tc.want {
				t.Errorf("Plan: got %s, want %s", s, tc.want)
			}
		})
	}
}
