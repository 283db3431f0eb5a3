package wire

import "github.com/streamforge/streamforge/pkg/secretprot"

// SecretsResponse answers GET /api/v1/gateways/{id}/secrets on the mTLS
// gateway listener: the values of the `${secret:name}` references in the
// gateway's deployed config version, and the referenced names that the
// control plane does not hold (the agent then looks for them locally).
// Destinations are, per secret, the only destinations (pkg/secretdest)
// the agent may send it to; a secret without an entry is refused for any.
// Protection is, per secret, the least protection (pkg/secretprot) the
// agent may send it with; without an entry (a control plane before
// protection bindings) only its destinations bind it.
type SecretsResponse struct {
	ConfigVersion int                              `json:"config_version"`
	Secrets       map[string]string                `json:"secrets"`
	Destinations  map[string][]string              `json:"destinations"`
	Protection    map[string]secretprot.Protection `json:"protection,omitempty"`
	Missing       []string                         `json:"missing"`
}
