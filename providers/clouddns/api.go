package clouddns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	dnsv1 "google.golang.org/api/dns/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/switchboard-dns/switchboard/providers"
)

// apiRRset is an RRset as Cloud DNS names it.
type apiRRset struct {
	Name    string
	Type    string
	TTL     int64
	Rrdatas []string
}

// apiChange is the body of Changes.Create.
type apiChange struct {
	Additions []apiRRset
	Deletions []apiRRset
}

// api is the part of the Cloud DNS API the provider uses, bound to one
// managed zone, so that tests can stand in for it. Errors are the
// client's own (*googleapi.Error, transport errors); the provider
// classifies them.
type api interface {
	// getZone returns the managed zone's DNS name (ManagedZones.Get).
	getZone(ctx context.Context) (string, error)
	// listPage returns one page of ResourceRecordSets.List and the next
	// page token ("" after the last page).
	listPage(ctx context.Context, pageToken string) ([]apiRRset, string, error)
	// createChange sends Changes.Create and returns the Change's id.
	createChange(ctx context.Context, c *apiChange) (string, error)
	// getChange returns the Change's status ("pending", "done").
	getChange(ctx context.Context, id string) (string, error)
}

// pageSize is the maxResults asked of ResourceRecordSets.List.
const pageSize = 1000

// serviceAPI is [api] over the generated client.
type serviceAPI struct {
	svc         *dnsv1.Service
	project     string
	managedZone string
}

// credentialSource says how to authenticate: from a credentials file's
// JSON (json set) or by application default credentials (json nil).
type credentialSource struct {
	json    []byte
	typ     credentials.CredType
	secrets []string
}

// readCredentialsFile reads a Google credentials file and notes its
// secret fields for redaction. Errors never quote the file's content.
func readCredentialsFile(path string) (*credentialSource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("credentials file %s: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("credentials file %s: cannot read", path)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("credentials file %s: not a JSON object", path)
	}
	typ, _ := f["type"].(string)
	switch credentials.CredType(typ) {
	case credentials.ServiceAccount, credentials.AuthorizedUser, credentials.ExternalAccount,
		credentials.ImpersonatedServiceAccount, credentials.ExternalAccountAuthorizedUser:
	default:
		return nil, fmt.Errorf("credentials file %s: unsupported credential type %q", path, typ)
	}
	c := &credentialSource{json: b, typ: credentials.CredType(typ)}
	// The client e-mail is an identity, not a secret, but it names the
	// key's owner; it stays out of our output as well.
	for _, field := range []string{"private_key", "private_key_id", "client_email", "client_secret", "refresh_token"} {
		if v, ok := f[field].(string); ok && len(v) >= 8 {
			c.secrets = append(c.secrets, v)
			// A PEM key may surface one line at a time.
			for _, line := range strings.Split(v, "\n") {
				if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
					c.secrets = append(c.secrets, line)
				}
			}
		}
	}
	return c, nil
}

// discard is the logger handed to the Google libraries: their debug
// logging (switched on by GOOGLE_SDK_GO_LOGGING_LEVEL) prints request
// headers and bodies, which we never want in our output.
var discard = slog.New(slog.DiscardHandler)

