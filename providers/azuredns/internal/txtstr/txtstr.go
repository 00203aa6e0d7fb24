// Package txtstr converts TXT character-strings between the escaped
// presentation form miekg/dns keeps in [dns.TXT.Txt] ("a\"b", "\255") and
// the raw values the Azure DNS API carries in a TxtRecord's value list.
//
// Both the azuredns provider and its fake use it, so that a TXT record
// round-trips byte for byte; the escaping rules are those of RFC 1035
// section 5.1.
package txtstr

import (
	"strconv"
	"strings"
)

// MaxLen is the longest character-string DNS allows (one length octet).
const MaxLen = 255

// Unescape returns the raw bytes of one presentation-form character-string
// without its surrounding quotes: "\X" is X and "\DDD" is the byte DDD.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n, err := strconv.Atoi(s[i+1 : i+4]); err == nil && n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

// Quote returns raw as a quoted presentation-form character-string:
// quotes and backslashes escaped, bytes outside printable ASCII as \DDD.
func Quote(raw string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('\\')
			b.WriteString(pad3(int(c)))
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Split cuts raw into pieces of at most [MaxLen] bytes, as a TXT record
// longer than one character-string is stored. An empty raw is one empty
// piece, the TXT record "".
func Split(raw string) []string {
	if len(raw) <= MaxLen {
		return []string{raw}
	}
	var out []string
	for len(raw) > MaxLen {
		out = append(out, raw[:MaxLen])
		raw = raw[MaxLen:]
	}
	if raw != "" {
		out = append(out, raw)
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func pad3(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", 3-len(s)) + s
}
