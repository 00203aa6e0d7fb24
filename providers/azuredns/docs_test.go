package azuredns

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/providertest"
	"github.com/switchboard-dns/switchboard/zone"
)

const docPath = "../../docs/providers/azuredns.md"

func docBlocks(t *testing.T, lang string) [][]byte {
	t.Helper()
	return providertest.DocBlocks(t, docPath, lang)
}

// TestDocExampleConfig validates the doc's example config with the config
// package and builds its Azure DNS provider.
func TestDocExampleConfig(t *testing.T) {
	for i, cfg := range providertest.DocConfigs(t, docPath) {
		n := i + 1
		found := 0
		for name, p := range cfg.Policy.Providers {
			if p.AzureDNS == nil {
				continue
			}
			found++
			if _, err := New(name, p, providers.Env{}); err != nil {
				t.Errorf("provider %s of the example: New: %v", name, err)
			}
		}
		if found == 0 {
			t.Errorf("example %d: got no azuredns provider, want one", n)
		}
	}
}

// TestDocSettingsTable checks that every setting of AzureDNSSettings is
// in the doc's settings table.
func TestDocSettingsTable(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[config.AzureDNSSettings]()
	for i := range typ.NumField() {
		tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
		if !strings.Contains(string(data), "| `"+tag+"` |") {
			t.Errorf("setting %s: got no row in the settings table, want one", tag)
		}
	}
}

// TestDocRoleCoversCalls checks that the documented custom role grants
// read, write and delete on every record type the provider writes, and
// nothing with a wildcard.
func TestDocRoleCoversCalls(t *testing.T) {
	var role struct {
		Actions []string
	}
	found := false
	for _, b := range docBlocks(t, "json") {
		if err := json.Unmarshal(b, &role); err == nil && len(role.Actions) > 0 {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("no role definition in " + docPath)
	}
	want := []string{"Microsoft.Network/dnsZones/read", "Microsoft.Network/dnsZones/recordsets/read"}
	for typ := range azureTypes {
		for _, verb := range []string{"read", "write", "delete"} {
			want = append(want, "Microsoft.Network/dnsZones/"+zone.TypeString(typ)+"/"+verb)
		}
	}
	for _, w := range want {
		if !slices.Contains(role.Actions, w) {
			t.Errorf("role: got no %s, want it", w)
		}
	}
	for _, a := range role.Actions {
		if strings.Contains(a, "*") {
			t.Errorf("role action %s: got a wildcard, want exact actions", a)
		}
		if !slices.Contains(want, a) {
			t.Errorf("role action %s: got it, want only the calls the provider makes", a)
		}
	}
}
