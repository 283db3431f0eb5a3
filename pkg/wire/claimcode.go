package wire

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Claim codes let a field technician bind a gateway by scanning or typing
// a short code that only the gateway shows. The code is a secret: the
// control plane draws it at random for each enrollment, returns it once in
// the enrollment answer and keeps only a slow hash of it, so nothing the
// API or the audit trail shows lets anyone compute it. It is 50 random bits
// written as 10 Crockford base32 characters, plus Crockford's mod-37 check
// character, shown as XXXXX-XXXXX-C. Crockford's alphabet has no I, L, O or
// U, and reading accepts O for 0 and I/L for 1, so the common misreadings
// still decode, and the check character catches any single wrong character
// and any swap of two neighbouring code characters.

const (
	crockford   = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	checkSymbol = crockford + "*~$=U"
	codeChars   = 10
	// ClaimCodeBits is the code's entropy.
	ClaimCodeBits = 5 * codeChars
)

// ErrClaimCode means a typed claim code is malformed or its check fails.
var ErrClaimCode = errors.New("claim code is not valid: check it for typing errors")

// NewClaimCode draws a random claim code.
func NewClaimCode() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("claim code: %w", err)
	}
	return formatClaimCode(binary.BigEndian.Uint64(b[:]) >> (64 - ClaimCodeBits)), nil
}

// formatClaimCode writes the low ClaimCodeBits of v as XXXXX-XXXXX-C.
func formatClaimCode(v uint64) string {
	var b strings.Builder
	for i := codeChars - 1; i >= 0; i-- {
		b.WriteByte(crockford[(v>>(5*uint(i)))&31])
		if i == 5 {
			b.WriteByte('-')
		}
	}
	b.WriteByte('-')
	b.WriteByte(checkSymbol[v%37])
	return b.String()
}

// NormalizeClaimCode reads a typed code (any case, with or without
// dashes or spaces, O for 0, I or L for 1) and returns its canonical form,
// or ErrClaimCode when it is malformed or fails its check.
func NormalizeClaimCode(s string) (string, error) {
	s = strings.NewReplacer("-", "", " ", "", "O", "0", "I", "1", "L", "1").Replace(strings.ToUpper(s))
	if len(s) != codeChars+1 {
		return "", ErrClaimCode
	}
	var v uint64
	for i := 0; i < codeChars; i++ {
		d := strings.IndexByte(crockford, s[i])
		if d < 0 {
			return "", ErrClaimCode
		}
		v = v<<5 | uint64(d)
	}
	if checkSymbol[v%37] != s[codeChars] {
		return "", ErrClaimCode
	}
	return s[:5] + "-" + s[5:10] + "-" + s[10:], nil
}

// ClaimURL is the cloud's claim page for a gateway, as its QR code encodes.
func ClaimURL(cloudURL, gatewayID, code string) string {
	q := url.Values{"gateway": {gatewayID}, "code": {code}}
	return strings.TrimRight(cloudURL, "/") + "/claim?" + q.Encode()
}
