package wire

// SecretsResponse answers GET /api/v1/gateways/{id}/secrets on the mTLS
// gateway listener: the values of the `${secret:name}` references in the
// gateway's deployed config version, and the referenced names that the
// control plane does not hold (the agent then looks for them locally).
type SecretsResponse struct {
	ConfigVersion int               `json:"config_version"`
	Secrets       map[string]string `json:"secrets"`
	Missing       []string          `json:"missing"`
}
