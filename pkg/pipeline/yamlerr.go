package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports a value of the wrong type or out of range as "line 7:
// cannot unmarshal !!int `300` into uint8", and an unknown field as "line 7:
// field foo not found in type modbus.Device": Go types, and for an adapter
// (decoded from its own sub-document) a line counted from the adapter. The
// functions here turn those into errors that name the field path, such as
// "adapters[0].devices[1].unit_id: 300 is not a whole number from 0 to 255
// (line 14)".

// fieldError is a configuration error at a field path.
type fieldError struct {
	path string
	msg  string
	line int // in the configuration file; 0 when unknown
}

func (e *fieldError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", e.path, e.msg, e.line)
	}
	return e.path + ": " + e.msg
}

// adapterError is a fieldError inside the adapter whose mapping starts at
// line:col; Parse prefixes the adapter's own path.
type adapterError struct {
	line, col int
	err       *fieldError
}

func (e *adapterError) Error() string { return e.err.Error() }

var (
	typeErrRE    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!\\w+ `(.*)` into (.+)$")
	unknownErrRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type .+$`)
	// A list or map where a value or another kind goes ("buffer: [1]").
	kindErrRE = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(seq|map) into (.+)$`)
)

// explainYAML rewrites the first error of a yaml.TypeError as a fieldError.
// find is the document the error's line numbers refer to; orig is the same
// tree as the configuration file holds it (the same node for the top-level
// document), which gives the absolute line.
func explainYAML(err error, find, orig *yaml.Node) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return err
	}
	first := te.Errors[0]
	if m := typeErrRE.FindStringSubmatch(first); m != nil {
		line, _ := strconv.Atoi(m[1])
		var value string
		if steps, path, ok := locate(find, func(n *yaml.Node, _ *yaml.Node) bool {
			// yaml.v3 shortens long values to their start and "..."
			short, cut := strings.CutSuffix(m[2], "...")
			if n.Line != line || n.Kind != yaml.ScalarNode || !(n.Value == m[2] || cut && strings.HasPrefix(n.Value, short)) {
				return false
			}
			value = n.Value
			return true
		}); ok {
			return &fieldError{path: path, msg: fmt.Sprintf("%q is not %s", value, describe(m[3])), line: lineOf(orig, steps)}
		}
	}
	if m := unknownErrRE.FindStringSubmatch(first); m != nil {
		line, _ := strconv.Atoi(m[1])
		if steps, path, ok := locate(find, func(n *yaml.Node, key *yaml.Node) bool {
			return key != nil && key.Line == line && key.Value == m[2]
		}); ok {
			return &fieldError{path: path, msg: "unknown field", line: lineOf(orig, steps)}
		}
	}
	if m := kindErrRE.FindStringSubmatch(first); m != nil {
		line, _ := strconv.Atoi(m[1])
		kind, what := yaml.SequenceNode, "a list"
		if m[2] == "map" {
			kind, what = yaml.MappingNode, "a map"
		}
		if steps, path, ok := locate(find, func(n *yaml.Node, _ *yaml.Node) bool { return n.Line == line && n.Kind == kind }); ok {
			return &fieldError{path: path, msg: fmt.Sprintf("%s is not %s", what, describe(m[3])), line: lineOf(orig, steps)}
		}
	}
	return err
}

// locate finds the first node match accepts (given the node and, for a
// mapping value, its key) and returns the child indices leading to it and its
// path ("kafka.window", "adapters[0].devices[1].unit_id").
func locate(root *yaml.Node, match func(n, key *yaml.Node) bool) ([]int, string, bool) {
	var steps []int
	var walk func(n *yaml.Node, path string) (string, bool)
	walk = func(n *yaml.Node, path string) (string, bool) {
		switch n.Kind {
		case yaml.DocumentNode:
			for i, c := range n.Content {
				steps = append(steps, i)
				if p, ok := walk(c, path); ok {
					return p, true
				}
				steps = steps[:len(steps)-1]
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, val := n.Content[i], n.Content[i+1]
				p := key.Value
				if path != "" {
					p = path + "." + key.Value
				}
				steps = append(steps, i+1)
				if match(val, key) {
					return p, true
				}
				if found, ok := walk(val, p); ok {
					return found, true
				}
				steps = steps[:len(steps)-1]
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				steps = append(steps, i)
				if match(c, nil) {
					return p, true
				}
				if found, ok := walk(c, p); ok {
					return found, true
				}
				steps = steps[:len(steps)-1]
			}
		}
		return "", false
	}
	path, ok := walk(root, "")
	return steps, path, ok
}

// lineOf follows child indices from root and returns that node's line (0
// if the trees differ).
func lineOf(root *yaml.Node, steps []int) int {
	n := root
	for _, i := range steps {
		if i >= len(n.Content) {
			return 0
		}
		n = n.Content[i]
	}
	return n.Line
}

// pathAt returns the path of the node at line:col in root.
func pathAt(root *yaml.Node, line, col int) (string, bool) {
	_, path, ok := locate(root, func(n, _ *yaml.Node) bool { return n.Line == line && n.Column == col })
	return path, ok
}

// describe says in words what a Go type accepts.
func describe(goType string) string {
	switch goType {
	case "uint8":
		return "a whole number from 0 to 255"
	case "uint16":
		return "a whole number from 0 to 65535"
	case "uint32":
		return "a whole number from 0 to 4294967295"
	case "uint", "uint64":
		return "a whole number, 0 or more"
	case "int8":
		return "a whole number from -128 to 127"
	case "int16":
		return "a whole number from -32768 to 32767"
	case "int32":
		return "a whole number from -2147483648 to 2147483647"
	case "int", "int64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "time.Duration":
		return "a duration such as 500ms, 5s or 2m"
	case "units.ByteSize":
		return "a size such as 268435456 or 256MiB"
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a map"
	}
	return "valid here"
}
