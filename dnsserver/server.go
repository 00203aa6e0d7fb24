package dnsserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/switchboard-dns/switchboard/zone"
)

// DefaultUDPSize is the EDNS buffer size we advertise and the largest UDP
// reply we send when [Options.UDPSize] is zero: 1232 bytes avoids IP
// fragmentation on every common path (DNS Flag Day 2020).
const DefaultUDPSize = 1232

// MaxCNAMEChain bounds the CNAME records followed within a zone for one
// answer.
const MaxCNAMEChain = 8

// MaxXFRRecords bounds the records in one message of a zone transfer.
const MaxXFRRecords = 100

const (
	// readBufferSize is the UDP read buffer: queries are small, and a
	// query cut by it does not unpack and gets FORMERR.
	readBufferSize = 4096
	// tcpWriteTimeout bounds each write on a TCP connection, so that a
	// client that stops reading a transfer cannot hold a goroutine.
	tcpWriteTimeout = 10 * time.Second
	// maxTCPConns bounds the open TCP connections; more are closed on
	// accept.
	maxTCPConns = 1024
	// listenAttempts bounds the retries of Start when the port picked for
	// UDP is taken for TCP.
	listenAttempts = 16
	// shutdownGrace bounds the shutdown triggered by Start's context.
	shutdownGrace = 5 * time.Second
)

// ErrStaleGeneration is returned by [Server.Load] when a zone's
// generation is older than the one already loaded for its origin: the
// server never goes back in time, whatever order concurrent callers run
// in.
var ErrStaleGeneration = errors.New("dnsserver: stale generation")

// ErrBadZone is returned (wrapped, with the reason) by [Server.Load] when
// a zone's content cannot be served.
var ErrBadZone = errors.New("dnsserver: bad zone")

// Options configures a [Server]. The zero value is usable: no transfers,
// no TSIG, a 1232-byte EDNS buffer, the default logger.
type Options struct {
	// Logger receives the server's logs, with a component attribute added;
	// nil means [slog.Default].
	Logger *slog.Logger
	// UDPSize is our EDNS buffer size, advertised in replies and the cap
	// on UDP replies to EDNS clients; 0 means [DefaultUDPSize]. At least
	// 512.
	UDPSize uint16
	// Rand returns uniformly random numbers for the weighted pick of
	// [zone.Pick] rules. It is called concurrently from many queries and
	// must be safe for that; nil means math/rand/v2's Uint64.
	Rand func() uint64
	// AXFRAllow lists the client prefixes that may transfer zones (AXFR
	// and IXFR). Empty means nobody may.
	AXFRAllow []netip.Prefix
	// TSIG maps key names to base64 secrets. A signed request must verify
	// with one of them and gets a signed reply; when any key is
	// configured, zone transfers must be signed.
	TSIG map[string]string
}

// Validate reports whether the options can be used. [New] accepts any
// options; [Server.Start] refuses invalid ones with this error.
func (o Options) Validate() error {
	if o.UDPSize != 0 && o.UDPSize < dns.MinMsgSize {
		return fmt.Errorf("dnsserver: udp size %d below %d", o.UDPSize, dns.MinMsgSize)
	}
	for _, p := range o.AXFRAllow {
		if !p.IsValid() {
			return fmt.Errorf("dnsserver: invalid axfr prefix %v", p)
		}
	}
	for name, secret := range o.TSIG {
		if _, ok := dns.IsDomainName(name); !ok || name == "" {
			return fmt.Errorf("dnsserver: tsig key name %q is not a domain name", name)
		}
		// The secret itself is never printed (DESIGN invariant 8).
		b, err := base64.StdEncoding.DecodeString(secret)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("dnsserver: tsig key %q: secret is not base64", name)
		}
	}
	return nil
}

