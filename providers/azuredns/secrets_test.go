package azuredns

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
	"github.com/switchboard-dns/switchboard/providers/azuredns/azurednstest"
	"github.com/switchboard-dns/switchboard/zone"
)

const (
	secretClientSecret = "SECRET-client-secret-7f3a9c1e"
	secretClientID     = "aaaaaaaa-5ec7-4e7e-8e7e-5ec7e7c1d000"
	secretTenantID     = "bbbbbbbb-5ec7-4e7e-8e7e-5ec7e7c1d111"
	secretToken        = "SECRET-access-token-93b1d2"
)

// identityServer answers Microsoft Entra ID's endpoints in process: the
// instance and tenant discovery documents, and the token endpoint, which
// refuses the client secret or issues a token. Nothing leaves the
// process.
type identityServer struct {
	refuse bool

	mu          sync.Mutex
	sawSecret   bool
	tokenIssued bool
	paths       []string
}

func (s *identityServer) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = append(s.paths, req.Method+" "+req.URL.Path)
	if bytes.Contains(body, []byte(secretClientSecret)) {
		s.sawSecret = true
	}
	host := "https://" + req.URL.Host
	tenant := host + "/" + secretTenantID
	reply := func(status int, js string) (*http.Response, error) {
		return &http.Response{
			StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
			Header:  http.Header{"Content-Type": {"application/json"}},
			Body:    io.NopCloser(strings.NewReader(js)),
			Request: req, ProtoMajor: 1, ProtoMinor: 1,
		}, nil
	}
	switch {
	case strings.HasSuffix(req.URL.Path, "/discovery/instance"):
		return reply(200, fmt.Sprintf(`{"tenant_discovery_endpoint":%q,"api-version":"1.1","metadata":[{"preferred_network":%q,"preferred_cache":%q,"aliases":[%q]}]}`,
			tenant+"/v2.0/.well-known/openid-configuration", req.URL.Host, req.URL.Host, req.URL.Host))
	case strings.HasSuffix(req.URL.Path, "/.well-known/openid-configuration"):
		return reply(200, fmt.Sprintf(`{"token_endpoint":%q,"authorization_endpoint":%q,"issuer":%q}`,
			tenant+"/oauth2/v2.0/token", tenant+"/oauth2/v2.0/authorize", tenant+"/v2.0"))
	case strings.HasSuffix(req.URL.Path, "/token"):
		if s.refuse {
			return reply(401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`)
		}
		s.tokenIssued = true
		return reply(200, fmt.Sprintf(`{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":%q}`, secretToken))
	}
	return reply(404, `{"error":"not_found"}`)
}

// TestSecretsNeverInOutput sets recognisable credentials in the
// environment, runs reads and applies that succeed and fail through the
// real default credential chain (its identity endpoints answered in
// process), and scans every error, log line and String for them.
func TestSecretsNeverInOutput(t *testing.T) {
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
	t.Setenv("AZURE_CLIENT_ID", secretClientID)
	t.Setenv("AZURE_TENANT_ID", secretTenantID)
	t.Setenv("AZURE_CLIENT_SECRET", secretClientSecret)
	t.Setenv("AZURE_CLIENT_CERTIFICATE_PATH", "")
	t.Setenv("AZURE_USERNAME", "")
	secrets := []string{secretClientSecret, secretToken}

	www := mustSet(t, "www.example.com.", dns.TypeA, 300, "192.0.2.1")
	www2 := mustSet(t, "www.example.com.", dns.TypeA, 300, "192.0.2.2")
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("token refused %v", refuse), func(t *testing.T) {
			srv := azurednstest.New(testSub, testRG, testZone)
			if err := srv.Put(www); err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			id := &identityServer{refuse: refuse}
			p, err := newProvider("azure-secret", testConfig(), providers.Env{Logger: log}, options{
				transport:         srv.Transport(),
				identityTransport: id,
			})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			record := func(err error) {
				if err != nil {
					out = append(out, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
					// As the reconciler, the edge, logs it.
					log.Error("provider call failed", "err", err)
				}
			}
			ctx := context.Background()
			_, err = p.Read(ctx, testZone, []zone.Key{www.Key()})
			record(err)
			if refuse && err == nil {
				t.Fatalf("read with a refused secret: got success, want an error")
			}
			if !refuse && err != nil {
				t.Fatalf("read: %v", err)
			}
			// One apply that succeeds (or fails on the credential), one
			// that fails on a conflict.
			record(p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 1, Changes: []providers.Change{{Key: www.Key(), Old: ptr(www), New: ptr(www2)}}}))
			err = p.Apply(ctx, &providers.ChangeSet{Zone: testZone, Generation: 2, ExpectFence: 7, Changes: []providers.Change{{Key: www.Key(), Old: ptr(www), New: ptr(www2)}}})
			if err == nil {
				t.Fatalf("apply over a wrong fence: got success, want an error")
			}
			record(err)
			out = append(out, logs.String(), p.String(), fmt.Sprintf("%v", p), fmt.Sprintf("%+v", p))

			id.mu.Lock()
			saw, issued := id.sawSecret, id.tokenIssued
			id.mu.Unlock()
			if !saw {
				t.Fatalf("the identity endpoint never got the client secret: the test does not exercise the credential")
			}
			if !refuse && !issued {
				t.Fatalf("no token issued: the success path was not exercised")
			}
			if strings.TrimSpace(logs.String()) == "" {
				t.Errorf("logs: got none, want some to scan")
			}
			for _, o := range out {
				for _, s := range secrets {
					if strings.Contains(o, s) {
						t.Errorf("output contains secret %q:\n%s", s, o)
					}
				}
			}
		})
	}
}
