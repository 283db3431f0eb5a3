package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/streamforge/streamforge/pkg/wire"

	"github.com/streamforge/streamforge/internal/durable"
)

// State is what the agent keeps on disk about the control plane: whether
// it has enrolled, its claim code until it is approved, and the last config
// it applied successfully (the last-known-good, run again after a restart
// while the control plane is away), with the signed bundle it came in, the
// config signing keys it trusts and the newest version it applied. Tokens are never stored: a new one is
// obtained on proof of possession at each start.
//
// The claim code is a secret: with a TPM (Options.Sealer) the file holds
// it only sealed to the TPM (SealedClaimCode); without one, in ClaimCode,
// in a file only the agent's user can read (0600 in a 0700 directory).
type State struct {
	GatewayID       string               `json:"gateway_id"`
	Enrolled        bool                 `json:"enrolled"`
	Status          string               `json:"status"`
	ClaimCode       string               `json:"claim_code,omitempty"`
	SealedClaimCode []byte               `json:"sealed_claim_code,omitempty"`
	ClaimExpiresAt  time.Time            `json:"claim_expires_at,omitempty"`
	Config          *wire.ConfigResponse `json:"config,omitempty"`
	// ConfigTrust holds the pinned config signing keys and the newest
	// config version applied (anti-rollback); ConfigError why the newest
	// bundle delivered was refused or failed to apply.
	ConfigTrust ConfigTrust `json:"config_trust"`
	ConfigError string      `json:"config_error,omitempty"`
}

const stateFile = "controlplane.json"

// LoadState reads the state in dir (an empty State if there is none).
func LoadState(dir string) (State, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("%s: %w", stateFile, err)
	}
	return s, nil
}

// Save writes the state atomically (write, fsync, rename), so a crash
// leaves the old or the new state, never half of one. The file is 0600.
func (s State) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, stateFile), data, 0o600)
}
