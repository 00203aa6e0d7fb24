package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/zone"
)

var defaultGetenv = os.Getenv

// tsigKey is the key for one request; nil means unsigned.
type tsigKey struct {
	name, alg, secret string
}

// tsig reads the secret (afresh: it may have been rotated).
func (p *Provider) tsig() (*tsigKey, error) {
	if p.keyName == "" {
		return nil, nil
	}
	secret, err := p.secret.read()
	if err != nil {
		return nil, err
	}
	return &tsigKey{name: p.keyName, alg: p.alg, secret: secret}, nil
}

func (k *tsigKey) secrets() map[string]string {
	if k == nil {
		return nil
	}
	return map[string]string{k.name: k.secret}
}

func (k *tsigKey) sign(m *dns.Msg) {
	if k != nil {
		m.SetTsig(k.name, k.alg, fudge, time.Now().Unix())
	}
}

// exchange sends m, signed, over UDP when it fits in [maxUDP] bytes and
// over TCP otherwise, or when the UDP answer is truncated or does not
// come. Repeating a request is harmless: reads are idempotent and an
// UPDATE's prerequisites refuse a duplicate (the caller then re-reads).
func (p *Provider) exchange(ctx context.Context, k *tsigKey, m *dns.Msg) (*dns.Msg, error) {
	network := "udp"
	if m.Len() > maxUDP-100 { // room for the TSIG record
		network = "tcp"
	}
	r, err := p.exchangeOn(ctx, network, k, m)
	if network == "udp" && (err == nil && r.Truncated || isTimeout(err)) {
		p.log.Debug("retrying over TCP", "truncated", err == nil, "opcode", dns.OpcodeToString[m.Opcode])
		r, err = p.exchangeOn(ctx, "tcp", k, m)
	}
	return r, err
}

