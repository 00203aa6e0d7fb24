package clouddns

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	fake "github.com/switchboard-dns/switchboard/providers/clouddns/clouddnstest"
	"github.com/switchboard-dns/switchboard/zone"
)

// serviceAccount writes a service-account file with recognisable secrets
// and returns its path and the strings that must never be printed.
func serviceAccount(t *testing.T, tokenURI string) (string, []string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	keyID := "SECRETKEYID0123456789abcdef0123456789abcd"
	email := "secret-sa-switchboard@acme-dns.iam.gserviceaccount.com"
	sa := map[string]string{
		"type":           "service_account",
		"project_id":     testProject,
		"private_key_id": keyID,
		"private_key":    pemKey,
		"client_email":   email,
		"client_id":      "104242424242424242424",
		"token_uri":      tokenURI,
	}
	b, err := json.Marshal(sa)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{keyID, email}
	for _, line := range strings.Split(pemKey, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	return path, secrets
}

// captureStd redirects the process's stdout and stderr to a file until
// the returned function is called, which returns what was written.
func captureStd(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "std")
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = f, f
	return func() string {
		os.Stdout, os.Stderr = oldOut, oldErr
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		return string(b)
	}
}

// TestNoSecretsInOutput authenticates with a service-account key through
// the real credential chain (JWT grant at a token endpoint on loopback,
// bearer token to the fake API), drives successes and every kind of
// failure with debug logging switched on everywhere, and scans every
// error, log line, String form and byte written to stdout/stderr for the
// key, its id, the client e-mail and the access token.
func TestNoSecretsInOutput(t *testing.T) {
	t.Setenv("GOOGLE_SDK_GO_LOGGING_LEVEL", "debug") // the Google libraries' own debug logging
	srv, err := fake.Start(testProject, testZone, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	const accessToken = "ya29.SECRET-ACCESS-TOKEN-a1b2c3d4e5f6a7b8c9d0"
	srv.RequireToken(accessToken)
	saFile, secrets := serviceAccount(t, srv.TokenURL())
	badFile, badSecrets := serviceAccount(t, srv.RefusingTokenURL())
	secrets = append(append(secrets, badSecrets...), accessToken)

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mk := func(file string) *Provider {
		cfg := &config.Provider{Type: Type, CloudDNS: &config.CloudDNSSettings{Project: testProject, ManagedZone: testZone, Endpoint: srv.URL(), CredentialsFile: file}}
		p, err := newProvider("gcp", cfg, providers.Env{Logger: logger, Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		p.retry = fastRetry
		return p
	}

	stop := captureStd(t)
	var outputs []string
	record := func(what string, err error) {
		if err != nil {
			outputs = append(outputs, fmt.Sprintf("%s: %v | %+v | %#v", what, err, err, err))
		}
	}
	ctx := ctxT(t)
	p := mk(saFile)
	www := rr("www.example.com.", dns.TypeA, 30, "192.0.2.1")
	_, err = p.Read(ctx, testOrigin, []zone.Key{www.Key()})
	record("read", err)
	if err != nil {
		stop()
		t.Fatalf("read with a service account: %v", err)
	}
	errApply := p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 1, Changes: []providers.Change{{Key: www.Key(), New: www}}})
	record("apply", errApply)
	// Failures of every kind, retried ones logged.
	srv.FailNext(2, 503, "backendError", 0)
	_, err = p.Read(ctx, testOrigin, nil)
	record("read after 503", err)
	srv.FailNext(fastRetry.attempts, 429, "rateLimitExceeded", 0)
	_, err = p.Read(ctx, testOrigin, nil)
	record("read throttled", err)
	err = p.Apply(ctx, &providers.ChangeSet{Zone: testOrigin, Generation: 2, ExpectFence: 9, Changes: []providers.Change{{Key: www.Key(), Old: www}}})
	record("apply conflict", err)
	srv.FailNext(1, 401, "authError", 0)
	_, err = p.Read(ctx, testOrigin, nil)
	record("read 401", err)
	_, errBad := mk(badFile).Read(ctx, testOrigin, nil)
	record("read with a refused key", errBad)
	_, errFile := newProvider("gcp", &config.Provider{Type: Type, CloudDNS: &config.CloudDNSSettings{Project: testProject, ManagedZone: testZone, CredentialsFile: saFile + ".missing"}}, providers.Env{})
	record("missing file", errFile)
	outputs = append(outputs, p.String(), fmt.Sprintf("%v %+v %#v", p, p, p))
	std := stop()

	// The scan must be able to fail: the fake saw the token, and the
	// failures happened.
	if srv.TokenRequests() == 0 {
		t.Fatal("got no token request: the service account was not used")
	}
	sawBearer := false
	for _, r := range srv.Requests() {
		sawBearer = sawBearer || r.Authorization == "Bearer "+accessToken
	}
	if !sawBearer {
		t.Fatal("got no request with the access token")
	}
	if errApply != nil {
		t.Errorf("apply with a service account: %v", errApply)
	}
	if !errors.Is(errBad, providers.ErrInvalid) {
		t.Errorf("refused key: got %v, want invalid", errBad)
	}
	if !strings.Contains(logs.String(), `"msg":"retrying"`) {
		t.Errorf("got logs %s, want retry warnings", logs.String())
	}
	all := strings.Join(outputs, "\n") + "\n" + logs.String() + "\n" + std
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("output contains secret %q", s[:12]+"...")
		}
	}
	if t.Failed() {
		t.Logf("output scanned:\n%s", all)
	}
}

// TestScrub: an error that carries a credential (as a library might
// print one) is redacted and keeps its kind.
func TestScrub(t *testing.T) {
	p := &Provider{secrets: secretList{"SECRETKEYID0123456789"}}
	tests := []struct {
		name string
		err  error
		kind error
	}{
		{"typed", providers.Throttled(errors.New("token SECRETKEYID0123456789 refused"), 0), providers.ErrThrottled},
		{"wrapped", fmt.Errorf("clouddns: x: %w", providers.Invalid(errors.New("key SECRETKEYID0123456789"))), providers.ErrInvalid},
		{"untyped", errors.New("SECRETKEYID0123456789"), providers.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.scrub(tc.err)
			if strings.Contains(got.Error(), "SECRETKEYID") {
				t.Errorf("got %q, want the secret redacted", got)
			}
			if !errors.Is(got, tc.kind) {
				t.Errorf("got kind %s, want %v", providers.KindOf(got), tc.kind)
			}
		})
	}
	if err := errors.New("clean"); p.scrub(err) != err {
		t.Errorf("got a new error for a clean one, want it unchanged")
	}
}
