// Package auth owns credentials: argon2id password hashes (run in a pool
// sized to a memory budget, so a login flood cannot exhaust memory), the
// password policy, and the Ed25519-signed JWTs of user sessions and of
// gateways (keys named by kid and reread from their directory, so they
// rotate across replicas without logging anyone out). It keeps no state in
// the database: revocation is the callers' (cloud/users, cloud/gateways).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go"
	"golang.org/x/crypto/argon2"
)

// Password length rules (characters, not bytes). The upper bound only keeps
// a request from making the server hash megabytes.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// OWASP's argon2id recommendation: m=19 MiB, t=2, p=1.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrWeakPassword is returned when a password breaks the length rules.
var ErrWeakPassword = fmt.Errorf("password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)

// Refused passwords besides the length rules; their texts are shown.
var (
	ErrGuessablePassword = errors.New("password is too easy to guess (a common password, a word with digits, " +
		"a keyboard walk, a date or a repeat): use a longer passphrase of unrelated words")
	ErrPasswordHasEmail = errors.New("password must not contain the account's email address or its name part")
)

// MinPasswordScore is the least zxcvbn score (0-4) a new password needs: 3
// is "safely unguessable", about 10^10 guesses under zxcvbn's model of
// dictionaries (common and leaked passwords, names, words), keyboard
// patterns, dates, l33t and repeats.
const MinPasswordScore = 3

// strengthPrefix bounds the runes zxcvbn looks at: its matching time grows
// steeply with length (a 1 KiB password took 79 s), and a password whose
// first 64 characters are strong is strong.
const strengthPrefix = 64

// CheckPasswordPolicy reports whether pw may be set as the password of the
// account email: the length rules, not containing the email, and a zxcvbn
// strength of at least MinPasswordScore with the email's parts counted as
// known words.
func CheckPasswordPolicy(pw, email string) error {
	if !utf8.ValidString(pw) {
		return ErrWeakPassword
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen || n > MaxPasswordLen {
		return ErrWeakPassword
	}
	lower := strings.ToLower(pw)
	local, domain, _ := strings.Cut(strings.ToLower(email), "@")
	if email != "" && strings.Contains(lower, strings.ToLower(email)) || len(local) >= 3 && strings.Contains(lower, local) {
		return ErrPasswordHasEmail
	}
	prefix := []rune(pw)
	if len(prefix) > strengthPrefix {
		prefix = prefix[:strengthPrefix]
	}
	inputs := append([]string{local, domain}, strings.FieldsFunc(local+"."+domain, func(r rune) bool {
		return r == '.' || r == '-' || r == '_' || r == '+'
	})...)
	if zxcvbn.PasswordStrength(string(prefix), inputs).Score < MinPasswordScore {
		return ErrGuessablePassword
	}
	return nil
}

// HashPassword returns pw's argon2id hash in the PHC string format. It
// waits for a hashing slot (see SetHashMemoryBudget).
func HashPassword(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	release, err := hashing.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches hash. The parameters are read
// from the hash, so raising them later keeps old hashes valid. It waits for
// a hashing slot (see SetHashMemoryBudget).
func VerifyPassword(ctx context.Context, hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("unsupported password hash")
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("argon2 parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, err
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, err
	}
	if m > maxArgonMemory || t > maxArgonTime || p == 0 || len(want) == 0 || len(want) > 64 {
		return false, errors.New("argon2 parameters out of range")
	}
	release, err := hashing.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a login names an unknown user, so
// that the response time (hashing slot included) does not reveal which
// accounts exist.
var dummyHash = func() string {
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte("streamforge-timing-equaliser"), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}()

// BurnPasswordCheck spends what one password verification spends; its
// error is VerifyPassword's (a full server answers busy either way).
func BurnPasswordCheck(ctx context.Context, pw string) error {
	_, err := VerifyPassword(ctx, dummyHash, pw)
	return err
}

// RandomPassword returns a random password of n URL-safe characters.
func RandomPassword(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