// Server is the embedded authoritative DNS server. Create it with [New],
// give it zones with [Server.Load] (at any time, from any goroutine), and
// serve with [Server.Start] or by calling [Server.ServeDNS] from a
// miekg/dns server of your own.
type Server struct {
	log       *slog.Logger
	udpSize   uint16
	rand      func() uint64
	axfrAllow []netip.Prefix
	tsig      map[string]string // canonical key name -> secret
	optsErr   error

	snap   atomic.Pointer[snapshot]
	loadMu sync.Mutex // serialises Load, so the generation check holds

	bufs    sync.Pool // *[]byte pack buffers
	replies sync.Pool // *reply

	mu      sync.Mutex // guards the fields below
	running *running
}

// running is one Start..Shutdown cycle.
type running struct {
	udp, tcp *dns.Server
	stop     chan struct{} // closed by Shutdown: ends transfers and the ctx watcher
	served   chan struct{} // closed when both serve goroutines have returned
}

// New returns a server with no zones: until [Server.Load] it answers
// REFUSED to every query.
func New(opts Options) *Server {
	s := &Server{
		log:       opts.Logger,
		udpSize:   opts.UDPSize,
		rand:      opts.Rand,
		axfrAllow: append([]netip.Prefix(nil), opts.AXFRAllow...),
		optsErr:   opts.Validate(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "dnsserver")
	if s.udpSize == 0 {
		s.udpSize = DefaultUDPSize
	}
	if s.udpSize < dns.MinMsgSize {
		s.udpSize = dns.MinMsgSize
	}
	if s.rand == nil {
		s.rand = rand.Uint64
	}
	if len(opts.TSIG) > 0 {
		s.tsig = make(map[string]string, len(opts.TSIG))
		for name, secret := range opts.TSIG {
			s.tsig[dns.CanonicalName(name)] = secret
		}
	}
	for i, p := range s.axfrAllow {
		s.axfrAllow[i] = p.Masked()
	}
	s.bufs.New = func() any {
		b := make([]byte, dns.MaxMsgSize)
		return &b
	}
	s.replies.New = func() any { return new(reply) }
	s.snap.Store(&snapshot{})
	return s
}

// Load compiles zones into a new snapshot and swaps it in atomically;
// queries in flight finish on the snapshot they started with. The zones
// replace everything loaded before: a zone left out is no longer served.
//
// Load fails, keeping the old snapshot, when a zone cannot be served (see
// [ErrBadZone]: records outside the origin, a CNAME beside other data,
// DNAME, wildcard NS, unparsable rdata, two zones with one origin) or
// when a zone's generation is older than the loaded one
// ([ErrStaleGeneration]). Records unchanged since the previous snapshot
// are reused rather than parsed again, so reloading a large zone after a
// small change is cheap.
func (s *Server) Load(zones []*zone.Zone) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	old := s.snap.Load()
	next, err := compile(zones, old)
	if err != nil {
		return err
	}
	s.snap.Store(next)
	return nil
}

// Serial returns the SOA serial of the loaded zone with the given origin,
// and whether such a zone is loaded.
func (s *Server) Serial(origin string) (uint32, bool) {
	z, ok := s.snap.Load().zones[dns.CanonicalName(origin)]
	if !ok {
		return 0, false
	}
	return z.serial, true
}

