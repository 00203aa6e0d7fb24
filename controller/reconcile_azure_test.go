package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/azuredns"
	"github.com/switchboard-dns/switchboard/providers/azuredns/azurednstest"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

const azurePolicy = `
zones:
  - name: example.com.
    providers: [embedded, az]
    nameservers: [ns1.example.com.]
    static: ["ns1 3600 IN A 192.0.2.53"]
providers:
  az:
    type: azuredns
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: dns
    zone_name: example.com
    verify_nameservers: ["%s"]
    verify_timeout: 5s
checks:
  web: {type: http, interval: 1s, timeout: 500ms}
endpoints:
  - {name: a1, address: 10.0.0.1, cloud: aws, region: r1, check: web}
  - {name: g1, address: 10.1.0.1, cloud: gcp, region: r2, check: web}
pools:
  aws: {endpoints: [a1]}
  gcp: {endpoints: [g1]}
records:
  - {name: www.example.com., type: A, ttl: 30, pools: [aws, gcp]}
`

// TestReconcilerAzureEndToEnd runs the reconciler on real single-node Raft
// against the Azure DNS provider through the real SDK client and the SDK's
// own armdns/fake server (ETag rules in its handlers), with verification
// by DNS queries to the fake's nameserver: the first generation, a health
// change, and a record someone else owns that is never touched.
func TestReconcilerAzureEndToEnd(t *testing.T) {
	fake := azurednstest.New("00000000-0000-0000-0000-000000000000", "dns", "example.com")
	dnsAddr, err := fake.ServeDNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	foreign := zone.MustRRset("mail.example.com.", dns.TypeMX, 3600, "10 mx.example.net.")
	if err := fake.Put(foreign); err != nil {
		t.Fatal(err)
	}

	_, cl, propose := realRaft(t)
	propose(raft.Command{Type: raft.CmdPolicy, By: "test", Policy: &raft.SetPolicy{JSON: mustPolicy(t, fmt.Sprintf(azurePolicy, dnsAddr)).JSON()}})

	factory := func(name string, cfg *config.Provider) (providers.Provider, error) {
		return azuredns.NewWithOptions(name, cfg, providers.Env{}, azuredns.Options{Transport: fake.Transport(), Credential: &azfake.TokenCredential{}})
	}
	rec, err := NewReconciler(ReconcilerOptions{Node: "n1", Cluster: cl, Providers: factory, VerifyInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	defer func() { cancel(); <-done }()

	gen := func() uint64 {
		st, _ := cl.Snapshot()
		return st.Zone("example.com.").Generation
	}
	answer := func() []string {
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", dns.TypeA)
		r, err := dns.Exchange(m, dnsAddr)
		if err != nil {
			return nil
		}
		var out []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		return out
	}
	synced := func(g uint64, want []string) func() bool {
		return func() bool {
			_, syncs := cl.Snapshot()
			s := syncs[raft.SyncKey("az", "example.com.")]
			return s.Applied == g && s.Verified == g && slices.Equal(answer(), want)
		}
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "the first generation on Azure, verified", synced(gen(), []string{"10.0.0.1"}))
	t.Logf("first generation applied and verified on the Azure fake in %s", time.Since(start))

	propose(verdicts("n1", false, map[string]bool{"a1": false}))
	g2 := gen()
	start = time.Now()
	waitFor(t, 10*time.Second, "the health change on Azure, verified", synced(g2, []string{"10.1.0.1"}))
	t.Logf("health change applied and verified on the Azure fake in %s", time.Since(start))

	var fence, mail bool
	for _, s := range fake.Dump() {
		switch s.Key() {
		case providers.FenceKey("example.com."):
			got, err := providers.ParseFence(s)
			fence = err == nil && got == g2
		case foreign.Key():
			mail = s.Equal(foreign)
		}
	}
	if !fence {
		t.Errorf("the fencing record does not hold generation %d: %v", g2, fake.Dump())
	}
	if !mail {
		t.Errorf("a record the policy does not name changed or vanished: %v", fake.Dump())
	}
}
