package config

import (
	"encoding/json"
	"fmt"
	"sort"

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
func Merge(local []byte, remote json.RawMessage) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(local, &doc); err != nil {
		return nil, fmt.Errorf("local config: %w", err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	var over map[string]any
	if err := json.Unmarshal(remote, &over); err != nil {
		return nil, fmt.Errorf("control plane config: not a JSON object: %w", err)
	}
	var refused []string
	for k, v := range over {
		if !RemoteKeys[k] {
			refused = append(refused, k)
			continue
		}
		doc[k] = v
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		return nil, fmt.Errorf("control plane config may not set %v (only adapters, kafka, buffer, log_level)", refused)
	}
	return yaml.Marshal(doc)
}
