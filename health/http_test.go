package health

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dns/switchboard/config"
)

// TestHTTPSCheckerCAFile checks that a missing or broken CA file fails
// every probe with the reason, and that fixing the file heals the check.
func TestHTTPSCheckerCAFile(t *testing.T) {
	pki := newTestPKI(t)
	srv := httptest.NewUnstartedServer(testMux(&seen{}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	c := mustChecker(t, httpTarget(t, srv.URL, func(c *config.Check) {
		c.Path, c.SNI, c.CAFile = "/ok", "health.example", caFile
	}))
	prefix := "health: " + strings.Replace(srv.URL, "://", " ", 1) + "/ok: ca_file: "
	err := c.Check(t.Context())
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("missing file: got %v, want %s... not exist", err, prefix)
	}
	if err := os.WriteFile(caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context()); err == nil || err.Error() != "health: "+strings.Replace(srv.URL, "://", " ", 1)+"/ok: ca_file "+caFile+": no PEM certificate found" {
		t.Fatalf("garbage file: got %v, want no PEM certificate found", err)
	}
	pem, err := os.ReadFile(pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("after fixing the file: got %v, want healthy", err)
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in     string
		want   string // canonical form; "" for an error
		in200s []int  // codes that must match
		out    []int  // codes that must not
	}{
		{in: "200-399", want: "200-399", in200s: []int{200, 204, 301, 399}, out: []int{199, 400, 503}},
		{in: "200", want: "200", in200s: []int{200}, out: []int{201, 199, 204}},
		{in: "200,204,301-302", want: "200,204,301-302", in200s: []int{200, 204, 301, 302}, out: []int{201, 300, 303}},
		{in: " 200 , 204 - 205 ", want: "200,204-205", in200s: []int{200, 204, 205}, out: []int{203, 206}},
		{in: "100-599", want: "100-599", in200s: []int{100, 599}},
		{in: ""},
		{in: "ok"},
		{in: "99"},
		{in: "600"},
		{in: "300-200"},
		{in: "200-"},
		{in: "-200"},
		{in: "200,,204"},
		{in: "200-300-400"},
		{in: "2xx"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := parseStatus(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				if !strings.HasPrefix(err.Error(), "expect_status ") {
					t.Errorf("got error %q, want it to name expect_status", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s", err, tt.want)
			}
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			for _, c := range tt.in200s {
				if !got.contains(c) {
					t.Errorf("%d: got no match, want a match", c)
				}
			}
			for _, c := range tt.out {
				if got.contains(c) {
					t.Errorf("%d: got a match, want none", c)
				}
			}
		})
	}
}

// httpTarget returns an http(s) target for the server at rawURL.
func httpTarget(t *testing.T, rawURL string, mods ...func(*config.Check)) Target {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	typ := config.CheckHTTP
	if strings.HasPrefix(rawURL, "https://") {
		typ = config.CheckHTTPS
	}
	tg := Target{Endpoint: "web", Address: host, Port: p, Check: config.Check{Type: typ}}
	for _, m := range mods {
		m(&tg.Check)
	}
	return tg
}

func mustChecker(t *testing.T, tg Target) Checker {
	t.Helper()
	c, err := NewChecker(tg)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	t.Cleanup(func() { closeChecker(c) })
	return c
}

// seen records what the test server saw of the last request.
type seen struct {
	mu     sync.Mutex
	host   string
	method string
	paths  []string
	sni    string
}

func (s *seen) get() seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return seen{host: s.host, method: s.method, paths: append([]string(nil), s.paths...), sni: s.sni}
}

func testMux(s *seen) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello world")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", bodyLimit)))
		w.Write([]byte("needle"))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.host, s.method = r.Host, r.Method
		s.paths = append(s.paths, r.URL.RequestURI())
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func TestHTTPChecker(t *testing.T) {
	var s seen
	srv := httptest.NewServer(testMux(&s))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		name  string
		check func(*config.Check)
		want  string // the exact error, "" for healthy
	}{
		{name: "ok", check: func(c *config.Check) { c.Path = "/ok" }},
		{name: "default path 404", want: "health: http " + addr + "/: status 404, want 200-399"},
		{name: "503", check: func(c *config.Check) { c.Path = "/fail" }, want: "health: http " + addr + "/fail: status 503, want 200-399"},
		{name: "exact status", check: func(c *config.Check) { c.Path = "/ok"; c.ExpectStatus = "204" }, want: "health: http " + addr + "/ok: status 200, want 204"},
		{name: "status list", check: func(c *config.Check) { c.Path = "/fail"; c.ExpectStatus = "200,503" }},
		{name: "3xx not followed, judged", check: func(c *config.Check) { c.Path = "/redirect"; c.ExpectStatus = "200" }, want: "health: http " + addr + "/redirect: status 302, want 200"},
		{name: "3xx accepted", check: func(c *config.Check) { c.Path = "/redirect" }},
		{name: "body contains", check: func(c *config.Check) { c.Path = "/ok"; c.BodyContains = "lo wo" }},
		{name: "body lacks", check: func(c *config.Check) { c.Path = "/ok"; c.BodyContains = "goodbye" }, want: "health: http " + addr + `/ok: body (first 11 bytes) does not contain "goodbye"`},
		{name: "body beyond 64 KiB", check: func(c *config.Check) { c.Path = "/big"; c.BodyContains = "needle" }, want: "health: http " + addr + `/big: body (first 65536 bytes) does not contain "needle"`},
		{name: "query", check: func(c *config.Check) { c.Path = "/ok?full=1" }},
		{name: "HEAD", check: func(c *config.Check) { c.Path = "/ok"; c.Method = "HEAD" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods := []func(*config.Check){}
			if tt.check != nil {
				mods = append(mods, tt.check)
			}
			c := mustChecker(t, httpTarget(t, srv.URL, mods...))
			err := c.Check(t.Context())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got error %q, want %q", got, tt.want)
			}
		})
	}
	if got := s.get().paths; !slices.Contains(got, "/ok?full=1") {
		t.Errorf("got requests for %v, want /ok?full=1 among them (query kept)", got)
	}
}

