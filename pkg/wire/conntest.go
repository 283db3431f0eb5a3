package wire

import (
	"encoding/json"
	"time"
)

// ConnectionTestsHeader, on a config poll's answer, tells the gateway that
// connection tests wait for it: the request travels with the poll it makes
// anyway, and only then does it fetch them (GET .../connection-tests).
const ConnectionTestsHeader = "X-Streamforge-Connection-Tests"

// ConnectionTest asks a gateway to connect to one source and read one poll
// group once, beside its running data path. Adapter is one adapters entry
// of a pipeline document (type, name and one device) as JSON.
type ConnectionTest struct {
	ID        uint64          `json:"id"`
	Adapter   json.RawMessage `json:"adapter"`
	Device    string          `json:"device"`
	PollGroup string          `json:"poll_group"`
}

// ConnectionTestValue is one tag's value read by a connection test.
type ConnectionTestValue struct {
	Tag     string `json:"tag"`
	Type    string `json:"type"`
	Value   any    `json:"value"`
	Quality string `json:"quality"`
}

// ConnectionTestResult is what the gateway posts back: the values read,
// or the error that stopped the test.
type ConnectionTestResult struct {
	Values     []ConnectionTestValue `json:"values"`
	Error      string                `json:"error,omitempty"`
	DurationMS int64                 `json:"duration_ms"`
	ReadAt     time.Time             `json:"read_at"`
}
