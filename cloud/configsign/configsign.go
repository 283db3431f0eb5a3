// Package configsign owns the control plane's config signing keys: Ed25519
// keys kept in a directory outside the database (one PEM file per key id,
// 0600), so that no write to the database can produce a config an agent
// accepts. The newest key signs. Rotating adds a key endorsed by the
// previous one, which keeps verifying for a grace period; agents follow the
// chain of endorsements from the key they pinned at approval.
package configsign

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/streamforge/streamforge/pkg/wire"
)

// DefaultGrace is how long a replaced key keeps verifying: longer than any
// gateway should be away, since one away longer cannot follow the rotation.
const DefaultGrace = 30 * 24 * time.Hour

// reloadEvery bounds how stale a replica's view of the directory may be;
// reloadGap bounds rereads when a bundle names a key this process has not
// seen yet.
const (
	reloadEvery = time.Minute
	reloadGap   = 2 * time.Second
)

// key is one key of the ring. priv is nil once the key retired and its
// private half was deleted; its public record stays so the chain holds.
type key struct {
	id          string
	pub         ed25519.PublicKey
	priv        ed25519.PrivateKey
	endorsement *wire.KeyEndorsement // by the previous key; nil for the first
	retiresAt   *time.Time           // from the successor's endorsement
}

// publicRecord is <kid>.json: the public half and its endorsement.
type publicRecord struct {
	KeyID       string               `json:"key_id"`
	PublicKey   ed25519.PublicKey    `json:"public_key"`
	CreatedAt   time.Time            `json:"created_at"`
	Endorsement *wire.KeyEndorsement `json:"endorsement,omitempty"`
}

// Ring is the set of config signing keys in one directory. Processes that
// share the directory share the ring.
type Ring struct {
	dir string

	mu         sync.RWMutex
	keys       []key // oldest first
	lastReload time.Time
	names      string // the directory's file names at the last read
}

// Load reads the ring in dir, creating the directory and a first key when
// there is none.
func Load(dir string) (*Ring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("config key dir: %w", err)
	}
	r := &Ring{dir: dir}
	if err := r.reload(); err != nil {
		return nil, err
	}
	if len(r.snapshot()) == 0 {
		if _, err := r.Rotate(DefaultGrace, time.Now()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Ring) snapshot() []key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys
}

