package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeOverlay decodes a config that the control plane delivers to a
// gateway: a JSON object holding some of Keys, which the gateway overlays
// on its local agent.yaml (agent/config.Merge). Any other key is refused.
// Numbers stay as written: as float64 a whole number would reach YAML as
// 1.048576e+06, which a size such as buffer.max_bytes refuses.
func DecodeOverlay(doc []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || top == nil {
		return nil, errors.New("must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("must be one JSON object")
	}
	var other []string
	for k := range top {
		if !Keys[k] {
			other = append(other, k)
		}
	}
	if len(other) > 0 {
		slices.Sort(other)
		return nil, fmt.Errorf("%s: not a setting the control plane may deliver (only adapters, kafka, buffer, log_level)", strings.Join(other, ", "))
	}
	for k, v := range top {
		top[k] = plainNumbers(v)
	}
	return top, nil
}

// plainNumbers turns the json.Numbers in v into int64 (whole numbers) or
// float64, which YAML writes as JSON wrote them.
func plainNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64() // a json.Number from the decoder is a valid number
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = plainNumbers(e)
		}
	}
	return v
}

// CheckOverlay checks a config that the control plane delivers to a
// gateway (DecodeOverlay) as the gateway checks it after the overlay: each
// key present is decoded strictly (unknown fields and wrong types are
// errors naming the field path) and validated as Parse validates it. A key
// it lacks keeps the gateway's local setting, which only the gateway can
// check; so does what Parse leaves to the gateway (secrets, files).
func CheckOverlay(doc []byte) error {
	top, err := DecodeOverlay(doc)
	if err != nil {
		return err
	}
	// The same YAML the gateway decodes after agent/config.Merge.
	y, err := yaml.Marshal(top)
	if err != nil {
		return fmt.Errorf("must be a JSON object: %w", err)
	}
	var s Spec
	if err := DecodeStrict(y, &s); err != nil && !errors.Is(err, ErrEmpty) {
		return withoutLine(err)
	}
	s.SetDefaults()
	return s.validate(func(k string) bool { _, ok := top[k]; return ok })
}

// withoutLine drops the line from a field error: it counts lines of the
// YAML made from the JSON, not of the document the caller sent.
func withoutLine(err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		c := *fe
		c.line = 0
		return &c
	}
	return err
}
