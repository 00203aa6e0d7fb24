package dnsserver

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/zone"
)

// TestDigSmoke asks the server with dig and kdig, the tools operators will
// use on it. It is skipped only when a binary is missing.
func TestDigSmoke(t *testing.T) {
	s := New(Options{Logger: testLog, AXFRAllow: loopback, TSIG: map[string]string{tsigName: tsigSecret}})
	if err := s.Load([]*zone.Zone{exampleZone(7), subZone(3)}); err != nil {
		t.Fatal(err)
	}
	addr := start(t, s)
	host, port, _ := net.SplitHostPort(addr)

	tests := []struct {
		name string
		tool string
		args []string
		want []string // lines (fields joined by one space) or substrings of a line
		not  []string
	}{
		{name: "A over UDP", tool: "dig", args: []string{"www.example.com", "A"},
			want: []string{"status: NOERROR", "flags: qr aa;", "www.example.com. 60 IN A 192.0.2.80", "www.example.com. 60 IN A 192.0.2.81", "udp: 1232"}},
		{name: "NXDOMAIN over TCP", tool: "dig", args: []string{"+tcp", "nope.example.com", "A"},
			want: []string{"status: NXDOMAIN", "flags: qr aa;", "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 7 3600 600 86400 60"}},
		{name: "referral", tool: "dig", args: []string{"www.deleg.example.com", "A"},
			want: []string{"status: NOERROR", "flags: qr;", "deleg.example.com. 3600 IN NS ns.deleg.example.com.", "ns.deleg.example.com. 3600 IN A 192.0.2.100"}},
		{name: "truncated without EDNS", tool: "dig", args: []string{"+noedns", "+ignore", "mid.example.com", "TXT"},
			want: []string{"flags: qr aa tc;", "ANSWER: 0"}},
		{name: "TC then TCP", tool: "dig", args: []string{"+noedns", "mid.example.com", "TXT"},
			want: []string{"flags: qr aa;", "ANSWER: 20"}},
		{name: "NS with glue", tool: "kdig", args: []string{"example.com", "NS"},
			want: []string{"status: NOERROR", "ns1.example.com. 300 IN A 192.0.2.53", "ns2.example.com. 300 IN AAAA 2001:db8::53"}},
		{name: "EDNS version 1", tool: "kdig", args: []string{"+edns=1", "www.example.com", "A"},
			want: []string{"status: BADVERS"}},
		{name: "cookie and NSID are ignored", tool: "kdig", args: []string{"+cookie", "+nsid", "www.example.com", "A"},
			want: []string{"status: NOERROR", "www.example.com. 60 IN A 192.0.2.80"}},
		{name: "signed AXFR", tool: "kdig", args: []string{"-y", "hmac-sha256:" + tsigName + ":" + tsigSecret, "example.com", "AXFR"},
			want: []string{"example.com. 3600 IN SOA ns1.example.com.", "weighted.example.com. 30 IN A 192.0.2.12", "c9.example.com. 10 IN A 192.0.2.9"},
			not:  []string{"failed", "error", "REFUSED"}},
		{name: "unsigned AXFR", tool: "kdig", args: []string{"example.com", "AXFR"},
			want: []string{"REFUSED"}},
	}
	for _, tc := range tests {
		t.Run(tc.tool+" "+tc.name, func(t *testing.T) {
			bin, err := exec.LookPath(tc.tool)
			if err != nil {
				t.Skipf("%s not installed: %v", tc.tool, err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			args := append([]string{"@" + host, "-p", port, "+norec", "+timeout=2", "+retry=0"}, tc.args...)
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			if err != nil && !strings.Contains(tc.name, "AXFR") {
				t.Fatalf("%s %s: %v\n%s", tc.tool, strings.Join(args, " "), err, out)
			}
			var lines []string
			for l := range strings.SplitSeq(string(out), "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			text := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("got\n%s\nwant a line with %q", out, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(text, n) {
					t.Errorf("got\n%s\nwant no %q", out, n)
				}
			}
			if tc.name == "signed AXFR" {
				if n := strings.Count(text, "IN SOA ns1.example.com."); n != 2 {
					t.Errorf("got %d SOA records, want 2 (first and last)", n)
				}
			}
		})
	}
}
