package clouddns

import (
	"os"
	"regexp"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
)

// TestDocExample validates the configuration example of
// docs/providers/clouddns.md with the config package and builds the
// provider it describes (construction does no I/O and does not need the
// credentials file, which the example only names, when it is left out).
func TestDocExample(t *testing.T) {
	const path = "../../docs/providers/clouddns.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(data, -1)
	if len(blocks) != 1 {
		t.Fatalf("got %d yaml blocks in %s, want 1", len(blocks), path)
	}
	cfg, err := config.Parse("clouddns.md", blocks[0][1])
	if err != nil {
		t.Fatalf("example config:\n%v", err)
	}
	n := 0
	for name, pr := range cfg.Providers {
		if pr.Type != Type {
			continue
		}
		n++
		if pr.CloudDNS == nil || pr.CloudDNS.Project != "acme-dns" || pr.CloudDNS.ManagedZone != "example-com" {
			t.Fatalf("provider %s: got settings %+v, want project acme-dns, managed zone example-com", name, pr.CloudDNS)
		}
		// The example names a credentials file that does not exist here;
		// without it the provider builds on application default
		// credentials.
		c := *pr
		s := *pr.CloudDNS
		s.CredentialsFile = ""
		c.CloudDNS = &s
		if _, err := New(name, &c, providers.Env{Getenv: func(string) string { return "" }}); err != nil {
			t.Errorf("provider %s: %v", name, err)
		}
	}
	if n != 1 {
		t.Fatalf("got %d clouddns providers in the example, want 1", n)
	}
}
