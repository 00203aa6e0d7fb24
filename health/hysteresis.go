package health

// hysteresis turns a stream of probe results into a verdict with rise/fall
// counting. It is the only place in the package where results become
// verdicts, whatever the kind of probe (consul's StatusHandler, caddy's
// Passes/Fails).
//
// Decision table, for each result:
//
//	verdict  result   streak            verdict after
//	up       success  reset to 0        up
//	up       failure  +1                down if streak reaches fall (streak reset)
//	down     failure  reset to 0        down
//	down     success  +1                up if streak reaches rise (streak reset)
//
// A new endpoint starts up with a streak of 0. A value is not safe for
// concurrent use; the [Monitor] guards it.
type hysteresis struct {
	rise, fall int
	up         bool
	// streak counts the latest consecutive results that disagree with up.
	streak int
}

func newHysteresis(rise, fall int) hysteresis {
	return hysteresis{rise: max(rise, 1), fall: max(fall, 1), up: true}
}

// observe records one probe result and reports whether the verdict changed.
func (h *hysteresis) observe(ok bool) (changed bool) {
	if ok == h.up {
		h.streak = 0
		return false
	}
	h.streak++
	need := h.fall
	if !h.up {
		need = h.rise
	}
	if h.streak < need {
		return false
	}
	h.up = ok
	h.streak = 0
	return true
}

// unsettled reports whether the latest results disagree with the verdict,
// that is whether a change is in progress and a quick re-check is due.
func (h *hysteresis) unsettled() bool { return h.streak > 0 }
