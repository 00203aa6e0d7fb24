package api

import (
	"net/http"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/controller"
)

// PlanResponse is POST /v1/plan: what committing the policy in the
// request would change on each provider, under the current health,
// against the committed version Version (0: none yet).
type PlanResponse struct {
	Version uint64 `json:"version"`
	controller.PolicyPlan
}

// plan answers POST /v1/plan with a [PlanResponse]; it commits nothing.
func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	var req PolicyRequest
	if !decodeBody(w, r, &req) {
		return
	}
	next, ok := decodePolicy(w, &req)
	if !ok {
		return
	}
	st := s.opts.Node.State()
	var cur *config.Policy
	resp := PlanResponse{}
	if st != nil && st.Policy != nil {
		cur, resp.Version = st.Policy.Parsed(), st.Policy.Version
	}
	resp.PolicyPlan = *controller.PlanPolicy(cur, next, st)
	writeJSON(w, http.StatusOK, resp)
}
