package rfc2136

import (
	"testing"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
)

// TestDocExample validates the config example of docs/providers/rfc2136.md
// with config.Parse and builds each of its rfc2136 providers.
func TestDocExample(t *testing.T) {
	const doc = "../../docs/providers/rfc2136.md"
	cfgs := providertest.DocConfigs(t, doc)
	for i, cfg := range cfgs {
		n := i + 1
		built := 0
		for name, pr := range cfg.Policy.Providers {
			if pr.Type != config.ProviderRFC2136 {
				continue
			}
			if _, err := New(name, pr, providers.Env{}); err != nil {
				t.Errorf("example %d: provider %s: %v", n, name, err)
			}
			built++
		}
		if built == 0 {
			t.Errorf("example %d: got no rfc2136 provider, want at least one", n)
		}
	}
	if len(cfgs) != 1 {
		t.Fatalf("config examples in %s: got %d, want 1", doc, len(cfgs))
	}
}
