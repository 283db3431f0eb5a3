// Package wire holds what the agent and the control plane exchange: the
// gateway API's request and response bodies, the messages a gateway signs
// to prove it holds its identity key, and claim codes. It is the only
// package both sides import.
package wire

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Identity is the public half of a gateway's identity. PublicKey (PEM
// "PUBLIC KEY") is the signing key the gateway proves possession with.
//
// Kind "tpm": the key lives in a TPM. Evidence carries the TPM's EK (and
// EK certificate) and AK parameters (pki/attestca.Evidence), and
// Certification the AK's certification of the key; the gateway is bound to
// its EK and must pass credential activation. Kind "key": a software key
// (--insecure-software-identity), bound to that key alone.
type Identity struct {
	Kind          string            `json:"kind"`
	PublicKey     string            `json:"public_key"`
	Evidence      json.RawMessage   `json:"evidence,omitempty"`
	Certification *KeyCertification `json:"certification,omitempty"`
}

// KeyCertification is go-attestation's CertificationParameters of the
// identity key, as certified by the AK.
type KeyCertification struct {
	Public            []byte `json:"public"`
	CreateData        []byte `json:"create_data"`
	CreateAttestation []byte `json:"create_attestation"`
	CreateSignature   []byte `json:"create_signature"`
}

// ActivateRequest answers a TPM enrollment's credential activation
// challenge (POST /api/v1/gateways/activate).
type ActivateRequest struct {
	GatewayID string `json:"gateway_id"`
	Secret    []byte `json:"secret"`
}

// EnrollRequest is POST /api/v1/gateways/enroll.
type EnrollRequest struct {
	GatewayID       string            `json:"gateway_id"`
	EnrollmentToken string            `json:"enrollment_token"`
	Hostname        string            `json:"hostname"`
	HardwareInfo    map[string]string `json:"hardware_info"`
	Identity        Identity          `json:"identity"`
	// Nonce is a fresh single-use nonce for GatewayID from POST
	// /api/v1/gateways/enroll/challenge: a request can be used once.
	Nonce string `json:"nonce"`
	// Proof signs EnrollMessage of the request (every field above) with
	// the identity key; SignEnroll sets it.
	Proof []byte `json:"proof"`
}

// EnrollResponse answers an enrollment.
type EnrollResponse struct {
	GatewayID string `json:"gateway_id"`
	Status    string `json:"status"`
	Site      string `json:"site"`
	// ClaimCode is the gateway's secret claim code, in the answer to an
	// enrollment of a gateway not yet approved, and nowhere else: the
	// control plane keeps only its hash. The agent shows it on its console
	// and status page, for a technician at the device.
	ClaimCode      string    `json:"claim_code,omitempty"`
	ClaimExpiresAt time.Time `json:"claim_expires_at"`
	// EKVerified is false for a TPM whose EK certificate chains to no
	// known manufacturer: the gateway waits for an admin's review.
	EKVerified bool `json:"ek_verified"`
	// Credential is the activation challenge (status "activating"): the
	// agent decrypts it with its TPM and answers with ActivateRequest.
	Credential json.RawMessage `json:"credential,omitempty"`
}

// ChallengeRequest asks for a nonce to sign (POST /api/v1/gateways/token/challenge).
type ChallengeRequest struct {
	GatewayID string `json:"gateway_id"`
}

