package txtstr

import (
	"slices"
	"strings"
	"testing"
)

func TestUnescapeQuote(t *testing.T) {
	tests := []struct {
		name, escaped, raw string
	}{
		{"plain", "hello world", "hello world"},
		{"quote", `a\"b`, `a"b`},
		{"backslash", `a\\b`, `a\b`},
		{"decimal", `caf\195\169`, "caf\xc3\xa9"},
		{"control", `tab\009`, "tab\t"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unescape(tc.escaped); got != tc.raw {
				t.Errorf("Unescape(%q): got %q, want %q", tc.escaped, got, tc.raw)
			}
			if got := Unescape(strings.Trim(Quote(tc.raw), `"`)); got != tc.raw {
				t.Errorf("Unescape(Quote(%q)): got %q, want the same", tc.raw, got)
			}
		})
	}
	if got := Quote("a\"b\\c\x01"); got != `"a\"b\\c\001"` {
		t.Errorf("Quote: got %s, want %s", got, `"a\"b\\c\001"`)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		n    int
		want []int
	}{
		{0, []int{0}},
		{255, []int{255}},
		{256, []int{255, 1}},
		{600, []int{255, 255, 90}},
		{510, []int{255, 255}},
	}
	for _, tc := range tests {
		var lens []int
		for _, p := range Split(strings.Repeat("a", tc.n)) {
			lens = append(lens, len(p))
		}
		if !slices.Equal(lens, tc.want) {
			t.Errorf("Split(%d bytes): got %v, want %v", tc.n, lens, tc.want)
		}
	}
}
