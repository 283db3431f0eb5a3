package config

import (
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/pkg/pipeline"
)

// RemoteKeys are the parts of agent.yaml that a config delivered by the
// control plane may set; the rest (identity, data directory, secrets,
// metrics, the control plane itself) stays with the local file. They are
// the keys of a pipeline (pkg/pipeline.Spec).
var RemoteKeys = pipeline.Keys

// Merge overlays a control plane config (a JSON object holding some of
// RemoteKeys) on the local agent.yaml and returns the resulting document,
// ready for Parse. Secret references in the remote part resolve locally.
// The control plane checks the remote part with pipeline.CheckOverlay,
// which decodes it the same way.
func Merge(local []byte, remote json.RawMessage) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(local, &doc); err != nil {
		return nil, fmt.Errorf("local config: %w", err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	over, err := pipeline.DecodeOverlay(remote)
	if err != nil {
		return nil, fmt.Errorf("control plane config: %w", err)
	}
	for k, v := range over {
		doc[k] = v
	}
	return yaml.Marshal(doc)
}
