package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

// userAgent identifies probes in the endpoints' access logs.
const userAgent = "switchboard-health/1"

// httpChecker probes an HTTP or HTTPS endpoint with one request.
//
// It uses its own [http.Transport], so connections are per endpoint: at
// most one idle keep-alive connection, no proxy from the environment, no
// redirects followed (a 3xx is a status like any other), no HTTP/2, no
// transparent decompression. Whatever the URL says, the transport dials the
// endpoint's probe address; the URL only supplies the defaults of the Host
// header and of the TLS server name.
//
// An https check's ca_file lives on each node, not in the replicated
// policy, so a missing or broken file is this node's problem, not a
// validation bug: the checker is built anyway, every probe fails saying
// what is wrong with the file, and each probe tries to read it again, so
// fixing the file heals the check without a policy change.
type httpChecker struct {
	desc    string // "https [2001:db8::1]:443/healthz", for errors
	url     string
	method  string
	host    string // Host header override, "" for the default
	want    statusSet
	body    []byte // substring the body must contain, nil for none
	timeout time.Duration
	addr    string       // the probe address the transport always dials
	check   config.Check // for the transport's settings
	dialer  *net.Dialer  // bound to the target's source address, if any

	mu sync.Mutex
	rt *http.Transport // nil until built (an https CA file may be pending)
}

func newHTTPChecker(t Target, addr string) (Checker, error) {
	c := t.Check
	want, err := parseStatus(c.ExpectStatus)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, fmt.Errorf("path %q does not start with /", c.Path)
	}
	ref, err := url.ParseRequestURI(c.Path)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", c.Path, err)
	}
	// Built as a struct so that an IPv6 zone ("%eth0") is escaped properly.
	u := &url.URL{Scheme: c.Type, Host: addr, Path: ref.Path, RawPath: ref.RawPath, RawQuery: ref.RawQuery}
	// Build a request once to validate the method and the URL.
	if _, err := http.NewRequest(c.Method, u.String(), nil); err != nil {
		return nil, fmt.Errorf("method %q: %w", c.Method, err)
	}
	if c.BodyContains != "" && c.Method == http.MethodHead {
		return nil, errors.New("body_contains cannot be checked with method HEAD (no body)")
	}

	var body []byte
	if c.BodyContains != "" {
		body = []byte(c.BodyContains)
	}
	hc := &httpChecker{
		dialer:  t.dialer(),
		desc:    c.Type + " " + addr + u.RequestURI(),
		url:     u.String(),
		method:  c.Method,
		host:    c.Host,
		want:    want,
		body:    body,
		timeout: c.Timeout.D(),
		addr:    addr,
		check:   c,
	}
	_, _ = hc.transport() // an error here is reported by every probe until fixed
	return hc, nil
}

// transport returns the checker's transport, building it on first use.
func (c *httpChecker) transport() (*http.Transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rt != nil {
		return c.rt, nil
	}
	dialer := c.dialer
	rt := &http.Transport{
		Proxy: nil, // a health check goes straight to the endpoint
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, c.addr)
		},
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     max(90*time.Second, 3*c.check.Interval.D()),
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	if c.check.Type == config.CheckHTTPS {
		tc, err := tlsConfig(c.check)
		if err != nil {
			return nil, err
		}
		rt.TLSClientConfig = tc
	}
	c.rt = rt
	return rt, nil
}

// tlsConfig returns the client TLS settings of an https check. Verification
// is on unless tls_skip_verify says otherwise; ca_file adds to the system
// roots. The server name is sni, else the Host override (without a port),
// else left empty so that the transport uses the address, which verifies
// an IP address against the certificate's IP SANs.
func tlsConfig(c config.Check) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case c.SNI != "":
		tc.ServerName = c.SNI
	case c.Host != "":
		tc.ServerName = c.Host
		if h, _, err := net.SplitHostPort(c.Host); err == nil {
			tc.ServerName = h
		}
	}
	if c.TLSSkipVerify {
		tc.InsecureSkipVerify = true
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			// No system roots on this machine: trust the file alone.
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Check sends one request and judges the status and, if configured, the
// first 64 KiB of the body.
func (c *httpChecker) Check(ctx context.Context) error {
	rt, err := c.transport()
	if err != nil {
		return fmt.Errorf("health: %s: %w", c.desc, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, nil)
	if err != nil {
		return fmt.Errorf("health: %s: %w", c.desc, err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return c.fail(ctx, err)
	}
	defer resp.Body.Close()
	// Read a bounded part of the body even when it is not judged, so that a
	// small response leaves its connection reusable.
	got, rerr := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	if !c.want.contains(resp.StatusCode) {
		return fmt.Errorf("health: %s: status %d, want %s", c.desc, resp.StatusCode, c.want)
	}
	if c.body != nil {
		if rerr != nil {
			return c.fail(ctx, fmt.Errorf("reading body: %w", rerr))
		}
		if !bytes.Contains(got, c.body) {
			return fmt.Errorf("health: %s: body (first %d bytes) does not contain %q", c.desc, len(got), c.body)
		}
	}
	return nil
}

// fail wraps a transport error, saying so when it is the probe's timeout.
func (c *httpChecker) fail(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("health: %s: timeout after %v: %w", c.desc, c.timeout, err)
	}
	return fmt.Errorf("health: %s: %w", c.desc, err)
}

// Close drops the idle keep-alive connection.
func (c *httpChecker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rt != nil {
		c.rt.CloseIdleConnections()
	}
	return nil
}

// statusSet is the parsed form of expect_status.
type statusSet []config.StatusRange

// parseStatus parses expect_status with the config package's parser, so
// that what validation accepts and what a probe judges cannot differ: a
// comma-separated list of codes and inclusive ranges such as "200-399",
// "200" or "200,204,301-302", within 100-599.
func parseStatus(s string) (statusSet, error) {
	set, err := config.ParseStatusRanges(s)
	return statusSet(set), err
}

func (s statusSet) contains(code int) bool {
	for _, r := range s {
		if r.Lo <= code && code <= r.Hi {
			return true
		}
	}
	return false
}

// String prints the set in the canonical form of expect_status.
func (s statusSet) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.Lo))
		if r.Hi != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.Hi))
		}
	}
	return b.String()
}
