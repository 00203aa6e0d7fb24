package health

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// FakeClock is a [Clock] for tests: time stands still until the test calls
// [FakeClock.Advance], and timers fire then, in order of their deadlines. It
// lives in this (non-test) file so that tests of other packages, the
// controller's in particular, can drive a [Monitor] with it too.
//
// A test that drives a component through a FakeClock typically loops:
//
//	clk.BlockUntil(ctx, 1)     // the component has armed its timer
//	d := clk.Pending()[0]      // assert what it asked for, if useful
//	clk.Advance(d)             // fire it; the component reacts
//
// BlockUntil is what makes this deterministic without sleeping: a timer that
// fires is removed from the pending set inside Advance, so waiting for the
// pending count to come back up waits exactly until the component has
// reacted and armed its next timer.
//
// A FakeClock fakes time only: a [Monitor] on one still does real I/O, so
// its tests either give it fake checkers ([Options.NewChecker]) and turn
// the watch off (watch: false), or point it at real loopback servers.
//
// The zero value is not usable; create one with [NewFakeClock]. All methods
// are safe for concurrent use.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer
	// changed is closed and replaced whenever the pending set changes;
	// BlockUntil waits on it.
	changed chan struct{}
}

var _ Clock = (*FakeClock)(nil)

// NewFakeClock returns a FakeClock that reads start until advanced.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, changed: make(chan struct{})}
}

// Now returns the fake current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock has been advanced by
// at least d. A d <= 0 fires at once, without being counted as pending.
func (c *FakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scheduleLocked(t, d)
	return t
}

// Advance moves the clock forward by d and fires, in deadline order, every
// timer whose deadline falls within it. Each fired timer receives its own
// deadline as the time. Timers armed by the components in reaction are not
// fired by this call even if they would be due: advance again for those.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.now.Add(d)
	fired := false
	for {
		i := -1
		for j, t := range c.pending {
			if !t.when.After(end) && (i < 0 || t.when.Before(c.pending[i].when)) {
				i = j
			}
		}
		if i < 0 {
			break
		}
		t := c.pending[i]
		c.pending = slices.Delete(c.pending, i, i+1)
		if t.when.After(c.now) {
			c.now = t.when
		}
		t.fireLocked(t.when)
		fired = true
	}
	c.now = end
	if fired {
		c.broadcastLocked()
	}
}

// Pending returns, shortest first, how long from now each pending timer has
// left before it fires. Right after a component arms a timer this is the
// duration it asked for.
func (c *FakeClock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, 0, len(c.pending))
	for _, t := range c.pending {
		out = append(out, t.when.Sub(c.now))
	}
	slices.Sort(out)
	return out
}

// BlockUntil waits until at least n timers are pending, or ctx is done.
func (c *FakeClock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		have, changed := len(c.pending), c.changed
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("health: fake clock: waiting for %d pending timers, have %d: %w", n, have, ctx.Err())
		}
	}
}

func (c *FakeClock) scheduleLocked(t *fakeTimer, d time.Duration) {
	if d <= 0 {
		t.fireLocked(c.now)
		return
	}
	t.when = c.now.Add(d)
	c.pending = append(c.pending, t)
	c.broadcastLocked()
}

// removeLocked takes t out of the pending set and reports whether it was
// there.
func (c *FakeClock) removeLocked(t *fakeTimer) bool {
	i := slices.Index(c.pending, t)
	if i < 0 {
		return false
	}
	c.pending = slices.Delete(c.pending, i, i+1)
	c.broadcastLocked()
	return true
}

func (c *FakeClock) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type fakeTimer struct {
	c    *FakeClock
	ch   chan time.Time // capacity 1
	when time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// fireLocked delivers now unless an undelivered value is already waiting
// (a one-shot timer delivers at most one value per schedule).
func (t *fakeTimer) fireLocked(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drainLocked()
	return t.c.removeLocked(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drainLocked()
	was := t.c.removeLocked(t)
	t.c.scheduleLocked(t, d)
	return was
}

// drainLocked drops a fired but unreceived value, as time.Timer does since
// Go 1.23 on Stop and Reset.
func (t *fakeTimer) drainLocked() {
	select {
	case <-t.ch:
	default:
	}
}
