// Package health probes endpoints and keeps this observer's verdict on each:
// up or down, with rise/fall hysteresis. It is the first step of the
// pipeline (health → raft → controller): only verdict changes leave it, and
// the controller turns them into facts in the log. It knows nothing of raft
// or the controller.
//
// # Probes
//
// A [Checker] runs one probe and judges it; [NewChecker] builds one from a
// [Target] (an endpoint and its [config.Check]):
//
//   - http, https: one request (method, path; no redirects followed, a 3xx
//     is judged like any status) whose status must be in expect_status
//     ("200-399", "200", "200,204,301-302") and whose body, if
//     body_contains is set, must contain it within its first 64 KiB. host
//     overrides the Host header and sni the TLS server name, so that an IP
//     address is checked under its site name; with host set and sni not,
//     the server name is the host. TLS certificates are verified unless
//     tls_skip_verify; ca_file adds a CA bundle to the system roots (a
//     missing or broken file fails each probe, with the reason, until it is
//     fixed: it is a node's problem, not the policy's). Each
//     checker has its own transport, with at most one kept-alive
//     connection, and ignores proxy settings from the environment.
//   - tcp: a connection can be established.
//
// Zero values in a check are read as the defaults the config package fills
// in ([DefaultInterval], [DefaultTimeout], [DefaultRecheckInterval],
// [DefaultRise], [DefaultFall], [DefaultMethod], [DefaultPath],
// [DefaultExpectStatus]). The port is the check's, else the endpoint's,
// else 80 for http and 443 for https.
//
// # Verdicts
//
// A [Monitor] probes its targets and turns results into verdicts in one
// place, for every kind of probe: a new endpoint starts up; an up endpoint
// goes down after fall consecutive failed probes, a down one comes up after
// rise consecutive successes. A result that agrees with the verdict resets
// the count. Verdict changes come out of [Monitor.Changes], batched and
// coalesced so that probing never waits for the reader.
//
// # Schedule
//
// Each endpoint's first probe comes at a random point within its interval,
// so that endpoints added together do not probe in lockstep; after that,
// probes start every interval ±10% (measured from the start of the previous
// probe, so a slow probe does not stretch the cadence; one endpoint never
// has two probes in flight). A probe that disagrees with the verdict (a
// failure while up, a success while down) switches the endpoint to
// recheck_interval until fall (or rise) results in a row confirm the
// change, or a contrary result cancels it; then it is back to the
// interval. A silent failure is therefore confirmed about interval/2 +
// (fall−1) × recheck_interval after it happens (2 s checks, fall 2,
// 100 ms re-check: 1.1 s on average). At most [Options.MaxConcurrent]
// probes run at once across all endpoints; each is bounded by the check's
// timeout.
//
// # Watched connections
//
// Unless the check says watch: false, the Monitor also keeps one idle TCP
// connection open to each endpoint's probe address (host:port; plain TCP
// even for https). It sends nothing and discards anything it receives. A
// process that crashes has its sockets closed by its kernel, so the watch
// sees a FIN or RST one round trip after the crash.
//
// A lost watch counts as one failed probe of an endpoint that is up, and
// triggers an immediate probe, whose result goes through the hysteresis
// like any other. A real crash costs one round trip to notice; with fall 2
// the immediate probe confirms it (down within a few milliseconds), and
// with a larger fall the remaining fall−2 re-checks follow at
// recheck_interval. A server that closes idle connections (a keep-alive
// timeout, a TLS handshake timeout) answers the immediate probe, which
// clears the streak: one extra probe, never a false down. With fall 1 the
// loss is not counted (it alone would decide): only the probe is.
// Likewise, when a down endpoint accepts a watch
// connection again, it is probed at once. The periodic probe always runs,
// for what a watch cannot see (a machine that loses power sends nothing).
//
// Watch reconnects back off exponentially with jitter from 100 ms up to
// the check interval; only a connection that stayed up for an interval
// resets the backoff, so a server that closes connections at once is
// dialled at most about once per interval.
//
// # Resources
//
// Per endpoint, a Monitor holds at most one watch connection and, for
// http/https, one kept-alive probe connection; a tcp probe closes its
// connection at once. So a Monitor with N endpoints holds at most about
// 2N sockets, plus, for up to one timeout after [Monitor.Update] changes or
// removes a target, those of the probe being cancelled. Everything is
// closed when [Monitor.Run] returns.
//
// # Time
//
// Scheduling reads a [Clock]: [RealClock] in production, [FakeClock] in
// tests (of this package and others), which fires timers only when the
// test advances it and lets the test wait until the code under test has
// armed its timers, so tests need no sleeps. Probe timeouts bound real I/O
// and use the wall clock.
package health
