package rfc2136

import (
	"os"
	"regexp"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
)

// TestDocExample validates the config example of docs/providers/rfc2136.md
// with config.Parse and builds each of its rfc2136 providers.
func TestDocExample(t *testing.T) {
	const doc = "../../docs/providers/rfc2136.md"
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
	if n != 1 {
		t.Fatalf("config examples in %s: got %d, want 1", doc, n)
	}
}
