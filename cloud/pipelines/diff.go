package pipelines

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Change is one field that differs between two versions: its path in the
// document ("adapters[0].devices[1].poll_groups[0].interval") and its old
// and new values (nil where the field is absent).
type Change struct {
	Path string `json:"path"`
	Old  any    `json:"old"`
	New  any    `json:"new"`
}

// Diff compares two JSON documents field by field: every leaf (a scalar,
// or an empty object or list) whose value differs, or that only one side
// has, is a Change, in path order. Lists compare by position, as the
// agent reads them (adapters[1] is the second adapter whatever its name).
// A library producing JSON Patch would name fields with RFC 6901 pointers
// ("/adapters/0/devices"); the spec's audit record and the agent's errors
// use these paths, so the flattening is done here, in a few lines.
func Diff(oldDoc, newDoc []byte) ([]Change, error) {
	a, err := flatten(oldDoc)
	if err != nil {
		return nil, fmt.Errorf("old version: %w", err)
	}
	b, err := flatten(newDoc)
	if err != nil {
		return nil, fmt.Errorf("new version: %w", err)
	}
	paths := slices.Sorted(maps.Keys(a))
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []Change
	for _, p := range paths {
		ov, inOld := a[p]
		nv, inNew := b[p]
		if inOld && inNew && equal(ov, nv) {
			continue
		}
		out = append(out, Change{Path: p, Old: ov, New: nv})
	}
	return out, nil
}

// flatten maps every leaf path of a JSON document to its value.
func flatten(doc []byte) (map[string]any, error) {
	out := map[string]any{}
	if len(doc) == 0 {
		return out, nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	walk("", v, out)
	return out, nil
}

func walk(path string, v any, out map[string]any) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 && path != "" {
			out[path] = t
		}
		for k, c := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(p, c, out)
		}
	case []any:
		if len(t) == 0 {
			out[path] = t
		}
		for i, c := range t {
			walk(fmt.Sprintf("%s[%d]", path, i), c, out)
		}
	default:
		out[path] = v
	}
}

func equal(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
