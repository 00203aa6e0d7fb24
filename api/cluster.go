package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-dns/switchboard/raft"
)

// ClusterStatus is GET /v1/cluster: every member of the cluster, with what
// it reports about itself when it can be reached.
type ClusterStatus struct {
	// From is the node that answered.
	From    string         `json:"from"`
	Leader  string         `json:"leader"`
	Members []MemberStatus `json:"members"`
}

// MemberStatus is one member's configuration and its own report.
type MemberStatus struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
	API  string `json:"api,omitempty"`
	// DNS is where its embedded DNS server answers.
	DNS    string `json:"dns,omitempty"`
	Voter  bool   `json:"voter"`
	Cloud  string `json:"cloud,omitempty"`
	Region string `json:"region,omitempty"`
	// Member is false for a registered node that is no longer in the
	// Raft configuration.
	Member bool `json:"member"`
	// Observer liveness as committed (nil: never reported verdicts).
	Alive *bool `json:"alive,omitempty"`
	// Reached says whether its API answered; Error says why not.
	Reached      bool         `json:"reached"`
	Error        string       `json:"error,omitempty"`
	Role         string       `json:"role,omitempty"`
	LeaderSeen   string       `json:"leader_seen,omitempty"`
	LastContact  time.Time    `json:"last_contact,omitzero"`
	AppliedIndex uint64       `json:"applied_index,omitempty"`
	Zones        []ZoneStatus `json:"zones,omitempty"`
}

// memberTimeout bounds the status request to each member.
const memberTimeout = 2 * time.Second

func (s *Server) cluster(w http.ResponseWriter, r *http.Request) {
	rn := s.opts.Node.Raft()
	cs := ClusterStatus{From: s.opts.Node.ID()}
	cs.Leader, _ = rn.Leader()
	members, err := rn.Members()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	byID := map[string]*MemberStatus{}
	for _, m := range members {
		byID[m.ID] = &MemberStatus{ID: m.ID, Raft: m.Addr, Voter: m.Voter, Member: true}
	}
	rn.FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
		for id, info := range f.Nodes {
			ms := byID[id]
			if ms == nil {
				ms = &MemberStatus{ID: id, Raft: info.Raft, Voter: info.Voter}
				byID[id] = ms
			}
			ms.API, ms.DNS, ms.Cloud, ms.Region = info.API, info.DNS, info.Cloud, info.Region
		}
		for id, o := range f.Observers {
			if ms := byID[id]; ms != nil {
				alive := o.Alive
				ms.Alive = &alive
			}
		}
	})
	var wg sync.WaitGroup
	for _, ms := range byID {
		if ms.ID == s.opts.Node.ID() {
			s.fill(ms, s.Status())
			continue
		}
		if ms.API == "" {
			ms.Error = "no API address registered"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), memberTimeout)
			defer cancel()
			st, err := fetchStatus(ctx, ms.API)
			if err != nil {
				ms.Error = err.Error()
				return
			}
			s.fill(ms, *st)
		}()
	}
	wg.Wait()
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		cs.Members = append(cs.Members, *byID[id])
	}
	writeJSON(w, http.StatusOK, cs)
}

func (s *Server) fill(ms *MemberStatus, st NodeStatus) {
	ms.Reached, ms.Role, ms.LeaderSeen, ms.LastContact, ms.AppliedIndex, ms.Zones = true, st.Role, st.Leader, st.LastContact, st.AppliedIndex, st.Zones
}

// fetchStatus asks another node's API for its status.
func fetchStatus(ctx context.Context, addr string) (*NodeStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status of %s: HTTP %d", addr, resp.StatusCode)
	}
	var st NodeStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("status of %s: %w", addr, err)
	}
	return &st, nil
}

// JoinRequest is POST /v1/cluster/join: this node (which has no Raft
// state yet) asks the member at Addr, a Raft address, to add it.
type JoinRequest struct {
	Addr string `json:"addr"`
}

// RemoveRequest is POST /v1/cluster/remove.
type RemoveRequest struct {
	ID string `json:"id"`
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Addr == "" {
		writeError(w, http.StatusBadRequest, "join needs addr, the Raft address of a member")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.opts.Node.Raft().Join(ctx, req.Addr); err != nil {
		s.proposeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"joined": req.Addr})
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request) {
	s.removeID(w, r, s.opts.Node.ID())
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	var req RemoveRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.ID == "" {
		writeError(w, http.StatusBadRequest, "remove needs id")
		return
	}
	s.removeID(w, r, req.ID)
}

func (s *Server) removeID(w http.ResponseWriter, r *http.Request, id string) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.opts.Node.Raft().Remove(ctx, id); err != nil {
		s.proposeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}
