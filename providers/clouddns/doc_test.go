package clouddns

import (
	"testing"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
)

// TestDocExample validates the configuration example of
// docs/providers/clouddns.md with the config package and builds the
// provider it describes (construction does no I/O and does not need the
// credentials file, which the example only names, when it is left out).
func TestDocExample(t *testing.T) {
	const path = "../../docs/providers/clouddns.md"
	cfgs := providertest.DocConfigs(t, path)
	if len(cfgs) != 1 {
		t.Fatalf("got %d config examples in %s, want 1", len(cfgs), path)
	}
	cfg := cfgs[0]
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
