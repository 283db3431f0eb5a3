package pipelines

import "testing"

func TestSpecErrorPlacesTheMessage(t *testing.T) {
	for msg, want := range map[string]string{
		"kafka.brokers: empty":                    "spec.kafka.brokers: empty",
		"adapters[0].name: \"\" must be set":      "spec.adapters[0].name: \"\" must be set",
		"yaml: line 2: did not find expected key": "spec: yaml: line 2: did not find expected key",
		"line 1: the configuration must be a map": "spec: line 1: the configuration must be a map",
	} {
		if got := specError(msg); got != want {
			t.Errorf("%q: %q, want %q", msg, got, want)
		}
	}
}
