package config

import (
	"os"
	"regexp"
	"testing"
)

// TestREADMEExample validates every YAML block of the README that looks
// like a config (it has a zones: section), so the documented example keeps
// working.
func TestREADMEExample(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(data, -1)
	n := 0
	for _, b := range blocks {
		if !regexp.MustCompile(`(?m)^zones:`).Match(b[1]) {
			continue
		}
		n++
		if _, err := Parse("README.md", b[1]); err != nil {
			t.Errorf("README config example %d:\n%v", n, err)
		}
	}
	if n == 0 {
		t.Fatal("no config example found in README.md")
	}
}
