package azuredns_test

import (
	"context"
	"fmt"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/azuredns"
	"github.com/switchboard-dns/switchboard/providers/azuredns/azurednstest"
	"github.com/switchboard-dns/switchboard/zone"
)

// A provider wired to the in-process Azure DNS of package azurednstest,
// as a test outside this package (the reconciler's, say) builds one.
func ExampleNewWithOptions() {
	srv := azurednstest.New("sub-id", "dns-rg", "example.com.")
	cfg := &config.Provider{Type: config.ProviderAzureDNS, AzureDNS: &config.AzureDNSSettings{SubscriptionID: "sub-id", ResourceGroup: "dns-rg"}}
	p, err := azuredns.NewWithOptions("azure", cfg, providers.Env{}, azuredns.Options{
		Transport:  srv.Transport(),
		Credential: &azfake.TokenCredential{},
	})
	if err != nil {
		panic(err)
	}
	www := zone.MustRRset("www.example.com.", dns.TypeA, 30, "192.0.2.1")
	err = p.Apply(context.Background(), &providers.ChangeSet{
		Zone: "example.com.", Generation: 1,
		Changes: []providers.Change{{Key: www.Key(), New: &www}},
	})
	fmt.Println("apply:", err)
	for _, rs := range srv.Dump() {
		if rs.Type != dns.TypeSOA && rs.Type != dns.TypeNS {
			fmt.Println(rs)
		}
	}
	fmt.Println("writes:", srv.Writes())
	// Output:
	// apply: <nil>
	// _switchboard.example.com.	60	IN	TXT	"switchboard-generation=1"
	// www.example.com.	30	IN	A	192.0.2.1
	// writes: 2
}