// ChallengeResponse carries a single-use nonce.
type ChallengeResponse struct {
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TokenRequest is POST /api/v1/gateways/token and .../token/renew: the
// nonce signed with the identity key.
type TokenRequest struct {
	GatewayID string `json:"gateway_id"`
	Nonce     string `json:"nonce"`
	Signature []byte `json:"signature"`
}

// TokenResponse carries a gateway token.
type TokenResponse struct {
	GatewayID string    `json:"gateway_id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// ConfigKeys are the control plane's config signing keys: an agent
	// with none pinned yet pins them at its first token (after approval,
	// over the channel it authenticated with TLS and its identity proof).
	ConfigKeys []ConfigKey `json:"config_keys,omitempty"`
}

// AdapterState is one adapter device's health in a heartbeat.
type AdapterState struct {
	Name      string `json:"name"`
	Device    string `json:"device"`
	Connected bool   `json:"connected"`
	LastError string `json:"last_error,omitempty"`
	// Faults counts the device's bad answers so far (Modbus exceptions, OPC
	// UA bad statuses, ...); the agent's metrics break them down by tag and code.
	Faults uint64 `json:"faults,omitempty"`
}

// Heartbeat is POST /api/v1/gateways/{id}/heartbeat.
type Heartbeat struct {
	Status        string `json:"status"`
	AgentVersion  string `json:"agent_version"`
	ConfigVersion int    `json:"config_version"`
	// ConfigError says why the newest config was refused or failed to
	// apply (the gateway runs its last-known-good); empty when all is well.
	ConfigError string `json:"config_error,omitempty"`
	BufferDepth int64  `json:"buffer_depth"`
	// ReadingsTotal counts the readings the agent has buffered since its
	// buffer was created; the cloud derives readings/s from its growth.
	ReadingsTotal uint64         `json:"readings_total,omitempty"`
	Adapters      []AdapterState `json:"adapters"`
	// BufferBytes of BufferMaxBytes are in the buffer (its fill), and
	// DroppedTotal counts the readings a full buffer or disk dropped since
	// the agent started: the cloud's buffer alarms read them.
	BufferBytes    int64  `json:"buffer_bytes,omitempty"`
	BufferMaxBytes int64  `json:"buffer_max_bytes,omitempty"`
	DroppedTotal   uint64 `json:"dropped_total,omitempty"`
	// CertRenewalError is why the agent's last attempt to renew its mTLS
	// certificate (or to get the AK certificate that renewal needs)
	// failed; empty once a renewal succeeds. The cloud's
	// certificate_renewal_error alarm reads it.
	CertRenewalError string `json:"cert_renewal_error,omitempty"`
}

// ConfigResponse is GET /api/v1/gateways/{id}/config/current. The agent
// applies only what Bundle's verified payload says; GatewayID, Version and
// Config repeat it for people and are not trusted. SigningKeys is the
// chain of key endorsements up to the key that signed the bundle.
type ConfigResponse struct {
	GatewayID   string           `json:"gateway_id"`
	Version     int              `json:"version"`
	Config      json.RawMessage  `json:"config"`
	Bundle      *ConfigBundle    `json:"bundle,omitempty"`
	SigningKeys []KeyEndorsement `json:"signing_keys,omitempty"`
}

// EnrollMessage is what an enrolling gateway signs: a digest of every
// field of req but the proof, each length-prefixed (hardware_info in key
// order, the evidence JSON compacted), so no field can be changed or moved
// into another without breaking the signature, and the nonce makes each
// signed request single-use.
func EnrollMessage(req *EnrollRequest) ([]byte, error) {
	var evidence bytes.Buffer
	if len(req.Identity.Evidence) > 0 {
		if err := json.Compact(&evidence, req.Identity.Evidence); err != nil {
			return nil, fmt.Errorf("identity.evidence: %w", err)
		}
	}
	h := sha256.New()
	put := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	tok := sha256.Sum256([]byte(req.EnrollmentToken))
	for _, f := range []string{req.GatewayID, hex.EncodeToString(tok[:]), req.Nonce, req.Hostname,
		req.Identity.Kind, req.Identity.PublicKey, strconv.Itoa(len(req.HardwareInfo))} {
		put([]byte(f))
	}
	keys := make([]string, 0, len(req.HardwareInfo))
	for k := range req.HardwareInfo {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		put([]byte(k))
		put([]byte(req.HardwareInfo[k]))
	}
	put(evidence.Bytes())
	if c := req.Identity.Certification; c != nil {
		put([]byte{1})
		for _, b := range [][]byte{c.Public, c.CreateData, c.CreateAttestation, c.CreateSignature} {
			put(b)
		}
	} else {
		put([]byte{0})
	}
	return []byte("streamforge-enroll-v2\n" + hex.EncodeToString(h.Sum(nil))), nil
}

// SignEnroll sets req.Proof: req signed with the identity key signer.
func SignEnroll(signer crypto.Signer, req *EnrollRequest) error {
	if len(req.Identity.Evidence) > 0 {
		// The evidence as encoding/json will send it (compact, HTML
		// escaped), so that the control plane hashes the same bytes.
		ev, err := json.Marshal(req.Identity.Evidence)
		if err != nil {
			return fmt.Errorf("identity.evidence: %w", err)
		}
		req.Identity.Evidence = ev
	}
	msg, err := EnrollMessage(req)
	if err != nil {
		return err
	}
	if req.Proof, err = Sign(signer, msg); err != nil {
		return fmt.Errorf("sign enrollment: %w", err)
	}
	return nil
}

// TokenMessage is what a gateway signs to get or renew its token.
func TokenMessage(gatewayID, nonce string) []byte {
	return []byte("streamforge-gateway-token-v1\n" + gatewayID + "\n" + nonce)
}

// Sign signs msg with signer (ECDSA and RSA sign its SHA-256; Ed25519 signs
// it whole), as Verify expects.
func Sign(signer crypto.Signer, msg []byte) ([]byte, error) {
	if _, ok := signer.Public().(ed25519.PublicKey); ok {
		return signer.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	d := sha256.Sum256(msg)
	return signer.Sign(rand.Reader, d[:], crypto.SHA256)
}

// ErrBadSignature means a proof did not verify.
var ErrBadSignature = errors.New("signature does not verify with the gateway's identity key")

// Verify checks sig over msg with pub (ECDSA ASN.1, RSA PKCS#1 v1.5 or
// PSS, or Ed25519).
func Verify(pub crypto.PublicKey, msg, sig []byte) error {
	d := sha256.Sum256(msg)
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, d[:], sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil ||
			rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, nil) == nil
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	default:
		return fmt.Errorf("unsupported identity key type %T", pub)
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// PublicKeyPEM encodes pub as PEM "PUBLIC KEY".
func PublicKeyPEM(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// ParsePublicKeyPEM decodes a PEM "PUBLIC KEY" and returns the key and the
// hex SHA-256 fingerprint of its DER encoding.
func ParsePublicKeyPEM(s string) (crypto.PublicKey, string, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, "", errors.New("public_key must be a PEM PUBLIC KEY")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("public_key: %w", err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, "", errors.New("public_key: RSA keys must have at least 2048 bits")
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, "", fmt.Errorf("public_key: unsupported key type %T", pub)
	}
	fp := sha256.Sum256(block.Bytes)
	return pub, hex.EncodeToString(fp[:]), nil
}
