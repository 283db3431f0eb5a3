package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token constants from the security spec.
const (
	Issuer       = "streamforge-api"
	AudienceUser = "streamforge-user"
	// AudienceGateway limits gateway tokens to the gateway routes.
	AudienceGateway = "streamforge-gateway"
	TokenLifetime   = 24 * time.Hour
	clockLeeway     = 5 * time.Second
	keyReloadGap    = 2 * time.Second
	// ringReload is how often the ring rereads its directory, so that every
	// replica signs with a rotated key and stops trusting a removed one
	// without a restart.
	ringReload = time.Minute
)

// Claims are a user token's claims: the spec's (sub, roles, permissions,
// gateway_access, exp, iat, iss) plus jti, aud and nbf, and the CSRF token
// that cookie-authenticated requests must echo in a header.
type Claims struct {
	Roles         []string `json:"roles"`
	Permissions   []string `json:"permissions"`
	GatewayAccess []string `json:"gateway_access"`
	CSRF          string   `json:"csrf,omitempty"`
	// Cnf binds a gateway token to the client certificate it was issued
	// on (RFC 8705): the token is good only over mTLS with that certificate.
	Cnf *Confirmation `json:"cnf,omitempty"`
	// Enrollment names the enrollment of the gateway a gateway token was
	// issued to: the token is refused once the gateway id belongs to
	// another enrollment.
	Enrollment string `json:"enr,omitempty"`
	jwt.RegisteredClaims
}

// Confirmation is RFC 8705's cnf claim.
type Confirmation struct {
	// X5tS256 is the base64url SHA-256 of the certificate's DER.
	X5tS256 string `json:"x5t#S256"`
}

// ErrInvalidToken covers every reason a token is refused; the reason itself
// is never shown to the client.
var ErrInvalidToken = errors.New("invalid token")

// KeyRing holds the Ed25519 signing keys, one PEM file per kid in a
// directory. The newest kid signs; every kid present verifies, so a rotation
// logs nobody out. Cloud processes that share the directory share the ring.
type KeyRing struct {
	dir string

	mu         sync.RWMutex
	keys       map[string]ed25519.PrivateKey
	active     string
	lastReload time.Time
	// reloadEvery is ringReload; tests shorten it.
	reloadEvery time.Duration

	verified verifiedCache
}

// LoadKeyRing reads the keys in dir, creating the directory and a first key
// when there is none.
func LoadKeyRing(dir string) (*KeyRing, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jwt key dir: %w", err)
	}
	k := &KeyRing{dir: dir, reloadEvery: ringReload}
	if err := k.reload(); err != nil {
		return nil, err
	}
	if k.active == "" {
		if _, err := k.Rotate(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Rotate writes a new key, which becomes the signing key of every process
// once it reloads the ring (at the latest when it meets the new kid).
func (k *KeyRing) Rotate() (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	kid := time.Now().UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(suffix)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tmp := filepath.Join(k.dir, "."+kid+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("write jwt key: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, kid+".pem")); err != nil {
		return "", fmt.Errorf("write jwt key: %w", err)
	}
	return kid, k.reload()
}

func (k *KeyRing) reload() error {
	files, err := filepath.Glob(filepath.Join(k.dir, "*.pem"))
	if err != nil {
		return err
	}
	keys := make(map[string]ed25519.PrivateKey, len(files))
	var kids []string
	for _, f := range files {
		kid := strings.TrimSuffix(filepath.Base(f), ".pem")
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read jwt key %s: %w", kid, err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			return fmt.Errorf("jwt key %s: not PEM", kid)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("jwt key %s: %w", kid, err)
		}
		priv, ok := parsed.(ed25519.PrivateKey)
		if !ok {
			return fmt.Errorf("jwt key %s: not Ed25519", kid)
		}
		keys[kid] = priv
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys, k.lastReload = keys, time.Now()
	if len(kids) > 0 {
		k.active = kids[len(kids)-1]
	}
	return nil
}

// Sign signs claims with the active key, naming it in the kid header.
func (k *KeyRing) Sign(c *Claims) (string, error) {
	if err := k.refresh(); err != nil {
		return "", err
	}
	k.mu.RLock()
	kid, key := k.active, k.keys[k.active]
	k.mu.RUnlock()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = kid
	return t.SignedString(key)
}

// refresh rereads the directory when the last read is older than
// reloadEvery.
func (k *KeyRing) refresh() error {
	k.mu.RLock()
	stale := time.Since(k.lastReload) > k.reloadEvery
	k.mu.RUnlock()
	if stale {
		return k.reload()
	}
	return nil
}

// PublicKey returns the verification key of kid, reloading the ring (at
// most every couple of seconds) when the kid is new to this process.
func (k *KeyRing) PublicKey(kid string) (ed25519.PublicKey, bool) {
	_ = k.refresh() // on failure keep verifying with the keys already loaded
	k.mu.RLock()
	key, ok := k.keys[kid]
	stale := time.Since(k.lastReload) > keyReloadGap
	k.mu.RUnlock()
	if !ok && stale && k.reload() == nil {
		k.mu.RLock()
		key, ok = k.keys[kid]
		k.mu.RUnlock()
	}
	if !ok {
		return nil, false
	}
	return key.Public().(ed25519.PublicKey), true
}

// Parse verifies token for audience: EdDSA only (the algorithm is pinned,
// so "none" and HMAC-with-the-public-key are refused), a known kid, our
// issuer, the audience, and exp/nbf/iat, and it requires sub and jti.
func (k *KeyRing) Parse(token, audience string) (*Claims, error) {
	if c, kid, ok := k.verified.get(token, audience, time.Now()); ok {
		if _, known := k.PublicKey(kid); known {
			return c, nil
		}
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockLeeway),
	)
	c := &Claims{}
	var kid string
	_, err := parser.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		pub, ok := k.PublicKey(kid)
		if !ok {
			return nil, fmt.Errorf("unknown kid")
		}
		return pub, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.ID == "" {
		return nil, fmt.Errorf("%w: missing sub or jti", ErrInvalidToken)
	}
	k.verified.put(token, audience, kid, c)
	return c, nil
}

// NewJTI returns a random token id.
func NewJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
