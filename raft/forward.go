package raft

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Forwarding carries a follower's writes to the leader over the node
// channel (the Raft listener, TLS when the cluster has it). Frames are a
// 4-byte big-endian length and a JSON body; a connection carries one
// request at a time and is reused.

// maxFrame bounds a forwarded frame (a policy with thousands of records
// fits easily).
const maxFrame = 16 << 20

// Forward operations.
const (
	opApply  = "apply"
	opJoin   = "join"
	opRemove = "remove"
	opPing   = "ping"
)

type fwdRequest struct {
	Op      string   `json:"op"`
	Command *Command `json:"command,omitempty"`
	// Join and remove.
	ID    string `json:"id,omitempty"`
	Addr  string `json:"addr,omitempty"`
	Voter bool   `json:"voter,omitempty"`
	// Timeout is how long the leader may take, from the caller's deadline.
	Timeout time.Duration `json:"timeout"`
}

type fwdResponse struct {
	Index uint64        `json:"index"`
	Err   *ApplyError   `json:"err,omitempty"`
	Ping  *pingResponse `json:"ping,omitempty"`
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxFrame {
		return fmt.Errorf("raft: frame of %d bytes exceeds %d", len(b), maxFrame)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("raft: frame of %d bytes exceeds %d", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// serveForward answers forwarded requests on one connection until it
// closes.
func (n *Node) serveForward(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		var req fwdRequest
		if err := readFrame(r, &req); err != nil {
			return
		}
		timeout := req.Timeout
		if timeout <= 0 || timeout > time.Minute {
			timeout = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(n.ctx, timeout)
		var resp fwdResponse
		var err error
		switch req.Op {
		case opApply:
			if req.Command == nil {
				err = rejectf("invalid", "forwarded apply without command")
				break
			}
			resp.Index, err = n.applyLocal(ctx, req.Command)
		case opJoin:
			r := req
			_, err = n.retry(ctx, func(ctx context.Context) (uint64, error) {
				if n.IsLeader() {
					return 0, n.addLocal(r.ID, r.Addr, r.Voter, timeoutOf(ctx))
				}
				return n.forwardTo(ctx, &fwdRequest{Op: opJoin, ID: r.ID, Addr: r.Addr, Voter: r.Voter})
			})
		case opRemove:
			r := req
			_, err = n.retry(ctx, func(ctx context.Context) (uint64, error) {
				if n.IsLeader() {
					return 0, n.removeLocal(ctx, r.ID)
				}
				return n.forwardTo(ctx, &fwdRequest{Op: opRemove, ID: r.ID})
			})
		case opPing:
			resp.Ping = n.pingAnswer()
		default:
			err = rejectf("invalid", "unknown forward op %q", req.Op)
		}
		cancel()
		if err != nil {
			resp.Err = asApplyError(err)
		}
		if err := writeFrame(c, resp); err != nil {
			return
		}
	}
}

// forwarder keeps a few idle connections per leader address.
type forwarder struct {
	tls    *tls.Config
	source netip.Addr

	mu   sync.Mutex
	idle map[string][]net.Conn
}

const maxIdleForward = 4

func (f *forwarder) get(addr string, timeout time.Duration) (net.Conn, error) {
	f.mu.Lock()
	if conns := f.idle[addr]; len(conns) > 0 {
		c := conns[len(conns)-1]
		f.idle[addr] = conns[:len(conns)-1]
		f.mu.Unlock()
		return c, nil
	}
	f.mu.Unlock()
	return dialNode(addr, connForward, f.tls, f.source, timeout)
}

func (f *forwarder) put(addr string, c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.idle == nil {
		f.idle = map[string][]net.Conn{}
	}
	if len(f.idle[addr]) >= maxIdleForward {
		_ = c.Close()
		return
	}
	f.idle[addr] = append(f.idle[addr], c)
}

func (f *forwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, conns := range f.idle {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	f.idle = nil
}

// errTransport marks a failure to reach the leader (as opposed to the
// leader's answer), which is worth retrying.
var errTransport = errors.New("raft: forward transport")

// do sends one request to addr and waits for the answer.
func (f *forwarder) do(ctx context.Context, addr string, req *fwdRequest) (*fwdResponse, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	req.Timeout = time.Until(deadline)
	if req.Timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	c, err := f.get(addr, min(req.Timeout, 5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTransport, err)
	}
	_ = c.SetDeadline(deadline)
	if err := writeFrame(c, req); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w: %w", errTransport, err)
	}
	var resp fwdResponse
	if err := readFrame(c, &resp); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%w: %w", errTransport, err)
	}
	_ = c.SetDeadline(time.Time{})
	f.put(addr, c)
	return &resp, nil
}
