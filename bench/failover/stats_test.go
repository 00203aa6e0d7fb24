package main

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name             string
		in               []time.Duration
		missed           int
		min, median, max time.Duration
		cells            [4]string
	}{
		{"odd count, unsorted", ms(300, 100, 200), 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, [4]string{"0.100", "0.200", "0.300", "3"}},
		{"even count takes the mean of the middle two", ms(40, 10, 30, 20), 0, 10 * time.Millisecond, 25 * time.Millisecond, 40 * time.Millisecond, [4]string{"0.010", "0.025", "0.040", "4"}},
		{"one value", ms(7), 1, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, [4]string{"0.007", "0.007", "0.007", "1 (1 timed out)"}},
		{"nothing measured", nil, 2, 0, 0, 0, [4]string{"—", "—", "—", "0 (2 timed out)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.in...)
			s := summarize(tt.in, tt.missed)
			if s.min != tt.min || s.median != tt.median || s.max != tt.max {
				t.Errorf("got min %v median %v max %v, want %v %v %v", s.min, s.median, s.max, tt.min, tt.median, tt.max)
			}
			if s.n != len(tt.in) || s.missed != tt.missed {
				t.Errorf("got n %d missed %d, want %d %d", s.n, s.missed, len(tt.in), tt.missed)
			}
			if got := s.cells(); got != tt.cells {
				t.Errorf("got cells %q, want %q", got, tt.cells)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatalf("summarize reordered its input: got %v, want %v", tt.in, in)
				}
			}
		})
	}
}
