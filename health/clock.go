package health

import "time"

// Clock is the source of time for the [Monitor]: the current time and
// timers. Everything in this package that decides *when* something happens
// (probe schedule, re-checks, watch reconnect backoff) goes through a Clock,
// so tests can drive it with a [FakeClock] instead of waiting.
//
// Probe deadlines are the exception: a probe's timeout bounds real network
// I/O, so it is a [context.WithTimeout] on the wall clock.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once,
	// after at least d. A d <= 0 fires at once.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a [Clock]. It follows the semantics of
// [time.Timer] since Go 1.23: after Stop or Reset returns, no value from the
// earlier schedule is received from C.
type Timer interface {
	// C returns the channel on which the timer delivers its time.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer, false if it had already fired or been stopped.
	Stop() bool
	// Reset changes the timer to fire after d. It reports whether the timer
	// had been active.
	Reset(d time.Duration) bool
}

// RealClock is the [Clock] of the operating system, backed by package time.
// Its zero value is ready to use.
type RealClock struct{}

var _ Clock = RealClock{}

// Now returns [time.Now].
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a [Timer] backed by [time.NewTimer].
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }
