package controller

import (
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-dns/switchboard/config"
)

const planBase = `
zones:
  - name: example.com.
    providers: [embedded, bind]
    nameservers: [ns1.example.com.]
    static: ["ns1 60 IN A 192.0.2.53"]
providers:
  bind: {type: rfc2136, server: "127.0.0.1:53"}
  r53: {type: route53, hosted_zone_id: Z1}
checks:
  web: {type: tcp, port: 80}
endpoints:
  - {name: a, address: 192.0.2.1, check: web}
  - {name: b, address: 192.0.2.2, check: web}
pools:
  pa: {endpoints: [a]}
  pb: {endpoints: [b]}
records:
  - {name: www.example.com., type: A, ttl: 30, steering: failover, pools: [pa, pb]}
`

func planPolicy(t *testing.T, doc string) *config.Policy {
	t.Helper()
	cfg, err := config.Parse("plan.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return &cfg.Policy
}

// summary prints a plan as "provider: kind key, ...; note" lines.
func summary(p *PolicyPlan) string {
	var b strings.Builder
	for _, pp := range p.Providers {
		fmt.Fprintf(&b, "%s:", pp.Provider)
		for _, c := range pp.Changes {
			fmt.Fprintf(&b, " %s %s", c.Kind(), c.Key)
			if c.New != nil {
				fmt.Fprintf(&b, "=%s/%d", strings.Join(c.New.Data, ","), c.New.TTL)
			}
		}
		if pp.Note != "" {
			fmt.Fprintf(&b, " (%s)", strings.Fields(pp.Note)[0]+" "+strings.Fields(pp.Note)[1])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestPlanPolicy(t *testing.T) {
	base := planPolicy(t, planBase)
	tests := []struct {
		name string
		cur  *config.Policy
		next string
		down []string
		want string
	}{
		{"first policy", nil, planBase, nil,
			"embedded: create example.com. NS=ns1.example.com./3600 create ns1.example.com. A=192.0.2.53/60 create www.example.com. A=192.0.2.1/30 (new in)\nbind: create www.example.com. A=192.0.2.1/30 (new in)\n"},
		{"nameservers changed: embedded only", base, strings.Replace(planBase, "nameservers: [ns1.example.com.]", "nameservers: [ns1.example.com., ns2.example.net.]", 1), nil,
			"embedded: update example.com. NS=ns1.example.com.,ns2.example.net./3600\nbind:\n"},
		{"same policy", base, planBase, nil, "embedded:\nbind:\n"},
		{"ttl change", base, strings.Replace(planBase, "ttl: 30", "ttl: 60", 1), nil,
			"embedded: update www.example.com. A=192.0.2.1/60\nbind: update www.example.com. A=192.0.2.1/60\n"},
		{"pool order under current health", base, strings.Replace(planBase, "pools: [pa, pb]}", "pools: [pb, pa]}", 1), nil,
			"embedded: update www.example.com. A=192.0.2.2/30\nbind: update www.example.com. A=192.0.2.2/30\n"},
		{"pool order with the new first pool down", base, strings.Replace(planBase, "pools: [pa, pb]}", "pools: [pb, pa]}", 1), []string{"b"},
			"embedded:\nbind:\n"},
		{"provider added", base, strings.Replace(planBase, "[embedded, bind]", "[embedded, bind, r53]", 1), nil,
			"embedded:\nbind:\nr53: create www.example.com. A=192.0.2.1/30 (new in)\n"},
		{"provider dropped", base, strings.Replace(planBase, "[embedded, bind]", "[embedded]", 1), nil,
			"embedded:\nbind: (no longer)\n"},
		{"static line changed: embedded only", base, strings.Replace(planBase, "192.0.2.53", "192.0.2.54", 1), nil,
			"embedded: update ns1.example.com. A=192.0.2.54/60\nbind:\n"},
		{"record added", base, planBase + "  - {name: api.example.com., type: A, steering: all, pools: [pa, pb]}\n", nil,
			"embedded: create api.example.com. A=192.0.2.1,192.0.2.2/60\nbind: create api.example.com. A=192.0.2.1,192.0.2.2/60\n"},
		{"record removed", base, strings.Replace(planBase, "  - {name: www.example.com., type: A, ttl: 30, steering: failover, pools: [pa, pb]}\n", "", 1), nil,
			"embedded: delete www.example.com. A\nbind: delete www.example.com. A\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &State{Health: map[string]Decision{}}
			for _, e := range tc.down {
				st.Health[e] = Decision{Endpoint: e, Up: false}
			}
			got := summary(PlanPolicy(tc.cur, planPolicy(t, tc.next), st))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestPlanPolicyCapacity(t *testing.T) {
	three := strings.Replace(planBase, "  pb: {endpoints: [b]}", "  pb: {endpoints: [b, c]}", 1)
	three = strings.Replace(three, "  - {name: b, address: 192.0.2.2, check: web}", "  - {name: b, address: 192.0.2.2, check: web}\n  - {name: c, address: 192.0.2.3, check: web}", 1)
	cur := planPolicy(t, three)
	onlyA := strings.Replace(three, "pools: [pa, pb]}", "pools: [pa]}", 1)
	tests := []struct {
		name string
		next string
		down []string
		want string
	}{
		{"2 of 3 healthy endpoints withdrawn", onlyA, nil, "www.example.com. A: 1 of 3 healthy endpoints left (more than 50% withdrawn)"},
		{"the withdrawn ones are down already", onlyA, []string{"b", "c"}, ""},
		{"threshold raised", strings.Replace(onlyA, "pools: [pa]}", "pools: [pa], panic_threshold: 0.7}", 1), nil, ""},
		{"one of three withdrawn", strings.Replace(three, "pb: {endpoints: [b, c]}", "pb: {endpoints: [b]}", 1), nil, ""},
		{"record removed is a deletion, not a loss", strings.Replace(three, "  - {name: www.example.com., type: A, ttl: 30, steering: failover, pools: [pa, pb]}\n", "", 1), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &State{Health: map[string]Decision{}}
			for _, e := range tc.down {
				st.Health[e] = Decision{Endpoint: e}
			}
			var got []string
			for _, c := range PlanPolicy(cur, planPolicy(t, tc.next), st).Capacity {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
