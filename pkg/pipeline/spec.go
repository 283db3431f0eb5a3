// Package pipeline is the schema of a gateway's data path and its
// validation, shared by the agent and the control plane so that the cloud
// can never accept a config the agent refuses: the sources (Modbus and OPC
// UA adapters with their devices, tags and poll groups), the Kafka output
// and the buffer. A Spec is exactly the part of agent.yaml that the control
// plane delivers (agent/config.RemoteKeys); agent/config embeds it and
// checks it with Validate, and the cloud checks pipeline documents with
// Parse. Errors name the field path, such as
// "adapters[0].devices[1].tags[3].address".
//
// What only the gateway can check stays with the agent: that a referenced
// secret exists there, and that certificate and trust files exist.
package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/pkg/secret"
)

// Spec is a pipeline: the part of the agent's configuration that the
// control plane defines.
type Spec struct {
	// LogLevel is debug, info (default), warn or error.
	LogLevel string    `yaml:"log_level"`
	Buffer   Buffer    `yaml:"buffer"`
	Kafka    Kafka     `yaml:"kafka"`
	Adapters []Adapter `yaml:"adapters"`
}

// Keys are a Spec's top-level keys.
var Keys = map[string]bool{"adapters": true, "kafka": true, "buffer": true, "log_level": true}

// ErrEmpty is returned for a document without settings.
var ErrEmpty = errors.New("the configuration is empty")

// Parse decodes a pipeline document (YAML, or JSON, which is YAML) with
// unknown fields refused, and validates it as the agent does.
func Parse(data []byte) (*Spec, error) {
	var s Spec
	if err := DecodeStrict(data, &s); err != nil {
		return nil, err
	}
	s.SetDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeStrict decodes a YAML map into v, refusing unknown fields, with
// errors that name the field path (yamlerr.go).
func DecodeStrict(data []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	if len(root.Content) == 0 {
		return ErrEmpty
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the configuration must be a map of settings (kafka: ..., adapters: ...)", root.Content[0].Line)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return explainDecode(err, &root)
	}
	return nil
}

// explainDecode names the field of a decode error.
func explainDecode(err error, root *yaml.Node) error {
	var ae *adapterError
	if !errors.As(err, &ae) {
		return explainYAML(err, root, root)
	}
	fe := *ae.err
	if p, ok := pathAt(root, ae.line, ae.col); ok {
		fe.path = strings.TrimSuffix(p+"."+fe.path, ".")
	}
	return &fe
}

// SetDefaults fills what is not set (the Kafka section's defaults are
// applied where it is used, so that a document keeps what it said).
func (s *Spec) SetDefaults() {
	if s.LogLevel == "" {
		s.LogLevel = "info"
	}
	s.Buffer.SetDefaults()
}

// Validate checks a defaulted Spec; secrets must be references.
func (s *Spec) Validate() error { return s.validate(func(string) bool { return true }) }

// validate checks the sections for which has is true: all of them for a
// whole Spec, those a control plane config holds for CheckOverlay.
func (s *Spec) validate(has func(key string) bool) error {
	if has("log_level") {
		switch s.LogLevel {
		case "debug", "info", "warn", "error":
		default:
			return fmt.Errorf("log_level: %q is not debug, info, warn or error", s.LogLevel)
		}
	}
	if has("buffer") {
		if err := ValidateBuffer(int64(s.Buffer.MaxBytes), s.Buffer.DefaultPolicy, s.Buffer.Streams); err != nil {
			return fmt.Errorf("buffer.%w", err)
		}
	}
	if has("kafka") {
		k := s.Kafka
		k.SetDefaults()
		if err := k.Validate(false); err != nil {
			return fmt.Errorf("kafka.%w", err)
		}
		if err := mustBeRef("kafka.security.password", k.Security.PasswordRef); err != nil {
			return err
		}
	}
	if has("adapters") {
		return validateAdapters(s.Adapters)
	}
	return nil
}

func validateAdapters(adapters []Adapter) error {
	names := map[string]bool{}
	for i := range adapters {
		a := &adapters[i]
		if a.Name() == "" || names[a.Name()] {
			return fmt.Errorf("adapters[%d].name: %q must be set and unique", i, a.Name())
		}
		names[a.Name()] = true
		if err := a.Validate(); err != nil {
			return fmt.Errorf("adapters[%d].%w", i, err) // the adapter's errors start with a field path
		}
		if a.OPCUA != nil {
			for j, srv := range a.OPCUA.Servers {
				if err := mustBeRef(fmt.Sprintf("adapters[%d].servers[%d].identity.password", i, j), srv.Identity.Password); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// mustBeRef refuses a literal secret: configurations carry references.
func mustBeRef(field, v string) error {
	if v != "" && !secret.IsRef(v) {
		return fmt.Errorf("%s: must be a ${secret:name} or ${vault:path#key} reference, not a literal value", field)
	}
	return nil
}
