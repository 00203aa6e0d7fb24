package api

import (
	"errors"
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
	if len(req.Policy) == 0 {
		writeError(w, http.StatusBadRequest, "missing policy")
		return
	}
	next, err := config.PolicyFromJSON(req.Policy)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			details := make([]string, len(errs))
			for i, e := range errs {
				details[i] = e.Error()
			}
			writeError(w, http.StatusBadRequest, "invalid policy", details...)
			return
		}
		writeError(w, http.StatusBadRequest, "invalid policy: "+err.Error())
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
