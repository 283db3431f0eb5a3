package pipelines

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// maxExpandedYAML bounds what a YAML document may grow to once its
// aliases are expanded, in bytes of JSON (about: each scalar counts its
// text and three bytes of quotes and separator, each list or map two).
// yaml.v3 refuses documents with many aliases, but under its threshold
// 99 aliases of one 200 kB anchor decoded into 20 MB of values and 96 MB
// of allocations per request. A document without aliases stays well
// inside this bound at MaxSpecBytes.
const maxExpandedYAML = 4 * MaxSpecBytes

// checkExpansion refuses src when its aliases expand past
// maxExpandedYAML. It parses into nodes only (an alias stays a pointer to
// its anchor), sizing each anchor once.
func checkExpansion(src []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	sizes := map[*yaml.Node]int{}
	var size func(n *yaml.Node, depth int) int
	size = func(n *yaml.Node, depth int) int {
		if n == nil || depth > 1000 {
			return maxExpandedYAML + 1 // deeper than any config: yaml.v3 refuses such nesting too
		}
		if s, ok := sizes[n]; ok {
			return s
		}
		sizes[n] = maxExpandedYAML + 1 // an alias of itself (a cycle) is refused
		s := 2
		switch n.Kind {
		case yaml.ScalarNode:
			s = len(n.Value) + 3
		case yaml.AliasNode:
			s = size(n.Alias, depth+1)
		default:
			for _, c := range n.Content {
				s += size(c, depth+1)
				if s > maxExpandedYAML {
					break
				}
			}
		}
		sizes[n] = s
		return s
	}
	if size(&root, 0) > maxExpandedYAML {
		return fmt.Errorf("its anchors and aliases expand to more than %d bytes", maxExpandedYAML)
	}
	return nil
}
