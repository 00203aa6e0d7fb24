package route53

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/providers"
	fake "github.com/switchboard-dns/switchboard/providers/route53/route53test"
	"github.com/switchboard-dns/switchboard/zone"
)

// TestNoSecretsInOutput sets recognisable credentials, runs succeeding
// and failing operations with a debug logger, and scans every error, log
// line and printed form of the provider for them. It first checks that
// the credentials did reach the API (signed requests, session token), so
// the scan is of a run that used them.
func TestNoSecretsInOutput(t *testing.T) {
	const (
		keyID  = "AKIACANARYKEYID12345"
		secret = "canary-secret-access-key-0123456789abcdef"
		token  = "canary-session-token-ZYXWVU9876543210"
	)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", token)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	sources := []struct {
		name string
		env  func(*slog.Logger) providers.Env
	}{
		{"default chain from the process environment", func(l *slog.Logger) providers.Env { return providers.Env{Logger: l} }},
		{"environment given to the provider", func(l *slog.Logger) providers.Env {
			vals := map[string]string{"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
			return providers.Env{Logger: l, Getenv: func(k string) string { return vals[k] }}
		}},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			f := fake.New(t)
			id := f.AddZone(testZone)
			build := func(edit func(*config.Route53Settings)) *Provider {
				s := config.Route53Settings{HostedZoneID: id, Endpoint: f.URL(), RequestsPerS: 1000}
				if edit != nil {
					edit(&s)
				}
				p, err := newProvider("secret-test", &config.Provider{Type: config.ProviderRoute53, Route53: &s}, src.env(log), newLimiters())
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			p := build(func(s *config.Route53Settings) { s.WaitInsync = true })
			p.insyncPoll = time.Millisecond
			ctx := context.Background()
			www := rrset(t, "www.example.com.", dns.TypeA, 60, "192.0.2.1")
			keys := []zone.Key{www.Key()}
			var out []string
			record := func(what string, v any) { out = append(out, fmt.Sprintf("%s: %v | %+v | %#v", what, v, v, v)) }

			// Succeeding operations.
			record("apply", p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: www.Key(), New: &www}}}))
			c, err := p.Read(ctx, testZone, keys)
			record("read", err)
			if err != nil || c.Fence != 1 {
				t.Fatalf("the succeeding run failed: content %+v, error %v", c, err)
			}
			// Failing ones.
			record("conflict", p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 2, Changes: []providers.Change{{Key: www.Key(), New: &www}}}))
			for _, fault := range []struct {
				status int
				code   string
			}{{400, "Throttling"}, {500, "InternalFailure"}, {403, "AccessDenied"}, {403, "SignatureDoesNotMatch"}, {403, "InvalidClientTokenId"}} {
				f.FailNext(1, fault.status, fault.code, "injected "+fault.code)
				_, err := p.Read(ctx, testZone, keys)
				record(fault.code, err)
			}
			_, err = build(func(s *config.Route53Settings) { s.HostedZoneID = "ZMISSING" }).Read(ctx, testZone, keys)
			record("no such zone", err)
			_, err = build(func(s *config.Route53Settings) { s.HostedZoneID = ""; s.HostedZone = "missing.example." }).Read(ctx, "missing.example.", keys)
			record("no zone by name", err)
			gone := build(func(s *config.Route53Settings) { s.Endpoint = "http://127.0.0.1:1" })
			_, err = gone.Read(ctx, testZone, keys)
			record("connection refused", err)
			record("provider", p)

			// The credentials were used.
			signed, withToken := false, false
			for _, r := range f.Requests() {
				signed = signed || strings.Contains(r.Header.Get("Authorization"), "Credential="+keyID+"/")
				withToken = withToken || r.Header.Get("X-Amz-Security-Token") == token
			}
			if !signed || !withToken {
				t.Fatalf("the fake saw signed requests %v and the session token %v, want both", signed, withToken)
			}
			all := strings.Join(out, "\n") + "\n" + logs.String()
			if logs.Len() == 0 {
				t.Errorf("log output: got none, want the debug lines")
			}
			for _, s := range []string{keyID, secret, token} {
				if strings.Contains(all, s) {
					t.Errorf("output contains the credential %q:\n%s", s, all)
				}
			}
		})
	}
}
