// Package secretbox owns the envelope encryption of the secret values the
// control plane keeps: each value is encrypted with its own random data key
// (AES-256-GCM), and the data key is wrapped (AES-256-GCM again) by a
// key-encryption key (KEK) kept in a directory outside the database, one
// 0600 file per key id. A copy of the database alone therefore decrypts
// nothing. The newest KEK wraps; older ones keep unwrapping until every
// value was rewrapped (Rewrap) and their files are deleted.
//
// The primitive is the standard library's AES-GCM (pkg/secret.Encrypt):
// the envelope is the only thing built here, and it is a few lines, where
// a key-management library (Tink) would bring its own keyset format and
// dependencies.
package secretbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/streamforge/streamforge/pkg/secret"
)

// keySuffix ends a KEK file's name; the name before it is the key id.
const keySuffix = ".kek"

// ErrUnknownKey means a value was wrapped by a KEK that is not in the
// directory (deleted before the value was rewrapped, or another directory).
var ErrUnknownKey = errors.New("key-encryption key not found")

// Sealed is a value as stored: nothing in it reveals the value without the KEK.
type Sealed struct {
	KeyID      string // the KEK that wrapped DataKey
	DataKey    []byte // the wrapped data key: nonce | AES-GCM(KEK, data key)
	Ciphertext []byte // nonce | AES-GCM(data key, value)
}

// Box encrypts and decrypts with the KEKs of one directory.
type Box struct {
	dir  string
	mu   sync.RWMutex
	keys map[string][]byte
	ids  []string // oldest first: ids sort by creation time
}

// Open reads the KEKs in dir, creating the directory (0700) and a first key
// when there is none.
func Open(dir string) (*Box, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secret key dir: %w", err)
	}
	b := &Box{dir: dir}
	if err := b.reload(); err != nil {
		return nil, err
	}
	if len(b.ids) == 0 {
		if _, err := b.Rotate(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *Box) reload() error {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("secret key dir: %w", err)
	}
	keys := map[string][]byte{}
	var ids []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), keySuffix)
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(b.dir, e.Name())
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("secret key %s: %w", path, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("secret key %s: mode %04o lets others read it; chmod 0600", path, fi.Mode().Perm())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("secret key %s: %w", path, err)
		}
		k, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(k) != 32 {
			return fmt.Errorf("secret key %s: want 64 hex digits (a 256-bit key)", path)
		}
		keys[id] = k
		ids = append(ids, id)
	}
	sort.Strings(ids)
	b.mu.Lock()
	b.keys, b.ids = keys, ids
	b.mu.Unlock()
	return nil
}

// Rotate adds a new KEK, which wraps from now on, and returns its id.
// Values wrapped by older KEKs still open; Rewrap moves them to the new one.
func (b *Box) Rotate() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	// The time first makes the ids sort by age; the suffix keeps two
	// replicas rotating in the same second apart.
	id := time.Now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(suffix)
	path := filepath.Join(b.dir, id+keySuffix)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("secret key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("secret key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("secret key %s: %w", path, err)
	}
	return id, b.reload()
}

// Newest is the id of the KEK that wraps new values.
func (b *Box) Newest() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.ids[len(b.ids)-1]
}

func (b *Box) key(id string) ([]byte, error) {
	b.mu.RLock()
	k, ok := b.keys[id]
	b.mu.RUnlock()
	if !ok {
		// Another replica may have rotated since this one read the directory.
		if err := b.reload(); err != nil {
			return nil, err
		}
		b.mu.RLock()
		k, ok = b.keys[id]
		b.mu.RUnlock()
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", id, ErrUnknownKey)
	}
	return k, nil
}

// Seal encrypts value under a fresh data key wrapped by the newest KEK.
// name is bound to both ciphertexts (GCM's additional data), so a value
// copied onto another secret's row does not open.
func (b *Box) Seal(name string, value []byte) (Sealed, error) {
	// Another replica may have rotated: wrap with the newest key there is
	// (values are written rarely; the directory is small).
	if err := b.reload(); err != nil {
		return Sealed{}, err
	}
	dk := make([]byte, 32)
	if _, err := rand.Read(dk); err != nil {
		return Sealed{}, err
	}
	ct, err := secret.Encrypt(dk, value, []byte("v:"+name))
	if err != nil {
		return Sealed{}, err
	}
	return b.wrap(name, dk, ct)
}

// wrap wraps data key dk of name's ciphertext ct with the newest KEK.
func (b *Box) wrap(name string, dk, ct []byte) (Sealed, error) {
	id := b.Newest()
	kek, err := b.key(id)
	if err != nil {
		return Sealed{}, err
	}
	wrapped, err := secret.Encrypt(kek, dk, []byte("dk:"+name))
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{KeyID: id, DataKey: wrapped, Ciphertext: ct}, nil
}

// Open decrypts a value that Seal made for name.
func (b *Box) Open(name string, s Sealed) ([]byte, error) {
	dk, err := b.unwrap(name, s)
	if err != nil {
		return nil, err
	}
	v, err := secret.Decrypt(dk, s.Ciphertext, []byte("v:"+name))
	if err != nil {
		return nil, fmt.Errorf("secret %s: value does not decrypt", name)
	}
	return v, nil
}

// Rewrap wraps s's data key with the newest KEK; the value's ciphertext is
// unchanged. It returns s itself when the newest KEK wraps it already.
func (b *Box) Rewrap(name string, s Sealed) (Sealed, error) {
	id := b.Newest()
	if s.KeyID == id {
		return s, nil
	}
	dk, err := b.unwrap(name, s)
	if err != nil {
		return Sealed{}, err
	}
	return b.wrap(name, dk, s.Ciphertext)
}

func (b *Box) unwrap(name string, s Sealed) ([]byte, error) {
	kek, err := b.key(s.KeyID)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	dk, err := secret.Decrypt(kek, s.DataKey, []byte("dk:"+name))
	if err != nil {
		return nil, fmt.Errorf("secret %s: data key does not unwrap with key %s", name, s.KeyID)
	}
	return dk, nil
}
