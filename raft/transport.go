package raft

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Every connection to a node's Raft address starts with one byte that says
// what it carries, so that Raft and forwarded writes share one listener,
// one port and one TLS configuration.
const (
	connRaft    byte = 'R'
	connForward byte = 'F'
)

// handshakeTimeout bounds the TLS handshake and the type byte, so that a
// silent client cannot hold an accept slot.
const handshakeTimeout = 5 * time.Second

// mux accepts connections on the node's Raft listener, completes the TLS
// handshake when TLS is on, and hands each connection to Raft or to the
// forwarding server by its first byte.
type mux struct {
	ln        net.Listener
	tls       *tls.Config // nil: plain TCP (insecure: true)
	advertise net.Addr
	source    netip.Addr // local address of outgoing connections, if set
	log       *slog.Logger
	// raftReady is set once Raft runs; until then Raft connections are
	// closed at once (a node waiting for admission must not be drawn into
	// the cluster by replication).
	raftReady atomic.Bool

	raftCh  chan net.Conn
	forward func(net.Conn)
	// conns are the forwarding connections being served.
	connsMu sync.Mutex
	conns   map[net.Conn]struct{}

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

func newMux(ln net.Listener, advertise net.Addr, tlsConf *tls.Config, source netip.Addr, log *slog.Logger) *mux {
	return &mux{ln: ln, tls: tlsConf, advertise: advertise, source: source, log: log, raftCh: make(chan net.Conn, 16), closed: make(chan struct{})}
}

func (m *mux) serve() {
	m.wg.Add(1)
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.log.Error("accept failed", "error", err)
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.dispatch(c)
		}()
	}
}

func (m *mux) dispatch(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if m.tls != nil {
		tc := tls.Server(c, m.tls)
		if err := tc.Handshake(); err != nil {
			m.log.Warn("refused node connection: TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
			_ = c.Close()
			return
		}
		c = tc
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	switch b[0] {
	case connRaft:
		if !m.raftReady.Load() {
			_ = c.Close()
			return
		}
		select {
		case m.raftCh <- c:
		case <-m.closed:
			_ = c.Close()
		}
	case connForward:
		if m.forward == nil || !m.track(c) {
			_ = c.Close()
			return
		}
		defer m.untrack(c)
		m.forward(c)
	default:
		m.log.Warn("refused node connection: unknown type", "remote", c.RemoteAddr().String(), "type", b[0])
		_ = c.Close()
	}
}

// track records a forwarding connection so that close can end it (a
// peer keeps them open and idle between requests); it reports false once
// the mux is closing.
func (m *mux) track(c net.Conn) bool {
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	select {
	case <-m.closed:
		return false
	default:
	}
	if m.conns == nil {
		m.conns = map[net.Conn]struct{}{}
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *mux) untrack(c net.Conn) {
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	delete(m.conns, c)
}

func (m *mux) close() {
	m.closeOnce.Do(func() {
		m.connsMu.Lock()
		close(m.closed)
		for c := range m.conns {
			_ = c.Close()
		}
		m.connsMu.Unlock()
		_ = m.ln.Close()
	})
	m.wg.Wait()
}

// dialNode opens a connection of the given type to a node, from source
// when it is set.
func dialNode(addr string, kind byte, tlsConf *tls.Config, source netip.Addr, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: source.AsSlice()}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if tlsConf != nil {
		host, _, _ := net.SplitHostPort(addr)
		cfg := tlsConf.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("raft: TLS handshake with %s: %w", addr, err)
		}
		c = tc
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// streamLayer gives hashicorp/raft its connections through the mux.
type streamLayer struct {
	m *mux
}

var _ hraft.StreamLayer = (*streamLayer)(nil)

func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftCh:
		return c, nil
	case <-s.m.closed:
		return nil, net.ErrClosed
	}
}

func (s *streamLayer) Close() error {
	// The mux is closed by the node, after Raft has shut down.
	return nil
}

func (s *streamLayer) Addr() net.Addr { return s.m.advertise }

func (s *streamLayer) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return dialNode(string(address), connRaft, s.m.tls, s.m.source, timeout)
}
