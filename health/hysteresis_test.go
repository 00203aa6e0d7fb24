package health

import "testing"

func TestHysteresis(t *testing.T) {
	// results: + success, - failure. up: the verdict after each result;
	// streak: the streak after each result.
	tests := []struct {
		name       string
		rise, fall int
		results    string
		up         string
		streak     string
	}{
		{"starts up, stays up", 2, 2, "+++", "UUU", "000"},
		{"fall 2", 2, 2, "--", "UD", "10"},
		{"a success clears the failures", 2, 2, "-+-+", "UUUU", "1010"},
		{"rise 2", 2, 2, "--++", "UDDU", "1010"},
		{"a failure clears the successes", 2, 2, "--+-+-++", "UDDDDDDU", "10101010"},
		{"fall 1 rise 1", 1, 1, "-+-", "DUD", "000"},
		{"fall 3", 1, 3, "--+---", "UUUUUD", "120120"},
		{"rise 3", 3, 1, "-++-+++", "DDDDDDU", "0120120"},
		{"zero counts read as 1", 0, 0, "-+", "DU", "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHysteresis(tt.rise, tt.fall)
			if !h.up || h.unsettled() {
				t.Fatalf("new: got up=%v unsettled=%v, want up and settled", h.up, h.unsettled())
			}
			wasUp := true
			for i, r := range tt.results {
				changed := h.observe(r == '+')
				wantUp := tt.up[i] == 'U'
				if h.up != wantUp {
					t.Errorf("result %d (%c): got up=%v, want %v", i+1, r, h.up, wantUp)
				}
				if changed != (wantUp != wasUp) {
					t.Errorf("result %d (%c): got changed=%v, want %v", i+1, r, changed, wantUp != wasUp)
				}
				if want := int(tt.streak[i] - '0'); h.streak != want || h.unsettled() != (want > 0) {
					t.Errorf("result %d (%c): got streak %d unsettled=%v, want %d", i+1, r, h.streak, h.unsettled(), want)
				}
				wasUp = h.up
			}
		})
	}
}
