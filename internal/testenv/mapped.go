package testenv

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// MappedRSS is the resident memory, in kB, of process pid's mappings of
// files named name (from /proc/PID/smaps; pid 0 is this process).
func MappedRSS(t testing.TB, pid int, name string) float64 {
	t.Helper()
	path := "/proc/self/smaps"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/smaps", pid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	in := false
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-"): // a mapping's header
			in = strings.HasSuffix(fields[len(fields)-1], "/"+name)
		case in && len(fields) == 3 && fields[0] == "Rss:":
			v, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", path, line, err)
			}
			sum += v
		}
	}
	return sum
}
