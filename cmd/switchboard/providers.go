package main

import (
	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/azuredns"
	"github.com/switchboard-dns/switchboard/providers/clouddns"
	"github.com/switchboard-dns/switchboard/providers/rfc2136"
	"github.com/switchboard-dns/switchboard/providers/route53"
)

// providerRegistry lists the provider types this build can write to. The
// embedded server is not among them: it serves the committed state on
// every node by itself.
func providerRegistry() *providers.Registry {
	r := providers.NewRegistry()
	r.Register(config.ProviderRFC2136, rfc2136.New)
	r.Register(config.ProviderRoute53, route53.New)
	r.Register(config.ProviderCloudDNS, clouddns.New)
	r.Register(config.ProviderAzureDNS, azuredns.New)
	return r
}
