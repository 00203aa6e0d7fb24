package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-dns/switchboard/controller"
	"github.com/switchboard-dns/switchboard/raft"
)

// DefaultDrillDuration is a drill's auto-revert deadline when none is
// given.
const DefaultDrillDuration = 10 * time.Minute

// DrillRequest is POST /v1/drills: start a drill, or with DryRun only
// show what it would change.
type DrillRequest struct {
	Scope string `json:"scope"`
	Mode  string `json:"mode,omitempty"` // simulated (default) or live
	// Duration is the auto-revert deadline from now ("3s", "10m").
	Duration string `json:"duration,omitempty"`
	Force    bool   `json:"force,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
	By       string `json:"by,omitempty"`
}

// DrillResponse answers POST /v1/drills.
type DrillResponse struct {
	ID        string    `json:"id,omitempty"`
	Index     uint64    `json:"index,omitempty"`
	Scope     string    `json:"scope"`
	Mode      string    `json:"mode"`
	Deadline  time.Time `json:"deadline"`
	Endpoints []string  `json:"endpoints,omitempty"`
	Provider  string    `json:"provider,omitempty"`
	DryRun    bool      `json:"dry_run,omitempty"`
	// Changes are the records whose answers the drill changes (computed
	// for a simulated drill or the failure a live one expects).
	Changes []controller.DrillChange `json:"changes"`
	// Guard is what the guard rails say now ("" when they pass).
	Guard string `json:"guard,omitempty"`
}

// DrillSummary is one drill in GET /v1/drills.
type DrillSummary struct {
	ID       string    `json:"id"`
	Scope    string    `json:"scope"`
	Mode     string    `json:"mode"`
	State    string    `json:"state"` // running, restoring, ended
	Start    time.Time `json:"start"`
	Deadline time.Time `json:"deadline"`
	By       string    `json:"by"`
}

// ObservedRequest is POST /v1/drills/{id}/observed: a measurement made
// outside the cluster (the CLI's DNS queries), committed as a drill step.
type ObservedRequest struct {
	Phase   string    `json:"phase"`
	What    string    `json:"what"`
	Subject string    `json:"subject"`
	When    time.Time `json:"when"`
	Detail  string    `json:"detail,omitempty"`
	By      string    `json:"by,omitempty"`
}

func (s *Server) drillRoutes() {
	s.mux.HandleFunc("GET /v1/drills", s.listDrills)
	s.mux.HandleFunc("POST /v1/drills", s.postDrill)
	s.mux.HandleFunc("GET /v1/drills/{id}", s.getDrill)
	s.mux.HandleFunc("POST /v1/drills/{id}/abort", s.abortDrill)
	s.mux.HandleFunc("POST /v1/drills/{id}/observed", s.observedDrill)
}

func (s *Server) postDrill(w http.ResponseWriter, r *http.Request) {
	var req DrillRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Mode == "" {
		req.Mode = raft.DrillSimulated
	}
	if req.Mode != raft.DrillSimulated && req.Mode != raft.DrillLive {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("mode %q must be simulated or live", req.Mode))
		return
	}
	dur := DefaultDrillDuration
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("duration %q must be a positive duration", req.Duration))
			return
		}
		dur = d
	}
	sc, err := controller.ParseScope(req.Scope)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := s.opts.Now()
	resp := DrillResponse{Scope: sc.String(), Mode: req.Mode, Deadline: now.Add(dur), DryRun: req.DryRun, Changes: []controller.DrillChange{}}
	st := s.opts.Node.State()
	var rerr error
	s.opts.Node.Raft().FSM().Read(func(f *raft.Facts, m *raft.Memory, _ uint64) {
		if f.Policy == nil {
			rerr = fmt.Errorf("no policy committed yet")
			return
		}
		resp.Endpoints, resp.Provider, rerr = sc.Resolve(f.Policy.Parsed())
		if rerr != nil {
			return
		}
		up := map[string]bool{}
		if st != nil {
			for ep, d := range st.Health {
				up[ep] = d.Up
			}
		}
		t := controller.DrillTarget{Scope: sc.String(), Endpoints: resp.Endpoints, Provider: resp.Provider, Force: req.Force}
		if err := controller.CheckGuardRails(f.Policy.Parsed(), up, f.ActiveDrills(), t); err != nil {
			resp.Guard = err.Error()
		}
		if ch := controller.PreviewDrill(f, m, st, resp.Endpoints); ch != nil {
			resp.Changes = ch
		}
	})
	if rerr != nil {
		writeError(w, http.StatusBadRequest, rerr.Error())
		return
	}
	if req.DryRun {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	resp.ID = fmt.Sprintf("drill-%s-%04x", now.UTC().Format("20060102-150405"), rand.N(1<<16))
	cmd := &raft.Command{Type: raft.CmdDrill, By: req.By, Drill: &raft.DrillStep{
		ID: resp.ID, Step: raft.StepStart, Scope: resp.Scope, Mode: req.Mode, Deadline: resp.Deadline, Force: req.Force,
	}}
	idx, ok := s.commit(w, r, cmd, now)
	if !ok {
		return
	}
	resp.Index = idx
	writeJSON(w, http.StatusOK, resp)
}

// commit proposes cmd stamped at now; on failure it writes the error.
func (s *Server) commit(w http.ResponseWriter, r *http.Request, cmd *raft.Command, now time.Time) (uint64, bool) {
	if cmd.By == "" {
		cmd.By = "api@" + s.opts.Node.ID()
	}
	cmd.At = now
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	idx, err := s.opts.Node.Raft().Propose(ctx, cmd)
	if err != nil {
		s.proposeError(w, err)
		return 0, false
	}
	return idx, true
}

func (s *Server) drill(id string) *raft.Drill {
	var d *raft.Drill
	s.opts.Node.Raft().FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
		if x := f.Drills[id]; x != nil {
			d = x.Clone()
		}
	})
	return d
}

func (s *Server) listDrills(w http.ResponseWriter, _ *http.Request) {
	out := []DrillSummary{}
	s.opts.Node.Raft().FSM().Read(func(f *raft.Facts, _ *raft.Memory, _ uint64) {
		for _, d := range f.Drills {
			out = append(out, summary(d))
		}
	})
	slices.SortFunc(out, func(a, b DrillSummary) int { return a.Start.Compare(b.Start) })
	writeJSON(w, http.StatusOK, out)
}

func summary(d *raft.Drill) DrillSummary {
	return DrillSummary{ID: d.ID, Scope: d.Scope, Mode: d.Mode, State: drillState(d), Start: d.Steps[0].At, Deadline: d.Deadline, By: d.By}
}

func drillState(d *raft.Drill) string {
	switch {
	case d.Ended():
		return "ended"
	case d.Stopped():
		return "restoring"
	}
	return "running"
}

func (s *Server) getDrill(w http.ResponseWriter, r *http.Request) {
	d := s.drill(r.PathValue("id"))
	if d == nil {
		writeError(w, http.StatusNotFound, "no drill "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, BuildDrillReport(d))
}

func (s *Server) abortDrill(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		By string `json:"by,omitempty"`
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &req) {
		return
	}
	idx, ok := s.commit(w, r, &raft.Command{Type: raft.CmdDrill, By: req.By, Drill: &raft.DrillStep{ID: id, Step: raft.StepAborted, Detail: "aborted by the operator"}}, s.opts.Now())
	if ok {
		writeJSON(w, http.StatusOK, IndexResponse{Index: idx})
	}
}

func (s *Server) observedDrill(w http.ResponseWriter, r *http.Request) {
	var req ObservedRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Phase == "" || req.What == "" || req.Subject == "" || req.When.IsZero() {
		writeError(w, http.StatusBadRequest, "observed needs phase, what, subject and when")
		return
	}
	idx, ok := s.commit(w, r, &raft.Command{Type: raft.CmdDrill, By: req.By, Drill: &raft.DrillStep{
		ID: r.PathValue("id"), Step: raft.StepObserved, Phase: req.Phase, What: req.What, Subject: req.Subject, When: req.When, Detail: req.Detail,
	}}, s.opts.Now())
	if ok {
		writeJSON(w, http.StatusOK, IndexResponse{Index: idx})
	}
}

// DrillReport is GET /v1/drills/{id}: the drill's committed steps and
// its timeline.
type DrillReport struct {
	Drill    *raft.Drill     `json:"drill"`
	State    string          `json:"state"`
	Timeline []TimelineEntry `json:"timeline"`
	// RestoreLateMS is how long after the deadline the restore was
	// committed (nil for an aborted or running drill).
	RestoreLateMS *float64 `json:"restore_late_ms,omitempty"`
	// Answering sums up the DNS measurements per phase.
	Answering []PhaseAnswering `json:"answering,omitempty"`
}

// TimelineEntry is one step with its time measured from the start of its
// phase: the injection (the start for a live drill), or the restore.
type TimelineEntry struct {
	Step    string    `json:"step"`
	Phase   string    `json:"phase,omitempty"`
	What    string    `json:"what,omitempty"`
	Subject string    `json:"subject,omitempty"`
	At      time.Time `json:"at"`
	// SinceMS is milliseconds from the phase's origin; -1 when the
	// origin is not recorded.
	SinceMS float64 `json:"since_ms"`
	Index   uint64  `json:"index"`
	By      string  `json:"by"`
	Detail  string  `json:"detail,omitempty"`
}

// BuildDrillReport makes a drill's timeline from its steps. Times are
// those of the facts that show each stage (a consensus change, a
// generation, a sync result, a DNS answer), measured, never configured.
func BuildDrillReport(d *raft.Drill) DrillReport {
	rep := DrillReport{Drill: d, State: drillState(d), Timeline: []TimelineEntry{}}
	var inject, restore time.Time
	if len(d.Steps) > 0 {
		inject = d.Steps[0].At
	}
	if r, ok := d.Step(raft.StepInject); ok {
		inject = r.At
	}
	if r, ok := d.Step(raft.StepRestored); ok {
		restore = r.At
	} else if r, ok := d.Step(raft.StepAborted); ok {
		restore = r.At
	}
	for _, s := range d.Steps {
		e := TimelineEntry{Step: s.Step, Phase: s.Phase, What: s.What, Subject: s.Subject, At: s.At, Index: s.Index, By: s.By, Detail: s.Detail}
		if !s.When.IsZero() {
			e.At = s.When
		}
		origin := inject
		switch {
		case s.Phase == controller.PhaseRestore, s.Step == raft.StepRestored, s.Step == raft.StepAborted, s.Step == raft.StepEnded:
			origin = restore
		case s.Step == raft.StepStart, s.Step == raft.StepInject:
			// The inject step counts from the start: the time the
			// leader took to switch the failure on.
			origin = d.Steps[0].At
		}
		e.SinceMS = -1
		if !origin.IsZero() {
			e.SinceMS = float64(e.At.Sub(origin).Microseconds()) / 1000
		}
		rep.Timeline = append(rep.Timeline, e)
	}
	if r, ok := d.Step(raft.StepRestored); ok {
		late := float64(r.At.Sub(d.Deadline).Microseconds()) / 1000
		rep.RestoreLateMS = &late
	}
	for _, phase := range []string{controller.PhaseInject, controller.PhaseRestore} {
		slowest, n := -1.0, 0
		for _, e := range rep.Timeline {
			if e.Phase == phase && e.What == "answering" {
				n++
				slowest = max(slowest, e.SinceMS)
			}
		}
		if n > 0 {
			rep.Answering = append(rep.Answering, PhaseAnswering{Phase: phase, Nodes: n, SlowestMS: slowest})
		}
	}
	return rep
}

// PhaseAnswering is when the slowest node measured answered a phase's
// content.
type PhaseAnswering struct {
	Phase     string  `json:"phase"`
	Nodes     int     `json:"nodes"`
	SlowestMS float64 `json:"slowest_ms"`
}

// Markdown prints the report as a Markdown timeline.
func (rep DrillReport) Markdown() string {
	var b strings.Builder
	d := rep.Drill
	fmt.Fprintf(&b, "# Drill %s\n\n", d.ID)
	fmt.Fprintf(&b, "- scope: `%s` (%s)\n- mode: %s\n- started by: %s\n- deadline: %s\n- state: %s\n",
		d.Scope, scopeTargets(d), d.Mode, d.By, d.Deadline.UTC().Format(time.RFC3339Nano), rep.State)
	if rep.RestoreLateMS != nil {
		fmt.Fprintf(&b, "- restored %.1f ms after the deadline\n", *rep.RestoreLateMS)
	}
	for _, a := range rep.Answering {
		fmt.Fprintf(&b, "- %s: every one of %d nodes measured answered within %.1f ms\n", a.Phase, a.Nodes, a.SlowestMS)
	}
	b.WriteString("\nTimes are those of the committed facts (consensus change, generation, provider sync) and of DNS answers measured by the CLI; +ms counts from the injection (the start for a live drill; the inject step itself from the start) or from the restore.\n\n")
	b.WriteString("| step | phase | stage | subject | time (UTC) | +ms | detail |\n|---|---|---|---|---|---:|---|\n")
	for _, e := range rep.Timeline {
		since := "—"
		if e.SinceMS != -1 {
			since = fmt.Sprintf("%.1f", e.SinceMS)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", e.Step, e.Phase, e.What, e.Subject, e.At.UTC().Format("15:04:05.000"), since, e.Detail)
	}
	return b.String()
}

func scopeTargets(d *raft.Drill) string {
	if d.Provider != "" {
		return "provider " + d.Provider
	}
	return "endpoints " + strings.Join(d.Endpoints, ", ")
}
