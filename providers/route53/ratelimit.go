package route53

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"

	"golang.org/x/time/rate"
)

// accountKey identifies an AWS account as far as the configuration can
// without a network call: see "Rate limit" in the package documentation.
type accountKey struct {
	profile  string
	endpoint string
	// keyID is a fingerprint of the access key id given through
	// [providers.Env], never the id itself.
	keyID string
}

// fingerprint returns a short SHA-256 of s, to tell keys apart without
// holding them.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// limiters holds one token bucket per account, shared by every provider
// of that account in the process.
type limiters struct {
	mu sync.Mutex
	m  map[accountKey]*rate.Limiter
}

// defaultLimiters is the process-wide registry [New] uses.
var defaultLimiters = newLimiters()

func newLimiters() *limiters { return &limiters{m: map[accountKey]*rate.Limiter{}} }

// get returns the account's bucket, creating it at rps requests per
// second with a burst of one. When providers of one account ask for
// different rates the lowest wins, since the quota is the account's.
func (l *limiters) get(k accountKey, rps float64) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.m[k]; ok {
		if rate.Limit(rps) < lim.Limit() {
			lim.SetLimit(rate.Limit(rps))
		}
		return lim
	}
	lim := rate.NewLimiter(rate.Limit(rps), 1)
	l.m[k] = lim
	return lim
}

// limitedClient makes every HTTP attempt of the SDK wait for a token of
// the account's bucket, so that retries and polls count too.
type limitedClient struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	limiter *rate.Limiter
}

// Do waits for a token, then sends the request.
func (c *limitedClient) Do(r *http.Request) (*http.Response, error) {
	if err := c.limiter.Wait(r.Context()); err != nil {
		return nil, err
	}
	return c.next.Do(r)
}
