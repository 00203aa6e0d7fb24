package health

import (
	"context"
	"net"
	"time"
)

// Watch reconnect timing.
const (
	// watchMinBackoff is the first reconnect delay after a watch connection
	// is lost or cannot be made.
	watchMinBackoff = 100 * time.Millisecond
	// watchReadBuf is the buffer for bytes a peer sends on a watch
	// connection; they are discarded.
	watchReadBuf = 512
)

// watcher keeps one idle TCP connection open to an endpoint and reports when
// the peer closes or resets it: a process that crashes or restarts has its
// sockets closed by the kernel, which the watcher sees within one round
// trip, long before the next periodic probe. The watcher sends nothing and
// expects nothing; bytes the peer sends are read and dropped.
//
// It never judges health. A lost connection only means "probe now": a
// server that closes idle connections after a keep-alive timeout looks
// exactly like a crash from here, and the probe tells them apart.
//
// At most one connection is open at a time. Reconnects back off
// exponentially from [watchMinBackoff] up to backoff.max, with jitter; the
// backoff is reset only by a connection that stayed up for at least
// stable, so a server that accepts and closes at once is dialled at most
// once per backoff.max, not in a tight loop.
type watcher struct {
	addr        string
	dialer      *net.Dialer // bound to the target's source address, if any
	clock       Clock
	dialTimeout time.Duration
	stable      time.Duration
	backoff     backoff
	// connected is called when a connection is established, lost when an
	// established connection is closed or reset by the peer (not when ctx
	// ends). Both are called from the watcher's goroutine.
	connected func()
	lost      func()
}

// run watches until ctx is done. Its connection is closed when it returns.
func (w *watcher) run(ctx context.Context) {
	for {
		conn, err := w.dial(ctx)
		if err != nil {
			if ctx.Err() != nil || !w.wait(ctx, w.backoff.next()) {
				return
			}
			continue
		}
		since := w.clock.Now()
		w.connected()
		w.hold(ctx, conn)
		if ctx.Err() != nil {
			return
		}
		w.lost()
		if w.clock.Now().Sub(since) >= w.stable {
			w.backoff.reset()
		}
		if !w.wait(ctx, w.backoff.next()) {
			return
		}
	}
}

func (w *watcher) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, w.dialTimeout)
	defer cancel()
	d := w.dialer
	if d == nil {
		d = &net.Dialer{}
	}
	return d.DialContext(ctx, "tcp", w.addr)
}

// hold blocks reading conn until the peer closes or resets it, or ctx is
// done, and closes it.
func (w *watcher) hold(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	// Closing the connection is what unblocks the Read when ctx ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, watchReadBuf)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// wait waits d on the watcher's clock; false means ctx ended first.
func (w *watcher) wait(ctx context.Context, d time.Duration) bool {
	t := w.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// backoff is an exponential delay with "equal jitter": the n-th delay is
// drawn uniformly from [d/2, d] where d = min(min·2ⁿ, max).
type backoff struct {
	min, max time.Duration
	cur      time.Duration // the d of the next delay
	// randN returns a uniform random number in [0, n); n > 0.
	randN func(n int64) int64
}

func newBackoff(lo, hi time.Duration, randN func(int64) int64) backoff {
	lo = min(lo, hi)
	return backoff{min: lo, max: hi, cur: lo, randN: randN}
}

// next returns the next delay and doubles the one after, up to max.
func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	half := d / 2
	return d - half + time.Duration(b.randN(int64(half)+1))
}

// reset starts the sequence again from min.
func (b *backoff) reset() { b.cur = b.min }