// Rotate adds a new signing key, endorsed by the current one, which
// retires grace after now. Private keys retired before now are deleted.
func (r *Ring) Rotate(grace time.Duration, now time.Time) (string, error) {
	if err := r.reload(); err != nil {
		return "", err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	now = now.UTC()
	kid := now.Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(suffix)
	rec := publicRecord{KeyID: kid, PublicKey: pub, CreatedAt: now}
	keys := r.snapshot()
	if n := len(keys); n > 0 {
		prev := keys[n-1]
		if prev.priv == nil {
			return "", fmt.Errorf("config key %s has no private key: cannot endorse its successor", prev.id)
		}
		e, err := wire.SignEndorsement(prev.id, prev.priv, wire.EndorsementPayload{
			KeyID: kid, PublicKey: pub, CreatedAt: now, EndorserRetiresAt: now.Add(grace)})
		if err != nil {
			return "", err
		}
		rec.Endorsement = &e
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	recJSON, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", err
	}
	// The private key first: until its public record exists a reader
	// ignores it, whereas a record without its private key would read as
	// a retired newest key and stop every deploy.
	if err := WriteFileAtomic(filepath.Join(r.dir, kid+".pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return "", err
	}
	if err := WriteFileAtomic(filepath.Join(r.dir, kid+".json"), recJSON); err != nil {
		return "", err
	}
	if err := r.reload(); err != nil {
		return "", err
	}
	return kid, r.pruneRetired(now)
}

// pruneRetired deletes the private halves of retired keys: nothing may be
// signed with them again.
func (r *Ring) pruneRetired(now time.Time) error {
	for _, k := range r.snapshot() {
		if k.priv != nil && k.retiresAt != nil && !now.Before(*k.retiresAt) {
			if err := os.Remove(filepath.Join(r.dir, k.id+".pem")); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("delete retired config key %s: %w", k.id, err)
			}
		}
	}
	return r.reload()
}

// WriteFileAtomic writes data to path (mode 0600) through a rename, so a
// reader sees the old file or the new one, never a part.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// dirNames lists the key files: key files are only ever added (by a
// rename into the directory) or deleted, never rewritten, so the same list
// means the same keys.
func (r *Ring) dirNames() (string, error) {
	names, err := filepath.Glob(filepath.Join(r.dir, "*"))
	if err != nil {
		return "", err
	}
	return strings.Join(names, "\n"), nil
}

func (r *Ring) reload() error {
	names, err := r.dirNames()
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(r.dir, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files) // key ids sort by creation time
	keys := make([]key, 0, len(files))
	for _, f := range files {
		k, err := readKey(f)
		if err != nil {
			return err
		}
		if n := len(keys); n > 0 {
			if k.endorsement == nil {
				return fmt.Errorf("config key %s: not endorsed by %s", k.id, keys[n-1].id)
			}
			p, err := wire.VerifyEndorsement(*k.endorsement, keys[n-1].pub)
			if err != nil || p.KeyID != k.id || !p.PublicKey.Equal(k.pub) {
				return fmt.Errorf("config key %s: endorsement by %s does not verify", k.id, keys[n-1].id)
			}
			t := p.EndorserRetiresAt
			keys[n-1].retiresAt = &t
		}
		keys = append(keys, k)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys, r.lastReload, r.names = keys, time.Now(), names
	return nil
}

// reloadIfChanged rereads the directory when its list of key files changed.
func (r *Ring) reloadIfChanged() error {
	names, err := r.dirNames()
	if err != nil {
		return err
	}
	r.mu.RLock()
	same := names == r.names
	r.mu.RUnlock()
	if same {
		return nil
	}
	return r.reload()
}

func readKey(path string) (key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return key{}, fmt.Errorf("read config key: %w", err)
	}
	var rec publicRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return key{}, fmt.Errorf("config key %s: %w", filepath.Base(path), err)
	}
	if rec.KeyID != strings.TrimSuffix(filepath.Base(path), ".json") || len(rec.PublicKey) != ed25519.PublicKeySize {
		return key{}, fmt.Errorf("config key %s: bad public record", filepath.Base(path))
	}
	k := key{id: rec.KeyID, pub: rec.PublicKey, endorsement: rec.Endorsement}
	data, err = os.ReadFile(strings.TrimSuffix(path, ".json") + ".pem")
	if errors.Is(err, os.ErrNotExist) {
		return k, nil // retired
	}
	if err != nil {
		return key{}, fmt.Errorf("read config key %s: %w", k.id, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return key{}, fmt.Errorf("config key %s: not PEM", k.id)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	priv, ok := parsed.(ed25519.PrivateKey)
	if err != nil || !ok || !priv.Public().(ed25519.PublicKey).Equal(k.pub) {
		return key{}, fmt.Errorf("config key %s: private key is not the Ed25519 key of its public record", k.id)
	}
	k.priv = priv
	return k, nil
}

// refresh rereads the directory when the last read is older than maxAge.
func (r *Ring) refresh(maxAge time.Duration) error {
	r.mu.RLock()
	stale := time.Since(r.lastReload) > maxAge
	r.mu.RUnlock()
	if stale {
		return r.reload()
	}
	return nil
}

// Sign signs a config for a gateway with the newest key. It rereads the
// directory first when it changed, so a rotation by another process takes
// effect at the next deploy.
func (r *Ring) Sign(gatewayID string, version int, doc json.RawMessage, now time.Time) (wire.ConfigBundle, error) {
	if err := r.reloadIfChanged(); err != nil {
		return wire.ConfigBundle{}, err
	}
	keys := r.snapshot()
	if len(keys) == 0 || keys[len(keys)-1].priv == nil {
		return wire.ConfigBundle{}, errors.New("no config signing key")
	}
	k := keys[len(keys)-1]
	return wire.SignBundle(k.id, k.priv, wire.BundlePayload{GatewayID: gatewayID, Version: version, Config: doc, IssuedAt: now.UTC()})
}

// Chain returns the endorsements, up to the newest key, whose endorser has
// not retired at now: an agent follows them from whichever key it pinned.
// When the bundle's key kid is new to this process, the directory is
// reread first.
func (r *Ring) Chain(kid string, now time.Time) []wire.KeyEndorsement {
	_ = r.refresh(reloadEvery) // on failure keep serving the keys loaded
	if !r.has(kid) {
		_ = r.refresh(reloadGap)
	}
	var out []wire.KeyEndorsement
	keys := r.snapshot()
	for i := 1; i < len(keys); i++ {
		if prev := keys[i-1]; prev.retiresAt == nil || now.Before(*prev.retiresAt) {
			out = append(out, *keys[i].endorsement)
		}
	}
	return out
}

// Newest is the id of the newest key (as of the last reread).
func (r *Ring) Newest() string {
	_ = r.refresh(reloadEvery)
	keys := r.snapshot()
	if len(keys) == 0 {
		return ""
	}
	return keys[len(keys)-1].id
}

func (r *Ring) has(kid string) bool {
	for _, k := range r.snapshot() {
		if k.id == kid {
			return true
		}
	}
	return false
}

// Trusted returns the keys an agent should pin at approval: every key not
// retired at now, with its retirement time.
func (r *Ring) Trusted(now time.Time) []wire.ConfigKey {
	_ = r.refresh(reloadEvery)
	var out []wire.ConfigKey
	for _, k := range r.snapshot() {
		if k.retiresAt == nil || now.Before(*k.retiresAt) {
			out = append(out, wire.ConfigKey{KeyID: k.id, PublicKey: k.pub, RetiresAt: k.retiresAt})
		}
	}
	return out
}
