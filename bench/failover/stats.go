package main

import (
	"fmt"
	"slices"
	"time"
)

// summary is the min, median and max of a series of measurements, with
// how many were taken and how many timed out.
type summary struct {
	n, missed        int
	min, median, max time.Duration
}

// summarize returns the summary of ds; missed counts repetitions that
// produced no measurement. The median of an even count is the mean of the
// two middle values.
func summarize(ds []time.Duration, missed int) summary {
	s := summary{n: len(ds), missed: missed}
	if len(ds) == 0 {
		return s
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	s.min, s.max = sorted[0], sorted[len(sorted)-1]
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		s.median = sorted[mid]
	} else {
		s.median = (sorted[mid-1] + sorted[mid]) / 2
	}
	return s
}

// cells returns the summary as table cells: min, median, max in seconds
// with millisecond precision, and n (with the timeouts, if any).
func (s summary) cells() [4]string {
	if s.n == 0 {
		return [4]string{"—", "—", "—", fmt.Sprintf("0 (%d timed out)", s.missed)}
	}
	n := fmt.Sprint(s.n)
	if s.missed > 0 {
		n = fmt.Sprintf("%d (%d timed out)", s.n, s.missed)
	}
	return [4]string{secs(s.min), secs(s.median), secs(s.max), n}
}

// secs formats d in seconds with three decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
