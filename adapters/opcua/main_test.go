package opcua_test

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/adapters/sim"
)

// simChildEnv makes the test binary serve the OPC UA sim instead of running
// tests ("signals,rate"), so a benchmark can measure the adapter's memory
// without the server's in the same process.
const simChildEnv = "STREAMFORGE_OPCUA_SIM_CHILD"

// TestMain silences the standard logger, which gopcua's server uses to
// print its node set import on every start.
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard)
	if spec := os.Getenv(simChildEnv); spec != "" {
		os.Exit(serveSim(spec))
	}
	os.Exit(m.Run())
}

// serveSim runs the sim until stdin closes, after printing its endpoint.
func serveSim(spec string) int {
	n, rate, _ := strings.Cut(spec, ",")
	signals, err1 := strconv.Atoi(n)
	r, err2 := strconv.ParseFloat(rate, 64)
	if err1 != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "%s: want signals,rate, got %q\n", simChildEnv, spec)
		return 2
	}
	s, err := sim.StartOPCUA("127.0.0.1:0", sim.Signals(signals), r)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening " + s.Endpoint())
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	s.Stop()
	return 0
}
