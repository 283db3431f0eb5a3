package opcua_test

import (
	"io"
	"log"
	"os"
	"testing"
)

// TestMain silences the standard logger, which gopcua's server uses to
// print its node set import on every start.
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}
