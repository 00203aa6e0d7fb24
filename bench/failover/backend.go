package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// backendReady is the line a backend prints on stdout once it listens.
const backendReady = "ready"

// runBackend is the "backend" sub-mode: a tiny HTTP server whose /healthz
// answers "ok". It runs as its own process so that SIGKILL is a real
// process death (its kernel closes its sockets) and SIGSTOP a silent one
// (connections stay open, the kernel still completes handshakes, nothing
// answers).
func runBackend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	listen := fs.String("listen", "", "host:port to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" {
		return errors.New("backend: -listen is required")
	}
	// Go listeners set SO_REUSEADDR, so a new backend can bind the address
	// of a killed one at once; retry briefly anyway in case the port is
	// still held by a process being reaped.
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", *listen); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // retry interval for the bind
	}
	if err != nil {
		return fmt.Errorf("backend: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	fmt.Println(backendReady)
	// No timeouts: idle connections (switchboard's watch, keep-alive
	// probes) stay open until the process dies.
	return (&http.Server{Handler: mux}).Serve(ln)
}

// backends is the pair of backend processes A and B on their own loopback
// addresses, same port (a PowerDNS ifurlup URL has one port for all its
// addresses).
type backends struct {
	ps     *procs
	self   string // this program, re-executed in backend mode
	dir    string
	port   int
	ipA    string
	ipB    string
	a, b   *proc
	starts int
}

// startBackends starts A and B on a port free on both addresses.
func startBackends(ps *procs, self, dir, ipA, ipB string) (*backends, error) {
	port, err := freePortOn(ipA, ipB)
	if err != nil {
		return nil, err
	}
	bs := &backends{ps: ps, self: self, dir: dir, port: port, ipA: ipA, ipB: ipB}
	if err := bs.startA(); err != nil {
		return nil, err
	}
	bs.b, err = ps.start("backend B", filepath.Join(dir, "backend-b.log"), backendReady, 10*time.Second, self, "backend", "-listen", net.JoinHostPort(ipB, fmt.Sprint(port)))
	if err != nil {
		bs.a.kill()
		return nil, err
	}
	return bs, nil
}

// startA starts a new process for backend A and returns once it listens.
func (bs *backends) startA() error {
	bs.starts++
	p, err := bs.ps.start(fmt.Sprintf("backend A #%d", bs.starts), filepath.Join(bs.dir, "backend-a.log"), backendReady, 10*time.Second, bs.self, "backend", "-listen", net.JoinHostPort(bs.ipA, fmt.Sprint(bs.port)))
	if err != nil {
		return err
	}
	bs.a = p
	return nil
}

// stop ends both backends.
func (bs *backends) stop() {
	for _, p := range []*proc{bs.a, bs.b} {
		if p != nil {
			p.stop(2 * time.Second)
		}
	}
}

// freePortOn returns a TCP port that is free on every one of ips.
func freePortOn(ips ...string) (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ok := true
		var held []net.Listener
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		ln.Close()
		for _, l := range held {
			l.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("free port: none free on all of %v", ips)
}

// freeUDPTCPPort returns a port free for both TCP and UDP on ip (for a
// DNS server).
func freeUDPTCPPort(ip string) (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("free port: no TCP+UDP port free on %s", ip)
}

// exitf prints an error and exits; for the sub-mode only.
func exitf(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