func (p *Provider) exchangeOn(ctx context.Context, network string, k *tsigKey, m *dns.Msg) (*dns.Msg, error) {
	if p.onExchange != nil {
		p.onExchange(network, m.Opcode)
	}
	mm := m.Copy()
	mm.Id = dns.Id()
	k.sign(mm)
	c := &dns.Client{Net: network, Timeout: p.timeout, TsigSecret: k.secrets(), UDPSize: dns.DefaultMsgSize}
	r, _, err := c.ExchangeContext(ctx, mm, p.server)
	if err != nil {
		if r != nil && r.Rcode != dns.RcodeSuccess {
			// A refusal the server could not sign (BADKEY, BADSIG):
			// its rcode says more than the failed verification.
			return nil, rcodeError(dns.OpcodeToString[m.Opcode]+" over "+network, r.Rcode)
		}
		return nil, transportError(dns.OpcodeToString[m.Opcode]+" over "+network, err)
	}
	if k != nil && r.IsTsig() == nil {
		// An unsigned answer to a signed request proves nothing: a
		// refusal keeps its meaning, a success does not count.
		if r.Rcode != dns.RcodeSuccess {
			return nil, rcodeError(dns.OpcodeToString[m.Opcode]+" over "+network+" (unsigned answer)", r.Rcode)
		}
		return nil, providers.Invalid(fmt.Errorf("rfc2136: %s over %s: the answer is not signed", dns.OpcodeToString[m.Opcode], network))
	}
	return r, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transportError types a failure to get an answer: TSIG failures are
// [providers.ErrInvalid] (a retry will not fix a wrong key), the rest
// [providers.ErrUnavailable].
func transportError(what string, err error) error {
	for _, e := range []error{dns.ErrSig, dns.ErrAuth, dns.ErrSecret, dns.ErrKeyAlg, dns.ErrNoSig, dns.ErrTime} {
		if errors.Is(err, e) {
			return providers.Invalid(fmt.Errorf("rfc2136: %s: TSIG: %w", what, err))
		}
	}
	return providers.Unavailable(fmt.Errorf("rfc2136: %s: %w", what, err))
}

// rcodeError types an rcode other than success and the prerequisite
// failures.
func rcodeError(what string, rcode int) error {
	err := fmt.Errorf("rfc2136: %s: server answered %s", what, dns.RcodeToString[rcode])
	switch rcode {
	case dns.RcodeServerFailure:
		return providers.Unavailable(err)
	case dns.RcodeRefused:
		return providers.Invalid(fmt.Errorf("%w (is the key allowed to update and transfer this zone?)", err))
	case dns.RcodeNotAuth:
		return providers.Invalid(fmt.Errorf("%w (wrong TSIG key or algorithm, or not authoritative for the zone)", err))
	}
	return providers.Invalid(err)
}

// axfr transfers origin, TSIG-signed, and returns the RRsets whose keys
// are in want. The server's SOA opens and closes the transfer.
func (p *Provider) axfr(ctx context.Context, k *tsigKey, origin string, want map[zone.Key]bool) ([]zone.RRset, error) {
	if p.onExchange != nil {
		p.onExchange("tcp", dns.OpcodeQuery)
	}
	d := net.Dialer{Timeout: p.timeout}
	nc, err := d.DialContext(ctx, "tcp", p.server)
	if err != nil {
		return nil, providers.Unavailable(fmt.Errorf("rfc2136: axfr %s: %w", origin, err))
	}
	tap := &rcodeTap{Conn: nc}
	deadline := time.Now().Add(p.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	t := &dns.Transfer{Conn: &dns.Conn{Conn: tap}, TsigSecret: k.secrets(), ReadTimeout: time.Until(deadline)}
	m := new(dns.Msg)
	m.SetAxfr(origin)
	k.sign(m)
	env, err := t.In(m, p.server)
	if err != nil {
		nc.Close()
		return nil, transportError("axfr "+origin, err)
	}
	var rrs []dns.RR
	var failed error
	for e := range env {
		if failed != nil {
			continue // drain: the transfer closes the connection itself
		}
		if e.Error != nil {
			if rc, ok := tap.rcode(); ok && rc != dns.RcodeSuccess {
				failed = rcodeError("axfr "+origin, rc)
			} else {
				failed = transportError("axfr "+origin, e.Error)
			}
			continue
		}
		rrs = append(rrs, e.RR...)
	}
	if failed != nil {
		return nil, failed
	}
	var keep []dns.RR
	for _, rr := range rrs {
		h := rr.Header()
		if want[zone.Key{Name: dns.CanonicalName(h.Name), Type: h.Rrtype}] {
			keep = append(keep, rr)
		}
	}
	return zone.FromRRs(keep), nil
}

// rcodeTap remembers the header of the first DNS message read from a TCP
// connection, so that a refused transfer can be told from a failed one
// (dns.Transfer reports only "bad xfr rcode").
type rcodeTap struct {
	net.Conn
	head []byte // the length prefix and the header's first 4 bytes
}

func (c *rcodeTap) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if need := 6 - len(c.head); need > 0 && n > 0 {
		c.head = append(c.head, b[:min(n, need)]...)
	}
	return n, err
}

// rcode returns the first message's rcode, if it has been read.
func (c *rcodeTap) rcode() (int, bool) {
	if len(c.head) < 6 {
		return 0, false
	}
	return int(c.head[5] & 0x0f), true
}

// queryKeys asks for every wanted key, one signed query each, and returns
// the RRsets that exist.
func (p *Provider) queryKeys(ctx context.Context, k *tsigKey, origin string, want map[zone.Key]bool) ([]zone.RRset, error) {
	var rrs []dns.RR
	for key := range want {
		if err := ctx.Err(); err != nil {
			return nil, providers.Unavailable(fmt.Errorf("rfc2136: query %s: %w", key, err))
		}
		m := new(dns.Msg)
		m.SetQuestion(key.Name, key.Type)
		m.RecursionDesired = false
		m.SetEdns0(maxUDP, false)
		r, err := p.exchange(ctx, k, m)
		if err != nil {
			return nil, fmt.Errorf("rfc2136: query %s: %w", key, err)
		}
		switch r.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			return nil, rcodeError("query "+key.String(), r.Rcode)
		}
		if !r.Authoritative {
			return nil, providers.Invalid(fmt.Errorf("rfc2136: query %s: the server is not authoritative for %s", key, origin))
		}
		for _, rr := range r.Answer {
			h := rr.Header()
			if h.Rrtype == key.Type && dns.CanonicalName(h.Name) == key.Name {
				rrs = append(rrs, rr)
			}
		}
	}
	return zone.FromRRs(rrs), nil
}
