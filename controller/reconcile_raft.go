package controller

import (
	"context"
	"maps"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/raft"
)

// NewRaftCluster adapts a Raft node to the [Cluster] the reconciler needs.
// The node's FSM must derive with a [Deriver].
func NewRaftCluster(n *raft.Node) Cluster { return raftCluster{n} }

type raftCluster struct{ n *raft.Node }

// IsLeader implements [Cluster].
func (c raftCluster) IsLeader() bool { return c.n.IsLeader() }

// VerifyLeader implements [Cluster].
func (c raftCluster) VerifyLeader(ctx context.Context) error { return c.n.VerifyLeader(ctx) }

// Subscribe implements [Cluster].
func (c raftCluster) Subscribe() <-chan struct{} { return c.n.FSM().Subscribe() }

// Unsubscribe implements [Cluster].
func (c raftCluster) Unsubscribe(ch <-chan struct{}) { c.n.FSM().Unsubscribe(ch) }

// Propose implements [Cluster].
func (c raftCluster) Propose(ctx context.Context, cmd *raft.Command) (uint64, error) {
	return c.n.Propose(ctx, cmd)
}

// Snapshot implements [Cluster].
func (c raftCluster) Snapshot() (*State, map[string]raft.SyncStatus) {
	st, _ := c.n.FSM().View().Output.(*State)
	var syncs map[string]raft.SyncStatus
	c.n.FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) { syncs = maps.Clone(f.Sync) })
	return st, syncs
}

// RegistryProviders returns a [ProviderFactory] that builds providers
// from reg with env, for [ReconcilerOptions.Providers].
func RegistryProviders(reg *providers.Registry, env providers.Env) ProviderFactory {
	return func(name string, cfg *config.Provider) (providers.Provider, error) {
		return reg.New(name, cfg, env)
	}
}
