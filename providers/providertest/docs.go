package providertest

import (
	"os"
	"regexp"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
)

var (
	fencedBlock = regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```")
	configLike  = regexp.MustCompile(`(?m)^zones:`)
)

// DocBlocks returns the fenced code blocks of language lang ("yaml",
// "json") in the Markdown file at path.
func DocBlocks(t testing.TB, path, lang string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range fencedBlock.FindAllSubmatch(data, -1) {
		if string(m[1]) == lang {
			out = append(out, m[2])
		}
	}
	return out
}

// DocConfigs parses every YAML block of a provider's doc page that is a
// config (it has a zones: section) with [config.Parse], as a user copying
// it would, and fails the test on any error or when there is none: the
// examples in docs/providers/ stay valid.
func DocConfigs(t testing.TB, path string) []*config.Config {
	t.Helper()
	var out []*config.Config
	for i, b := range DocBlocks(t, path, "yaml") {
		if !configLike.Match(b) {
			continue
		}
		cfg, err := config.Parse(path, b)
		if err != nil {
			t.Fatalf("%s: config example (block %d):\n%v", path, i+1, err)
		}
		out = append(out, cfg)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no config example", path)
	}
	return out
}