// TestHTTPCheckerRequest checks what the server sees: method, Host header
// (default and override), and that a redirect is not followed.
func TestHTTPCheckerRequest(t *testing.T) {
	var s seen
	srv := httptest.NewServer(testMux(&s))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		name       string
		check      func(*config.Check)
		wantHost   string
		wantMethod string
		wantPaths  []string
	}{
		{"defaults", func(c *config.Check) {}, addr, "GET", []string{"/"}},
		{"host override", func(c *config.Check) { c.Host = "www.example.test" }, "www.example.test", "GET", []string{"/"}},
		{"method", func(c *config.Check) { c.Method = "POST"; c.Path = "/ok" }, addr, "POST", []string{"/ok"}},
		{"redirect not followed", func(c *config.Check) { c.Path = "/redirect" }, addr, "GET", []string{"/redirect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.mu.Lock()
			s.paths = nil
			s.mu.Unlock()
			c := mustChecker(t, httpTarget(t, srv.URL, tt.check))
			c.Check(t.Context())
			got := s.get()
			if got.host != tt.wantHost || got.method != tt.wantMethod {
				t.Errorf("got Host %q method %s, want Host %q method %s", got.host, got.method, tt.wantHost, tt.wantMethod)
			}
			if strings.Join(got.paths, " ") != strings.Join(tt.wantPaths, " ") {
				t.Errorf("got requests for %v, want %v", got.paths, tt.wantPaths)
			}
		})
	}
}

// TestHTTPCheckerTimeout probes a server that never answers.
func TestHTTPCheckerTimeout(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hang) }) // runs before srv.Close

	c := mustChecker(t, httpTarget(t, srv.URL, func(c *config.Check) { c.Timeout = config.Duration(50 * time.Millisecond) }))
	start := time.Now()
	err := c.Check(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "timeout after 50ms") {
		t.Errorf("got %q, want it to say timeout after 50ms", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("probe took %v, want about 50ms", took)
	}

	// The caller's context can cut it shorter than the check's timeout.
	c = mustChecker(t, httpTarget(t, srv.URL, func(c *config.Check) { c.Timeout = config.Duration(time.Hour) }))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := c.Check(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with a caller deadline: got %v, want a deadline error", err)
	}
}

