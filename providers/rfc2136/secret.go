package rfc2136

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/miekg/dns"

	"github.com/switchboard-dns/switchboard/providers"
)

// algorithms maps the config's algorithm names to TSIG algorithm names.
var algorithms = map[string]string{
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha512": dns.HmacSHA512,
	"hmac-sha1":   dns.HmacSHA1,
}

// secretSource reads the TSIG secret each time it is needed, so a rotated
// file or variable takes effect without a restart and a missing secret does
// not stop the node from starting.
type secretSource struct {
	file   string // tsig_secret_file
	env    string // tsig_secret_env
	getenv func(string) string
}

// secretLine finds the secret in a key file written by tsig-keygen
// (`secret "BASE64";`) or by Knot's keymgr (`secret: BASE64`).
var secretLine = regexp.MustCompile(`(?m)\bsecret\s*(?::\s*|\s+")([A-Za-z0-9+/=]+)`)

// read returns the base64 secret. Errors never carry the secret itself.
func (s secretSource) read() (string, error) {
	var raw, where string
	switch {
	case s.file != "":
		where = "tsig_secret_file " + s.file
		b, err := os.ReadFile(s.file)
		if err != nil {
			return "", providers.Invalid(fmt.Errorf("rfc2136: %s: %w", where, errors.Unwrap(err)))
		}
		raw = string(b)
		if m := secretLine.FindStringSubmatch(raw); m != nil {
			raw = m[1]
		}
	case s.env != "":
		where = "tsig_secret_env " + s.env
		raw = s.getenv(s.env)
		if raw == "" {
			return "", providers.Invalid(fmt.Errorf("rfc2136: %s is empty or unset", where))
		}
	default:
		return "", nil
	}
	raw = strings.TrimSpace(raw)
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) == 0 {
		return "", providers.Invalid(fmt.Errorf("rfc2136: %s does not hold a base64 TSIG secret", where))
	}
	return raw, nil
}
