package embedded

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
)

// TestDocExample validates the config example of docs/providers/embedded.md.
func TestDocExample(t *testing.T) {
	const doc = "../../docs/providers/embedded.md"
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(data, -1) {
		if !regexp.MustCompile(`(?m)^zones:`).Match(b[1]) {
			continue
		}
		n++
		cfg, err := config.Parse(doc, b[1])
		if err != nil {
			t.Fatalf("example %d:\n%v", n, err)
		}
		if len(cfg.Policy.Zones) == 0 || !slices.Contains(cfg.Policy.Zones[0].Providers, config.EmbeddedProvider) {
			t.Errorf("example %d: got zones %+v, want one served by %q", n, cfg.Policy.Zones, config.EmbeddedProvider)
		}
	}
	if n != 1 {
		t.Fatalf("config examples in %s: got %d, want 1", doc, n)
	}
}
