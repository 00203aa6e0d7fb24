package controller

import (
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/raft"
)

func TestQuorumNeed(t *testing.T) {
	cases := []struct {
		quorum string
		live   int
		want   int
	}{
		{"majority", 1, 1}, {"majority", 2, 2}, {"majority", 3, 2}, {"majority", 4, 3}, {"majority", 5, 3},
		{"any", 5, 1}, {"all", 3, 3}, {"all", 0, 1}, {"2", 5, 2}, {"4", 3, 4},
	}
	for _, tc := range cases {
		q, err := ParseQuorum(tc.quorum)
		if err != nil {
			t.Fatalf("ParseQuorum(%q): %v", tc.quorum, err)
		}
		if got := q.Need(tc.live); got != tc.want {
			t.Errorf("Need(%s, live %d): got %d, want %d", tc.quorum, tc.live, got, tc.want)
		}
	}
	for _, bad := range []string{"0", "-1", "most", "1.5"} {
		if _, err := ParseQuorum(bad); err == nil {
			t.Errorf("ParseQuorum(%q): got nil error, want one", bad)
		}
	}
}

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	alive := func(ids ...string) map[string]*raft.Observer {
		m := map[string]*raft.Observer{}
		for _, id := range ids {
			m[id] = &raft.Observer{ID: id, Alive: true}
		}
		return m
	}
	withDead := func(m map[string]*raft.Observer, ids ...string) map[string]*raft.Observer {
		for _, id := range ids {
			m[id] = &raft.Observer{ID: id, Alive: false}
		}
		return m
	}
	down := func(ids ...string) map[string]raft.Vote {
		m := map[string]raft.Vote{}
		for _, id := range ids {
			m[id] = raft.Vote{Up: false, At: t0, Reason: "refused"}
		}
		return m
	}
	cases := []struct {
		name      string
		quorum    string
		observers map[string]*raft.Observer
		votes     map[string]raft.Vote
		override  *raft.Override
		wantUp    bool
		wantDown  int
		wantLive  int
		wantNeed  int
	}{
		{"no votes, up", "majority", alive("a", "b", "c"), nil, nil, true, 0, 3, 2},
		{"one of three down: one observer cannot fail the world", "majority", alive("a", "b", "c"), down("a"), nil, true, 1, 3, 2},
		{"two of three down", "majority", alive("a", "b", "c"), down("a", "b"), nil, false, 2, 3, 2},
		{"dead observer's down vote does not count", "majority", withDead(alive("a", "b"), "c"), down("a", "c"), nil, true, 1, 2, 2},
		{"two live of three, both down", "majority", withDead(alive("a", "b"), "c"), down("a", "b"), nil, false, 2, 2, 2},
		{"any: one down suffices", "any", alive("a", "b", "c"), down("c"), nil, false, 1, 3, 1},
		{"all: two of three is not enough", "all", alive("a", "b", "c"), down("a", "b"), nil, true, 2, 3, 3},
		{"number larger than live observers never reached", "3", withDead(alive("a", "b"), "c"), down("a", "b", "c"), nil, true, 2, 2, 3},
		{"single node", "majority", alive("n1"), down("n1"), nil, false, 1, 1, 1},
		{"no live observers: up", "majority", withDead(map[string]*raft.Observer{}, "a"), down("a"), nil, true, 0, 0, 1},
		{"vote from an unknown observer is ignored", "majority", alive("a"), down("ghost"), nil, true, 0, 1, 1},
		{"override down beats healthy votes", "majority", alive("a", "b", "c"), nil, &raft.Override{State: raft.OverrideDown}, false, 0, 3, 2},
		{"override up beats down votes", "majority", alive("a", "b", "c"), down("a", "b", "c"), &raft.Override{State: raft.OverrideUp}, true, 3, 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuorum(tc.quorum)
			if err != nil {
				t.Fatal(err)
			}
			d := Decide("ep", tc.observers, tc.votes, tc.override, q)
			if d.Up != tc.wantUp || d.Down != tc.wantDown || d.Live != tc.wantLive || d.Need != tc.wantNeed {
				t.Errorf("got up=%v down=%d live=%d need=%d, want up=%v down=%d live=%d need=%d",
					d.Up, d.Down, d.Live, d.Need, tc.wantUp, tc.wantDown, tc.wantLive, tc.wantNeed)
			}
			// The votes behind the decision are kept, sorted, with
			// what each observer said.
			for i := 1; i < len(d.Votes); i++ {
				if d.Votes[i-1].Observer >= d.Votes[i].Observer {
					t.Errorf("votes not sorted: %v", d.Votes)
				}
			}
			for _, v := range d.Votes {
				if vote, ok := tc.votes[v.Observer]; ok && (v.Up != vote.Up || v.NoVote || !v.At.Equal(vote.At)) {
					t.Errorf("vote of %s: got %+v, want %+v", v.Observer, v, vote)
				}
			}
		})
	}
}