// Start listens on addr over UDP and TCP, on the same port (for port 0,
// the port picked for UDP is then bound for TCP, retrying if TCP finds it
// taken), and serves until ctx is done or [Server.Shutdown] is called. It
// returns once both listeners are serving.
func (s *Server) Start(ctx context.Context, addr string) (udp, tcp net.Addr, err error) {
	if s.optsErr != nil {
		return nil, nil, s.optsErr
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("dnsserver: start: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != nil {
		return nil, nil, errors.New("dnsserver: start: already running")
	}
	pc, ln, err := listenPair(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	r := &running{stop: make(chan struct{}), served: make(chan struct{})}
	ready := make(chan struct{}, 2)
	notify := func() { ready <- struct{}{} }
	var tsig map[string]string
	if len(s.tsig) > 0 {
		tsig = s.tsig
	}
	r.udp = &dns.Server{
		PacketConn:        pc,
		Handler:           s,
		UDPSize:           readBufferSize,
		MsgAcceptFunc:     acceptMsg,
		TsigSecret:        tsig,
		NotifyStartedFunc: notify,
	}
	r.tcp = &dns.Server{
		Listener:          &limitListener{Listener: ln, sem: make(chan struct{}, maxTCPConns)},
		Handler:           s,
		MsgAcceptFunc:     acceptMsg,
		TsigSecret:        tsig,
		NotifyStartedFunc: notify,
	}
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for _, srv := range []*dns.Server{r.udp, r.tcp} {
		wg.Go(func() { errs <- srv.ActivateAndServe() })
	}
	go func() { wg.Wait(); close(r.served) }()

	for started := 0; started < 2; {
		select {
		case <-ready:
			started++
		case err := <-errs:
			// A server failed before it was ready: stop the other one.
			pc.Close()
			ln.Close()
			<-r.served
			return nil, nil, fmt.Errorf("dnsserver: serve: %w", err)
		case <-ctx.Done():
			// Both may not be started yet; closing the sockets ends them.
			pc.Close()
			ln.Close()
			<-r.served
			return nil, nil, fmt.Errorf("dnsserver: start: %w", ctx.Err())
		}
	}
	s.running = r
	go func() {
		for {
			select {
			case err := <-errs:
				if err != nil {
					s.log.Error("serve stopped", "err", err)
				}
			case <-r.served:
				return
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
				if err := s.shutdown(sctx, r); err != nil {
					s.log.Warn("shutdown", "err", err)
				}
				cancel()
				return
			case <-r.stop:
				return
			}
		}
	}()
	s.log.Info("serving", "udp", pc.LocalAddr().String(), "tcp", ln.Addr().String())
	return pc.LocalAddr(), ln.Addr(), nil
}

// Shutdown stops the listeners started by [Server.Start] and waits, until
// ctx is done, for the queries and transfers in flight to finish. It
// returns nil when the server is not running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	r := s.running
	s.mu.Unlock()
	return s.shutdown(ctx, r)
}

// shutdown stops r if it is still the running server: the watcher of an
// earlier Start's context must not stop a later one.
func (s *Server) shutdown(ctx context.Context, r *running) error {
	s.mu.Lock()
	if r == nil || s.running != r {
		s.mu.Unlock()
		return nil
	}
	s.running = nil
	s.mu.Unlock()
	close(r.stop)
	var errs []error
	for _, srv := range []*dns.Server{r.udp, r.tcp} {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	select {
	case <-r.served:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dnsserver: shutdown: %w", err)
	}
	return nil
}

// stopping returns a channel closed when the running server shuts down,
// or nil (never ready) when the handler runs outside Start.
func (s *Server) stopping() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == nil {
		return nil
	}
	return s.running.stop
}

// listenPair binds UDP and TCP on the same address and port.
func listenPair(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dnsserver: listen %q: %w", addr, err)
	}
	var lc net.ListenConfig
	for attempt := 1; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsserver: listen udp %s: %w", addr, err)
		}
		ua := pc.LocalAddr().(*net.UDPAddr)
		tcpHost := host
		if host != "" {
			tcpHost = ua.IP.String()
		}
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(tcpHost, strconv.Itoa(ua.Port)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || attempt == listenAttempts {
			return nil, nil, fmt.Errorf("dnsserver: listen tcp %s: %w", addr, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("dnsserver: listen %s: %w", addr, err)
		}
	}
}

// limitListener closes connections beyond its capacity on accept and sets
// a write deadline before every write on the ones it keeps.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &deadlineConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			c.Close()
		}
	}
}

type deadlineConn struct {
	net.Conn
	release func()
	closed  atomic.Bool
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(tcpWriteTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *deadlineConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.release()
	}
	return c.Conn.Close()
}

// acceptMsg replaces [dns.DefaultMsgAcceptFunc]. The default accepts
// NOTIFY (which we do not implement), an answer record in a query and
// nothing else we need; here: responses are dropped silently (answering
// them invites reflection loops), other opcodes get NOTIMP, and the
// section counts of anything but a query get FORMERR before the packet is
// unpacked.
func acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	switch {
	case dh.Qdcount != 1, dh.Ancount != 0, dh.Nscount > 1, dh.Arcount > 2:
		return dns.MsgReject
	}
	return dns.MsgAccept
}
