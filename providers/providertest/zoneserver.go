package providertest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/zone"
)

// Content gives a fake provider's current data to a [ZoneServer]: for a
// query name, the zone that holds it (its origin) and a copy of that
// zone's RRsets; ok is false when no zone holds the name. It is called
// once per query and must take the fake's own lock.
type Content func(qname string) (origin string, sets map[zone.Key]zone.RRset, ok bool)

// ZoneServer answers DNS queries on 127.0.0.1 (UDP and TCP on one port)
// authoritatively from a fake provider's current content, as the
// provider's nameservers would, so that the reconciler's verification
// step runs end to end against the fakes.
type ZoneServer struct {
	udp, tcp *dns.Server
	addr     string
}

// ServeZone starts a [ZoneServer] answering from content.
func ServeZone(content Content) (*ZoneServer, error) {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		_, udp := w.RemoteAddr().(*net.UDPAddr)
		_ = w.WriteMsg(Answer(req, udp, content))
	})
	pc, ln, err := ListenDNS()
	if err != nil {
		return nil, err
	}
	z := &ZoneServer{addr: pc.LocalAddr().String()}
	started := make(chan struct{}, 2)
	z.udp = &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }}
	z.tcp = &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }}
	go func() { _ = z.udp.ActivateAndServe() }()
	go func() { _ = z.tcp.ActivateAndServe() }()
	<-started
	<-started
	return z, nil
}

// ListenDNS opens a UDP socket and a TCP listener on the same free port
// of 127.0.0.1, as a DNS server needs. The kernel picks a port free for
// UDP, which another process may hold for TCP: then it tries again.
func ListenDNS() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("providertest: dns udp: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("providertest: dns tcp: %w", lastErr)
}

// Addr is the host:port the server answers on (UDP and TCP).
func (z *ZoneServer) Addr() string { return z.addr }

// Close stops the server.
func (z *ZoneServer) Close() error {
	return errors.Join(z.udp.Shutdown(), z.tcp.Shutdown())
}

// Answer builds the authoritative answer to req from content: the RRset
// (every RRset of the name for ANY), or the CNAME the name holds, or
// NODATA (the name, or a name below it, exists) or NXDOMAIN with the
// zone's SOA in the authority section; REFUSED outside every zone,
// FORMERR without exactly one question, NOTIMP for other opcodes. EDNS0
// is echoed, and over UDP the answer is truncated to the client's size.
func Answer(req *dns.Msg, udp bool, content Content) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	switch {
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return m
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	origin, sets, ok := content(name)
	if !ok {
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true
	add := func(sec *[]dns.RR, s zone.RRset) {
		if rrs, err := s.RRs(); err == nil {
			*sec = append(*sec, rrs...)
		}
	}
	exists := false
	var cname *zone.RRset
	for k, s := range sets {
		switch {
		case k.Name == name:
			exists = true
			if k.Type == q.Qtype || q.Qtype == dns.TypeANY {
				add(&m.Answer, s)
			} else if k.Type == dns.TypeCNAME {
				c := s
				cname = &c
			}
		case dns.IsSubDomain(name, k.Name):
			exists = true // an empty non-terminal: NODATA, not NXDOMAIN
		}
	}
	switch {
	case len(m.Answer) > 0:
	case cname != nil:
		add(&m.Answer, *cname)
	default:
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		if soa, ok := sets[zone.Key{Name: origin, Type: dns.TypeSOA}]; ok {
			add(&m.Ns, soa)
		}
	}
	size := dns.MinMsgSize
	if o := req.IsEdns0(); o != nil {
		size = int(o.UDPSize())
		m.SetEdns0(o.UDPSize(), false)
	}
	if udp {
		m.Truncate(size)
	}
	return m
}

// FreePort returns a port on host that is free for both TCP and UDP, for
// a server a test starts later (BIND, Knot, the switchboard binary). It
// picks at random below the kernel's ephemeral range, so that sockets
// other tests open meanwhile (which get ephemeral ports) cannot take it
// between this check and the server's bind.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	lo, hi := 10000, ephemeralStart()
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return port
	}
	t.Fatalf("providertest: no free port on %s", host)
	return 0
}

// ephemeralStart is the first port of the kernel's ephemeral range
// (32768 when it cannot be read).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 10001 {
		return 32768
	}
	return n
}
