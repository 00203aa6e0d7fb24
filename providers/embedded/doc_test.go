package embedded

import (
	"slices"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers/providertest"
)

// TestDocExample validates the config example of docs/providers/embedded.md.
func TestDocExample(t *testing.T) {
	const doc = "../../docs/providers/embedded.md"
	cfgs := providertest.DocConfigs(t, doc)
	for i, cfg := range cfgs {
		n := i + 1
		if len(cfg.Policy.Zones) == 0 || !slices.Contains(cfg.Policy.Zones[0].Providers, config.EmbeddedProvider) {
			t.Errorf("example %d: got zones %+v, want one served by %q", n, cfg.Policy.Zones, config.EmbeddedProvider)
		}
	}
	if len(cfgs) != 1 {
		t.Fatalf("config examples in %s: got %d, want 1", doc, len(cfgs))
	}
}
