package pipeline

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/streamforge/streamforge/adapters/modbus"
	"github.com/streamforge/streamforge/adapters/opcua"
)

// Adapter is one entry of the adapters list: `type: modbus` or
// `type: opcua`, and that adapter's own configuration beside it (see
// adapters/modbus and adapters/opcua).
type Adapter struct {
	Type   string
	Modbus *modbus.Config
	OPCUA  *opcua.Config
}

// UnmarshalYAML decodes the type, then the rest strictly into its config.
func (a *Adapter) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &adapterError{line: n.Line, col: n.Column, err: &fieldError{msg: "an adapter is a map with a type", line: n.Line}}
	}
	rest := *n
	rest.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			a.Type = n.Content[i+1].Value
			continue
		}
		rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
	}
	switch a.Type {
	case "modbus":
		a.Modbus = &modbus.Config{}
		return decodeStrict(&rest, a.Modbus)
	case "opcua":
		a.OPCUA = &opcua.Config{}
		return decodeStrict(&rest, a.OPCUA)
	default:
		return &adapterError{line: n.Line, col: n.Column,
			err: &fieldError{path: "type", msg: fmt.Sprintf("%q is not modbus or opcua", a.Type), line: n.Line}}
	}
}

// decodeStrict decodes n into v rejecting unknown fields, which a node's
// own Decode does not do. The errors of that second decode count lines from
// the adapter; they are turned into field paths (yamlerr.go).
func decodeStrict(n *yaml.Node, v any) error {
	data, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var sub yaml.Node
		var fe *fieldError
		if yaml.Unmarshal(data, &sub) == nil &&
			errors.As(explainYAML(err, &sub, &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}), &fe) {
			return &adapterError{line: n.Line, col: n.Column, err: fe}
		}
		return fmt.Errorf("adapter starting line %d: %w", n.Line, err)
	}
	return nil
}

// Name is the adapter instance's configured name.
func (a *Adapter) Name() string {
	if a.OPCUA != nil {
		return a.OPCUA.Name
	}
	if a.Modbus != nil {
		return a.Modbus.Name
	}
	return ""
}

// Validate checks the adapter's own configuration, naming the field
// (adapters/modbus and adapters/opcua own those rules).
func (a *Adapter) Validate() error {
	if a.OPCUA != nil {
		return opcua.Validate(*a.OPCUA)
	}
	return modbus.Validate(*a.Modbus)
}
