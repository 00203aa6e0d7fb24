package providers

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/switchboard-dns/switchboard/config"
)

// Env is what a constructor gets besides its settings: the process
// environment for secrets (so tests can pass their own) and a logger.
type Env struct {
	// Getenv reads an environment variable; nil means os.Getenv.
	Getenv func(string) string
	// Logger is the provider's logger; nil discards.
	Logger *slog.Logger
}

// Constructor builds a provider named name from its validated settings.
// It must not do network I/O: credentials and zones are resolved lazily,
// so that a node starts while a provider's API is down.
type Constructor func(name string, cfg *config.Provider, env Env) (Provider, error)

// Registry maps provider types ("rfc2136", "route53", ...) to their
// constructors. It is filled explicitly by the program (no init side
// effects) and is safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	ctor map[string]Constructor
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{ctor: map[string]Constructor{}} }

// Register adds a constructor for a provider type. Registering a type
// twice is a programming error and panics.
func (r *Registry) Register(typ string, c Constructor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.ctor[typ]; dup {
		panic(fmt.Sprintf("providers: type %q registered twice", typ))
	}
	if c == nil {
		panic(fmt.Sprintf("providers: nil constructor for type %q", typ))
	}
	r.ctor[typ] = c
}

// Types returns the registered types, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.ctor))
	for t := range r.ctor {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// New builds the provider called name from cfg.
func (r *Registry) New(name string, cfg *config.Provider, env Env) (Provider, error) {
	r.mu.RLock()
	c, ok := r.ctor[cfg.Type]
	r.mu.RUnlock()
	if !ok {
		return nil, Invalid(fmt.Errorf("providers: %s: no provider of type %q in this build", name, cfg.Type))
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	env.Logger = env.Logger.With("component", "provider", "provider", name)
	p, err := c(name, cfg, env)
	if err != nil {
		return nil, fmt.Errorf("providers: %s: %w", name, err)
	}
	return p, nil
}
