package route53

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers/providertest"
)

const docPath = "../../docs/providers/route53.md"

func docBlocks(t *testing.T, lang string) [][]byte {
	t.Helper()
	return providertest.DocBlocks(t, docPath, lang)
}

// TestDocExampleConfig validates the doc's example config with the config
// package and checks that it configures a Route 53 provider.
func TestDocExampleConfig(t *testing.T) {
	// The example names a profile: give it one, in files of its own.
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile dns-writer]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for i, cfg := range providertest.DocConfigs(t, docPath) {
		n := i + 1
		found := false
		for name, p := range cfg.Policy.Providers {
			if p.Route53 == nil {
				continue
			}
			found = true
			if _, err := New(name, p, fakeEnv(nil)); err != nil {
				t.Errorf("provider %s of the example: New: %v", name, err)
			}
		}
		if !found {
			t.Errorf("example %d: got no route53 provider, want one", n)
		}
	}
}

// TestDocSettings checks that the settings table names every setting of
// config.Route53Settings.
func TestDocSettings(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[config.Route53Settings]()
	for i := range typ.NumField() {
		tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
		if !strings.Contains(string(data), "| `"+tag+"` |") {
			t.Errorf("settings table: got no row for %q, want one", tag)
		}
	}
}

// TestDocIAMPolicy checks that the documented IAM policy grants exactly
// the Route 53 actions the provider's client interface calls.
func TestDocIAMPolicy(t *testing.T) {
	blocks := docBlocks(t, "json")
	if len(blocks) != 1 {
		t.Fatalf("json blocks: got %d, want 1 (the IAM policy)", len(blocks))
	}
	var pol struct {
		Statement []struct {
			Effect string
			Action []string
		}
	}
	if err := json.Unmarshal(blocks[0], &pol); err != nil {
		t.Fatalf("IAM policy: %v", err)
	}
	var got []string
	for _, s := range pol.Statement {
		if s.Effect != "Allow" {
			t.Errorf("statement effect: got %q, want Allow", s.Effect)
		}
		got = append(got, s.Action...)
	}
	var want []string
	it := reflect.TypeFor[api]()
	for i := range it.NumMethod() {
		want = append(want, "route53:"+it.Method(i).Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("IAM actions: got %v, want %v", got, want)
	}
}
