// Package api is switchboard's HTTP interface: node and cluster status,
// policy reads and writes, operator overrides, drills, and Prometheus
// metrics.
//
// Every write goes through Raft ([raft.Node.Propose]), so any node accepts
// it and forwards it to the leader. Bad requests get a 4xx with a JSON error
// body; a cluster without a leader gets 503. Responses never carry
// credentials: the policy holds none, only the names of the files and
// variables that do.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/health"
	"github.com/switchboard-dns/switchboard/raft"
	"github.com/switchboard-dns/switchboard/zone"
)

// Options configure the API.
type Options struct {
	Node *controller.Node
	// Serial reports the SOA serial the embedded DNS server serves for a
	// zone, so that status shows what this node actually answers.
	Serial func(origin string) (uint32, bool)
	// Registry receives the metrics; nil makes a new one.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Cloud and Region label this node in status.
	Cloud, Region string
	// Now is the clock for command timestamps; default time.Now.
	Now func() time.Time
}

// Server serves the API.
type Server struct {
	opts Options
	mux  *http.ServeMux
	log  *slog.Logger
}

// New returns the API handler.
func New(opts Options) *Server {
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Logger.With("component", "api")}
	opts.Registry.MustRegister(newCollector(opts.Node, opts.Serial))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/policy", s.getPolicy)
	s.mux.HandleFunc("POST /v1/policy", s.postPolicy)
	s.mux.HandleFunc("POST /v1/plan", s.plan)
	s.mux.HandleFunc("POST /v1/overrides", s.postOverride)
	s.mux.HandleFunc("POST /v1/releases", s.postRelease)
	s.mux.HandleFunc("GET /v1/cluster", s.cluster)
	s.mux.HandleFunc("POST /v1/cluster/join", s.join)
	s.mux.HandleFunc("POST /v1/cluster/leave", s.leave)
	s.mux.HandleFunc("POST /v1/cluster/remove", s.remove)
	s.drillRoutes()
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{}))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Error is the body of every 4xx and 5xx response.
type Error struct {
	Error string `json:"error"`
	// Details lists every problem of an invalid policy.
	Details []string `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string, details ...string) {
	writeJSON(w, code, Error{Error: msg, Details: details})
}

// proposeError maps a proposal's error to a status code.
func (s *Server) proposeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, raft.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, raft.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, raft.ErrNoLeader), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotStarted), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		s.log.Error("proposal failed", "error", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// maxBody bounds request bodies.
const maxBody = 8 << 20

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	st := s.opts.Node.State()
	if st == nil || st.Policy == nil {
		writeError(w, http.StatusServiceUnavailable, "no committed policy yet")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// NodeStatus is GET /v1/status: what this node knows and serves.
type NodeStatus struct {
	ID           string    `json:"id"`
	Cloud        string    `json:"cloud,omitempty"`
	Region       string    `json:"region,omitempty"`
	Role         string    `json:"role"`
	Leader       string    `json:"leader"`
	LeaderAddr   string    `json:"leader_addr"`
	LastContact  time.Time `json:"last_contact,omitzero"`
	AppliedIndex uint64    `json:"applied_index"`
	// StateIndex is the log index of the state the DNS server serves.
	StateIndex    uint64             `json:"state_index"`
	PolicyVersion uint64             `json:"policy_version"`
	Members       []raft.Member      `json:"members"`
	Observers     []raft.Observer    `json:"observers"`
	Zones         []ZoneStatus       `json:"zones"`
	Endpoints     []EndpointStatus   `json:"endpoints"`
	Records       []RecordStatus     `json:"records"`
	Sync          []raft.SyncStatus  `json:"sync,omitempty"`
	Events        []controller.Event `json:"events"`
	// Drills are the drills not yet ended.
	Drills []DrillSummary `json:"drills,omitempty"`
}

// ZoneStatus is one zone's generation and the serial this node serves.
type ZoneStatus struct {
	Origin     string `json:"origin"`
	Generation uint64 `json:"generation"`
	// Serial is what this node's DNS server answers in the SOA.
	Serial uint32 `json:"serial"`
}

// EndpointStatus is an endpoint's consensus, with the votes behind it, and
// this node's own probe state.
type EndpointStatus struct {
	controller.Decision
	Address string         `json:"address"`
	Cloud   string         `json:"cloud,omitempty"`
	Region  string         `json:"region,omitempty"`
	Since   time.Time      `json:"since,omitzero"`
	Local   *health.Status `json:"local,omitempty"`
}

// RecordStatus is a record's answer.
type RecordStatus struct {
	Name string `json:"name"`
	Type string `json:"type"`
	controller.RecordState
}

// Status builds this node's status.
func (s *Server) Status() NodeStatus {
	n := s.opts.Node
	rn := n.Raft()
	ns := NodeStatus{ID: n.ID(), Cloud: s.opts.Cloud, Region: s.opts.Region, Role: rn.State(), AppliedIndex: rn.AppliedIndex()}
	ns.Leader, ns.LeaderAddr = rn.Leader()
	if ns.Role != "leader" {
		ns.LastContact = rn.LastContact()
	}
	if m, err := rn.Members(); err == nil {
		ns.Members = m
	}
	since := map[string]time.Time{}
	rn.FSM().Read(func(f *raft.Facts, m *raft.Memory, _ uint64) {
		for _, id := range slices.Sorted(maps.Keys(f.Observers)) {
			ns.Observers = append(ns.Observers, *f.Observers[id])
		}
		for _, k := range slices.Sorted(maps.Keys(f.Sync)) {
			ns.Sync = append(ns.Sync, f.Sync[k])
		}
		for ep, h := range m.Health {
			since[ep] = h.Since
		}
		for _, d := range f.ActiveDrills() {
			ns.Drills = append(ns.Drills, summary(d))
		}
	})
	st := n.State()
	if st == nil {
		return ns
	}
	ns.StateIndex = st.Index
	if st.Policy != nil {
		ns.PolicyVersion = st.Policy.Version
	}
	for _, z := range st.Zones {
		zs := ZoneStatus{Origin: z.Origin, Generation: z.Generation}
		if s.opts.Serial != nil {
			zs.Serial, _ = s.opts.Serial(z.Origin)
		}
		ns.Zones = append(ns.Zones, zs)
	}
	local := map[string]health.Status{}
	for _, hs := range n.Monitor().Status() {
		local[hs.Endpoint] = hs
	}
	if st.Policy != nil {
		for _, e := range st.Policy.Parsed().Endpoints {
			es := EndpointStatus{Decision: st.Health[e.Name], Address: e.Address, Cloud: e.Cloud, Region: e.Region, Since: since[e.Name]}
			if hs, ok := local[e.Name]; ok {
				es.Local = &hs
			}
			ns.Endpoints = append(ns.Endpoints, es)
		}
	}
	keys := mapsKeys(st.Records)
	zone.SortKeys(keys)
	for _, k := range keys {
		ns.Records = append(ns.Records, RecordStatus{Name: k.Name, Type: zone.TypeString(k.Type), RecordState: st.Records[k]})
	}
	ns.Events = st.Events[max(0, len(st.Events)-20):]
	return ns
}

func mapsKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}

// PolicyDoc is GET /v1/policy.
type PolicyDoc struct {
	Version uint64          `json:"version"`
	At      time.Time       `json:"at,omitzero"`
	By      string          `json:"by,omitempty"`
	Policy  json.RawMessage `json:"policy"`
}

func (s *Server) getPolicy(w http.ResponseWriter, _ *http.Request) {
	var doc PolicyDoc
	s.opts.Node.Raft().FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
		if f.Policy != nil {
			doc = PolicyDoc{Version: f.Policy.Version, At: f.Policy.At, By: f.Policy.By, Policy: f.Policy.JSON}
		}
	})
	if doc.Policy == nil {
		writeError(w, http.StatusNotFound, "no policy committed yet")
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

// PolicyRequest is POST /v1/policy.
type PolicyRequest struct {
	Policy json.RawMessage `json:"policy"`
	// Expect is the version the change was planned against (0: none).
	Expect uint64 `json:"expect,omitempty"`
	// By names who applies it, for the journal.
	By string `json:"by,omitempty"`
	// Force commits a policy that would withdraw more than a record's
	// panic threshold of its healthy endpoints (refused otherwise).
	Force bool `json:"force,omitempty"`
}

// PolicyResponse answers a committed policy.
type PolicyResponse struct {
	Version uint64 `json:"version"`
	Index   uint64 `json:"index"`
}

func (s *Server) postPolicy(w http.ResponseWriter, r *http.Request) {
	var req PolicyRequest
	if !decodeBody(w, r, &req) {
		return
	}
	p, ok := decodePolicy(w, &req)
	if !ok {
		return
	}
	if st := s.opts.Node.State(); st != nil && st.Policy != nil && !req.Force {
		if drops := controller.PlanPolicy(st.Policy.Parsed(), p, st).Capacity; len(drops) > 0 {
			details := make([]string, len(drops))
			for i, d := range drops {
				details[i] = d.String()
			}
			writeError(w, http.StatusConflict, "refused: the policy would withdraw most of the healthy capacity of some records; review the plan and apply with force if this is intended", details...)
			return
		}
	}
	by := req.By
	if by == "" {
		by = "api@" + s.opts.Node.ID()
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	idx, err := s.opts.Node.Raft().Propose(ctx, &raft.Command{Type: raft.CmdPolicy, At: s.opts.Now(), By: by,
		Policy: &raft.SetPolicy{JSON: p.JSON(), Expect: req.Expect}})
	if err != nil {
		s.proposeError(w, err)
		return
	}
	var v uint64
	s.opts.Node.Raft().FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
		if f.Policy != nil {
			v = f.Policy.Version
		}
	})
	writeJSON(w, http.StatusOK, PolicyResponse{Version: v, Index: idx})
}

// decodePolicy parses and validates the policy of a request, answering
// 400 with every validation error when it is bad.
func decodePolicy(w http.ResponseWriter, req *PolicyRequest) (*config.Policy, bool) {
	if len(req.Policy) == 0 {
		writeError(w, http.StatusBadRequest, "missing policy")
		return nil, false
	}
	p, err := config.PolicyFromJSON(req.Policy)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			details := make([]string, len(errs))
			for i, e := range errs {
				details[i] = e.Error()
			}
			writeError(w, http.StatusBadRequest, "invalid policy", details...)
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "invalid policy: "+err.Error())
		return nil, false
	}
	return p, true
}

// OverrideRequest is POST /v1/overrides: State "up", "down" or "" (clear).
type OverrideRequest struct {
	Endpoint string `json:"endpoint"`
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

func (s *Server) postOverride(w http.ResponseWriter, r *http.Request) {
	var req OverrideRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Endpoint == "" {
		writeError(w, http.StatusBadRequest, "missing endpoint")
		return
	}
	if req.State != "" && req.State != raft.OverrideUp && req.State != raft.OverrideDown {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q must be up, down or empty", req.State))
		return
	}
	s.propose(w, r, &raft.Command{Type: raft.CmdOverride, By: req.By,
		Override: &raft.SetOverride{Endpoint: req.Endpoint, State: req.State, Reason: req.Reason}})
}

// ReleaseRequest is POST /v1/releases: release a record's panic hold.
type ReleaseRequest struct {
	Record string `json:"record"` // "www.example.com. A"
	By     string `json:"by,omitempty"`
}

func (s *Server) postRelease(w http.ResponseWriter, r *http.Request) {
	var req ReleaseRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Record == "" {
		writeError(w, http.StatusBadRequest, "missing record")
		return
	}
	s.propose(w, r, &raft.Command{Type: raft.CmdRelease, By: req.By, Release: &raft.Release{Record: req.Record}})
}

// IndexResponse answers a committed command.
type IndexResponse struct {
	Index uint64 `json:"index"`
}

func (s *Server) propose(w http.ResponseWriter, r *http.Request, cmd *raft.Command) {
	if cmd.By == "" {
		cmd.By = "api@" + s.opts.Node.ID()
	}
	cmd.At = s.opts.Now()
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	idx, err := s.opts.Node.Raft().Propose(ctx, cmd)
	if err != nil {
		s.proposeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, IndexResponse{Index: idx})
}

type observerAlive struct {
	id    string
	alive bool
}

func observers(n *controller.Node) []observerAlive {
	var out []observerAlive
	n.Raft().FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
		for _, id := range slices.Sorted(maps.Keys(f.Observers)) {
			out = append(out, observerAlive{id: id, alive: f.Observers[id].Alive})
		}
	})
	return out
}
