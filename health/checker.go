package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

// Checker runs one kind of probe against one endpoint.
//
// Contract:
//
//   - Check runs exactly one probe and returns nil if the endpoint is
//     healthy, or an error that says why not. The error text is shown to
//     operators (status tables, verdict reasons, logs), so it names the
//     component, the probe and the address, e.g.
//     "health: http 127.0.0.1:8080/healthz: status 503, want 200-399".
//   - Check returns by the time ctx is done, or very soon after. The
//     [Monitor] gives every probe a context with the check's timeout; the
//     built-in checkers also apply that timeout themselves, so they are
//     safe to call directly.
//   - A Checker holds no verdict. It judges one probe; rise/fall
//     hysteresis is the [Monitor]'s, in one place for every kind of probe.
//   - The Monitor calls Check from one goroutine at a time per Checker, so a
//     Checker may keep per-endpoint state such as a kept-alive connection.
//     Built-in checkers are nevertheless safe for concurrent use.
//
// A Checker may also implement [io.Closer]; the Monitor then calls Close
// once it will make no more calls to Check (the target was removed or its
// check changed, or [Monitor.Run] returned), to release connections.
type Checker interface {
	Check(ctx context.Context) error
}

// Target is what the [Monitor] probes: one endpoint and its check.
type Target struct {
	// Endpoint is the endpoint's name, unique within a Monitor.
	Endpoint string
	// Address is an IPv4 or IPv6 address (without brackets, though
	// brackets are tolerated) or a host name, which is resolved on every
	// new connection.
	Address string
	// Port is the endpoint's port, used when Check.Port is 0.
	Port int
	// Check says how to probe. Zero values are read as the defaults (see
	// the package documentation).
	Check config.Check
	// Source is the local address probes and the watch connect from; the
	// zero value leaves the choice to the kernel. A multi-homed observer
	// sets it so that checks leave by the interface its peers expect.
	Source netip.Addr
	// StartDown makes a target the Monitor does not have yet start down
	// (rise successes bring it up) instead of up. An observer that
	// restarts sets it for the endpoints it had judged down before, so
	// that a restart never briefly vouches for a dead endpoint. It is
	// ignored for a target the Monitor already has.
	StartDown bool
}

// dialer returns a net.Dialer bound to t's source address, if any.
func (t Target) dialer() *net.Dialer {
	d := &net.Dialer{}
	if t.Source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: t.Source.AsSlice()}
	}
	return d
}

// Defaults for zero values in a [config.Check]. The config package fills
// the same values in; they are repeated here so that a hand-built Target
// behaves the same.
const (
	DefaultInterval        = 2 * time.Second
	DefaultTimeout         = 1 * time.Second
	DefaultRecheckInterval = 100 * time.Millisecond
	DefaultRise            = 2
	DefaultFall            = 2
	DefaultMethod          = "GET"
	DefaultPath            = "/"
	DefaultExpectStatus    = "200-399"
)

// bodyLimit bounds how much of a response body an HTTP probe reads.
const bodyLimit = 64 << 10

// withDefaults returns c with zero (or negative) values replaced by the
// defaults.
func withDefaults(c config.Check) config.Check {
	if c.Interval <= 0 {
		c.Interval = config.Duration(DefaultInterval)
	}
	if c.Timeout <= 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
	if c.RecheckInterval <= 0 {
		c.RecheckInterval = config.Duration(DefaultRecheckInterval)
	}
	if c.Rise <= 0 {
		c.Rise = DefaultRise
	}
	if c.Fall <= 0 {
		c.Fall = DefaultFall
	}
	if c.Type == config.CheckHTTP || c.Type == config.CheckHTTPS {
		if c.Method == "" {
			c.Method = DefaultMethod
		}
		if c.Path == "" {
			c.Path = DefaultPath
		}
		if strings.TrimSpace(c.ExpectStatus) == "" {
			c.ExpectStatus = DefaultExpectStatus
		}
	}
	return c
}

// probeAddr returns the host:port that t's probe and watch connect to,
// with an IPv6 address bracketed.
func probeAddr(t Target) (string, error) {
	host := t.Address
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return "", errors.New("no address")
	}
	if strings.Contains(host, ":") {
		// Only an IPv6 address may contain a colon; a "host:port" here is a
		// validation bug, and joining it would produce garbage.
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("address %q is neither an IP address nor a host name (a port goes in port)", t.Address)
		}
	}
	port := t.Check.Port
	if port == 0 {
		port = t.Port
	}
	if port == 0 {
		switch t.Check.Type {
		case config.CheckHTTP:
			port = 80
		case config.CheckHTTPS:
			port = 443
		default:
			return "", fmt.Errorf("%s check needs a port", t.Check.Type)
		}
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("port %d out of range 1-65535", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// checkerTypes maps a check type to the constructor of its [Checker]. The
// constructors get a Target with defaults already filled in.
var checkerTypes = map[string]func(Target, string) (Checker, error){
	config.CheckHTTP:  newHTTPChecker,
	config.CheckHTTPS: newHTTPChecker,
	config.CheckTCP:   newTCPChecker,
}

// NewChecker builds the [Checker] for t's check type (http, https or tcp).
// It validates everything it can up front and returns an error for a
// target that could never be probed: the config package should have
// rejected such a target, so an error here is a validation bug. A missing
// or unreadable ca_file is not one (the file is local to each node, the
// policy is not): the checker is built, and each probe fails saying what is
// wrong with the file until it is fixed.
func NewChecker(t Target) (Checker, error) {
	t.Check = withDefaults(t.Check)
	c, err := buildChecker(t)
	if err != nil {
		return nil, fmt.Errorf("health: endpoint %q: %w", t.Endpoint, err)
	}
	return c, nil
}

// buildChecker is [NewChecker] for a target with defaults filled in, with
// errors that do not name the package and endpoint yet.
func buildChecker(t Target) (Checker, error) {
	ctor, ok := checkerTypes[t.Check.Type]
	if !ok {
		return nil, fmt.Errorf("unknown check type %q (want http, https or tcp)", t.Check.Type)
	}
	addr, err := probeAddr(t)
	if err != nil {
		return nil, err
	}
	return ctor(t, addr)
}

// tcpChecker is healthy when a TCP connection can be established.
type tcpChecker struct {
	addr    string
	timeout time.Duration
	dialer  *net.Dialer
}

func newTCPChecker(t Target, addr string) (Checker, error) {
	return &tcpChecker{addr: addr, timeout: t.Check.Timeout.D(), dialer: t.dialer()}, nil
}

// Check connects to the endpoint and closes the connection at once.
func (c *tcpChecker) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("health: tcp %s: %w", c.addr, err)
	}
	conn.Close()
	return nil
}
