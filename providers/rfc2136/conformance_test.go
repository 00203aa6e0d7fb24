package rfc2136

import (
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/providers/providertest"
)

// TestConformance runs the providertest suite against real BIND 9 and
// Knot DNS servers, started on loopback for the test.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name     string
		start    func(testing.TB) *server
		transfer string
	}{
		{"bind", startBIND, "axfr"},
		{"knot", startKnot, "axfr"},
		{"bind-query", startBIND, "query"},
		{"knot-query", startKnot, "query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t)
			b := &backend{s: s, px: startProxy(t, s.Addr()), alg: "hmac-sha256", transfer: tc.transfer}
			start := time.Now()
			providertest.Run(t, b, providertest.Options{})
			t.Logf("suite against %s (transfer %s): %v, %d UPDATEs", tc.name, tc.transfer, time.Since(start).Round(time.Millisecond), b.Writes())
		})
	}
}