// TestHTTPCheckerKeepAlive checks that probes reuse one connection and that
// Close releases it.
func TestHTTPCheckerKeepAlive(t *testing.T) {
	var mu sync.Mutex
	states := map[http.ConnState]int{}
	closed := make(chan struct{}, 10)
	srv := httptest.NewUnstartedServer(testMux(&seen{}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		states[s]++
		mu.Unlock()
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c, err := NewChecker(httpTarget(t, srv.URL, func(c *config.Check) { c.Path = "/ok" }))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.Check(t.Context()); err != nil {
			t.Fatalf("probe %d: %v", i+1, err)
		}
	}
	mu.Lock()
	got := states[http.StateNew]
	mu.Unlock()
	if got != 1 {
		t.Errorf("got %d connections for 3 probes, want 1", got)
	}
	closeChecker(c)
	recv(t, closed, "the kept-alive connection to close")
}

func TestHTTPCheckerIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	var s seen
	srv := httptest.NewUnstartedServer(testMux(&s))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	port := ln.Addr().(*net.TCPAddr).Port
	for _, addr := range []string{"::1", "[::1]"} {
		tg := Target{Endpoint: "v6", Address: addr, Port: port, Check: config.Check{Type: config.CheckHTTP, Path: "/fail"}}
		err := mustChecker(t, tg).Check(t.Context())
		want := fmt.Sprintf("health: http [::1]:%d/fail: status 503, want 200-399", port)
		if err == nil || err.Error() != want {
			t.Errorf("address %s: got %v, want %s", addr, err, want)
		}
	}
	if got, want := s.get().host, fmt.Sprintf("[::1]:%d", port); got != want {
		t.Errorf("got Host %q, want %q", got, want)
	}
}

// testPKI is a CA and a certificate it signed for "health.example" only
// (no IP address), written where an https check can read the CA.
type testPKI struct {
	caFile string
	cert   tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "switchboard test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "health.example"},
		DNSNames:     []string{"health.example"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testPKI{caFile: caFile, cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}
}

// TestHTTPSChecker probes a TLS server, reached by IP address, whose
// certificate is for a name only.
func TestHTTPSChecker(t *testing.T) {
	pki := newTestPKI(t)
	var s seen
	srv := httptest.NewUnstartedServer(testMux(&s))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.sni = hello.ServerName
			s.mu.Unlock()
			return nil, nil
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	var unknownCA x509.UnknownAuthorityError
	var wrongName x509.HostnameError
	tests := []struct {
		name     string
		check    func(*config.Check)
		wantErr  any // nil, or a pointer for errors.As
		wantSNI  string
		wantHost string // "" for the default
	}{
		{name: "verification is on by default", check: func(c *config.Check) { c.SNI = "health.example" }, wantErr: &unknownCA, wantSNI: "health.example"},
		{name: "ca_file but no name: an IP the cert does not cover", check: func(c *config.Check) { c.CAFile = pki.caFile }, wantErr: &wrongName, wantSNI: ""},
		{name: "ca_file and sni", check: func(c *config.Check) { c.CAFile = pki.caFile; c.SNI = "health.example" }, wantSNI: "health.example"},
		{name: "ca_file and host: sni follows host", check: func(c *config.Check) { c.CAFile = pki.caFile; c.Host = "health.example" }, wantSNI: "health.example", wantHost: "health.example"},
		{name: "host with port: sni without", check: func(c *config.Check) { c.CAFile = pki.caFile; c.Host = "health.example:8443" }, wantSNI: "health.example", wantHost: "health.example:8443"},
		{name: "sni wins over host", check: func(c *config.Check) { c.CAFile = pki.caFile; c.SNI = "health.example"; c.Host = "www.example" }, wantSNI: "health.example", wantHost: "www.example"},
		{name: "ca_file and the wrong sni", check: func(c *config.Check) { c.CAFile = pki.caFile; c.SNI = "other.example" }, wantErr: &wrongName, wantSNI: "other.example"},
		{name: "tls_skip_verify", check: func(c *config.Check) { c.TLSSkipVerify = true }, wantSNI: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.mu.Lock()
			s.sni, s.host = "(none)", ""
			s.mu.Unlock()
			c := mustChecker(t, httpTarget(t, srv.URL, func(c *config.Check) { c.Path = "/ok" }, tt.check))
			err := c.Check(t.Context())
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("got %v, want healthy", err)
			case tt.wantErr != nil && !errors.As(err, tt.wantErr):
				t.Errorf("got %v, want a %T", err, tt.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "health: https 127.0.0.1:"):
				t.Errorf("got %q, want it to name the probe", err)
			}
			got := s.get()
			if got.sni != tt.wantSNI {
				t.Errorf("got SNI %q, want %q", got.sni, tt.wantSNI)
			}
			if tt.wantErr == nil {
				wantHost := tt.wantHost
				if wantHost == "" {
					wantHost = strings.TrimPrefix(srv.URL, "https://")
				}
				if got.host != wantHost {
					t.Errorf("got Host %q, want %q", got.host, wantHost)
				}
			}
		})
	}
}
