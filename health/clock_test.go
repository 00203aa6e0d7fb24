package health

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// fired reports the time a timer delivered, if it has.
func fired(tm Timer) (time.Time, bool) {
	select {
	case at := <-tm.C():
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestFakeClock(t *testing.T) {
	clk := NewFakeClock(epoch)
	a := clk.NewTimer(3 * time.Second)
	b := clk.NewTimer(time.Second)
	c := clk.NewTimer(2 * time.Second)
	if got, want := clk.Pending(), []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("got pending %v, want %v", got, want)
	}

	clk.Advance(1500 * time.Millisecond)
	if at, ok := fired(b); !ok || !at.Equal(epoch.Add(time.Second)) {
		t.Errorf("b: got fired=%v at %v, want fired at %v", ok, at, epoch.Add(time.Second))
	}
	if _, ok := fired(c); ok {
		t.Errorf("c: fired before its deadline")
	}
	if got := clk.Now(); !got.Equal(epoch.Add(1500 * time.Millisecond)) {
		t.Errorf("got now %v, want %v", got, epoch.Add(1500*time.Millisecond))
	}
	if got, want := clk.Pending(), []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("got pending %v, want %v", got, want)
	}

	if !c.Stop() {
		t.Errorf("c.Stop: got false, want true (it was pending)")
	}
	if c.Stop() {
		t.Errorf("second c.Stop: got true, want false")
	}
	if b.Stop() {
		t.Errorf("b.Stop after firing: got true, want false")
	}
	if a.Reset(time.Second) != true {
		t.Errorf("a.Reset: got false, want true (it was pending)")
	}
	clk.Advance(10 * time.Second)
	if _, ok := fired(c); ok {
		t.Errorf("c fired after Stop")
	}
	if at, ok := fired(a); !ok || !at.Equal(epoch.Add(2500*time.Millisecond)) {
		t.Errorf("a: got fired=%v at %v, want fired at %v (reset)", ok, at, epoch.Add(2500*time.Millisecond))
	}
	if got := clk.Pending(); len(got) != 0 {
		t.Errorf("got pending %v, want none", got)
	}

	// A timer that fired but was not received is drained by Reset.
	d := clk.NewTimer(time.Second)
	clk.Advance(time.Second)
	d.Reset(time.Second)
	if _, ok := fired(d); ok {
		t.Errorf("d: stale value after Reset")
	}
	clk.Advance(time.Second)
	if _, ok := fired(d); !ok {
		t.Errorf("d: did not fire after Reset")
	}

	// A non-positive duration fires at once and is never pending.
	if _, ok := fired(clk.NewTimer(0)); !ok {
		t.Errorf("NewTimer(0) did not fire at once")
	}
}

func TestFakeClockBlockUntil(t *testing.T) {
	clk := NewFakeClock(epoch)
	armed := make(chan Timer)
	go func() {
		tm := clk.NewTimer(time.Minute)
		armed <- tm
	}()
	if err := clk.BlockUntil(waitCtx(t), 1); err != nil {
		t.Fatalf("BlockUntil(1): %v", err)
	}
	tm := recv(t, armed, "the timer")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := clk.BlockUntil(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("BlockUntil(2) with one timer: got %v, want a deadline error", err)
	}
	tm.Stop()
	if got := clk.Pending(); len(got) != 0 {
		t.Errorf("got pending %v after Stop, want none", got)
	}
}

func TestRealClock(t *testing.T) {
	var clk Clock = RealClock{}
	before := time.Now()
	tm := clk.NewTimer(time.Millisecond)
	at := recv(t, tm.C(), "a real timer")
	if at.Before(before) || clk.Now().Before(at) {
		t.Errorf("got fired at %v, want between %v and now", at, before)
	}
	if tm.Stop() {
		t.Errorf("Stop after firing: got true, want false")
	}
}