// newServiceAPI builds the client. endpoint "" is Google's; another
// endpoint (a fake) without credentials is reached unauthenticated.
func newServiceAPI(ctx context.Context, project, managedZone, endpoint string, cs *credentialSource) (api, error) {
	opts := []option.ClientOption{option.WithLogger(discard), option.WithTelemetryDisabled()}
	if endpoint != "" {
		if !strings.HasSuffix(endpoint, "/") {
			endpoint += "/"
		}
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	dopts := &credentials.DetectOptions{
		Scopes: []string{dnsv1.NdevClouddnsReadwriteScope},
		Logger: discard,
	}
	switch {
	case cs == nil:
		opts = append(opts, option.WithoutAuthentication())
	case cs.json != nil:
		creds, err := credentials.NewCredentialsFromJSON(cs.typ, cs.json, dopts)
		if err != nil {
			return nil, providers.Invalid(fmt.Errorf("clouddns: credentials file: %w", err))
		}
		opts = append(opts, option.WithAuthCredentials(creds))
	default:
		creds, err := credentials.DetectDefault(dopts)
		if err != nil {
			return nil, providers.Invalid(fmt.Errorf("clouddns: application default credentials: %w", err))
		}
		opts = append(opts, option.WithAuthCredentials(creds))
	}
	svc, err := dnsv1.NewService(ctx, opts...)
	if err != nil {
		return nil, providers.Invalid(fmt.Errorf("clouddns: client: %w", err))
	}
	return &serviceAPI{svc: svc, project: project, managedZone: managedZone}, nil
}

func (s *serviceAPI) getZone(ctx context.Context) (string, error) {
	mz, err := s.svc.ManagedZones.Get(s.project, s.managedZone).Fields("dnsName").Context(ctx).Do()
	if err != nil {
		return "", err
	}
	return mz.DnsName, nil
}

func (s *serviceAPI) listPage(ctx context.Context, token string) ([]apiRRset, string, error) {
	call := s.svc.ResourceRecordSets.List(s.project, s.managedZone).MaxResults(pageSize).Context(ctx)
	if token != "" {
		call = call.PageToken(token)
	}
	resp, err := call.Do()
	if err != nil {
		return nil, "", err
	}
	out := make([]apiRRset, 0, len(resp.Rrsets))
	for _, r := range resp.Rrsets {
		if r == nil {
			continue
		}
		out = append(out, apiRRset{Name: r.Name, Type: r.Type, TTL: r.Ttl, Rrdatas: r.Rrdatas})
	}
	return out, resp.NextPageToken, nil
}

func (s *serviceAPI) createChange(ctx context.Context, c *apiChange) (string, error) {
	body := &dnsv1.Change{}
	conv := func(in []apiRRset) []*dnsv1.ResourceRecordSet {
		out := make([]*dnsv1.ResourceRecordSet, 0, len(in))
		for _, r := range in {
			out = append(out, &dnsv1.ResourceRecordSet{
				Kind: "dns#resourceRecordSet", Name: r.Name, Type: r.Type, Ttl: r.TTL, Rrdatas: r.Rrdatas,
				// A TTL of 0 is a real TTL, not "unset".
				ForceSendFields: []string{"Ttl"},
			})
		}
		return out
	}
	body.Additions = conv(c.Additions)
	body.Deletions = conv(c.Deletions)
	resp, err := s.svc.Changes.Create(s.project, s.managedZone, body).Context(ctx).Do()
	if err != nil {
		return "", err
	}
	return resp.Id, nil
}

func (s *serviceAPI) getChange(ctx context.Context, id string) (string, error) {
	resp, err := s.svc.Changes.Get(s.project, s.managedZone, id).Context(ctx).Do()
	if err != nil {
		return "", err
	}
	return resp.Status, nil
}

// classify maps an error of the client to a typed provider error:
//
//	412 conditionNotMet, 409 alreadyExists   → conflict
//	429, 403 rateLimitExceeded               → throttled (Retry-After kept)
//	5xx, 408, transport failure, time-out    → unavailable
//	400, 401, 403, 404 and anything else     → invalid
//
// A 404 from Changes.Create may also be a conflict (a deletion of an
// RRset that is gone); the caller decides that case.
func classify(err error) error {
	var perr *providers.Error
	if errors.As(err, &perr) {
		return err
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		switch {
		case gerr.Code == http.StatusPreconditionFailed, gerr.Code == http.StatusConflict:
			return providers.Conflict(err)
		case gerr.Code == http.StatusTooManyRequests, gerr.Code == http.StatusForbidden && hasReason(gerr, "rateLimitExceeded", "userRateLimitExceeded"):
			return providers.Throttled(err, retryAfter(gerr.Header))
		case gerr.Code >= 500, gerr.Code == http.StatusRequestTimeout:
			return providers.Unavailable(err)
		}
		return providers.Invalid(err)
	}
	var aerr *auth.Error
	if errors.As(err, &aerr) && aerr.Response != nil {
		// The token endpoint answered: 5xx and 429 are passing, the
		// rest (bad key, revoked account) will not fix themselves.
		if c := aerr.Response.StatusCode; c >= 500 || c == http.StatusTooManyRequests {
			return providers.Unavailable(err)
		}
		return providers.Invalid(err)
	}
	// Time-outs, refused or reset connections, truncated answers: the
	// API could not be reached or did not answer; all are passing.
	return providers.Unavailable(err)
}

// outcomeUnknown reports whether a failed Changes.Create may have been
// applied all the same: the server failed (5xx) or no answer came back.
func outcomeUnknown(err error) bool {
	var perr *providers.Error
	if errors.As(err, &perr) {
		return false // refused before sending (our own rate limit)
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code >= 500
	}
	var aerr *auth.Error
	return !errors.As(err, &aerr) // the token request fails before anything is sent
}

func isNotFound(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusNotFound
}

func hasReason(e *googleapi.Error, reasons ...string) bool {
	for _, it := range e.Errors {
		for _, r := range reasons {
			if it.Reason == r {
				return true
			}
		}
	}
	return false
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
