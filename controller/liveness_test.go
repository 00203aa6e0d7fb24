package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/raft"
)

func TestLiveness(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const timeout = 10 * time.Second
	obs := func(alive bool) *raft.Observer { return &raft.Observer{ID: "x", Alive: alive} }
	tests := []struct {
		name        string
		alive       bool
		member      bool
		contact     *raft.PeerContact
		leaderSince time.Time
		now         time.Time
		want        []raft.ObserverChange
	}{
		{"alive, in contact", true, true, nil, t0, t0.Add(time.Minute), nil},
		{"alive, failing but not long enough", true, true, &raft.PeerContact{Failing: true, Since: t0}, t0, t0.Add(timeout), nil},
		{"alive, failing past the timeout", true, true, &raft.PeerContact{Failing: true, Since: t0}, t0, t0.Add(timeout + time.Millisecond), []raft.ObserverChange{{ID: "x", Alive: false}}},
		{"alive, failing, not a member", true, false, &raft.PeerContact{Failing: true, Since: t0}, t0, t0.Add(time.Hour), nil},
		{"dead, resumed recently", false, true, &raft.PeerContact{Since: t0}, t0, t0.Add(timeout), nil},
		{"dead, resumed past the timeout", false, true, &raft.PeerContact{Since: t0}, t0, t0.Add(timeout + time.Millisecond), []raft.ObserverChange{{ID: "x", Alive: true}}},
		{"dead, still failing", false, true, &raft.PeerContact{Failing: true, Since: t0}, t0, t0.Add(time.Hour), nil},
		{"dead, no trouble, new leader", false, true, nil, t0, t0.Add(timeout), nil},
		{"dead, no trouble, leader past the timeout", false, true, nil, t0, t0.Add(timeout + time.Millisecond), []raft.ObserverChange{{ID: "x", Alive: true}}},
		{"dead, no trouble, not a member", false, false, nil, t0, t0.Add(time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := LivenessInput{
				Self:        "leader",
				Observers:   map[string]*raft.Observer{"x": obs(tc.alive), "leader": {ID: "leader", Alive: true}},
				Members:     map[string]bool{"leader": true},
				Contacts:    map[string]raft.PeerContact{},
				LeaderSince: tc.leaderSince,
				Now:         tc.now,
				Timeout:     timeout,
			}
			if tc.member {
				in.Members["x"] = true
			}
			if tc.contact != nil {
				in.Contacts["x"] = *tc.contact
			}
			if got := Liveness(in); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("the leader revives its own dead entry", func(t *testing.T) {
		in := LivenessInput{Self: "leader", Observers: map[string]*raft.Observer{"leader": {ID: "leader"}}, Now: t0, Timeout: timeout}
		want := []raft.ObserverChange{{ID: "leader", Alive: true}}
		if got := Liveness(in); !slices.Equal(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}
