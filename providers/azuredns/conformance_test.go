package azuredns

import (
	"testing"

	"github.com/switchboard-dns/switchboard/providers/providertest"
)

// TestConformance runs the whole providertest suite through the real
// armdns client against the SDK's armdns/fake server with Azure's ETag
// rules in its handlers.
func TestConformance(t *testing.T) {
	providertest.Run(t, &fakeBackend{srv: newFake(t)}, providertest.Options{})
}
