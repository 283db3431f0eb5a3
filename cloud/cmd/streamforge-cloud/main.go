// Command streamforge-cloud runs the StreamForge control plane.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "streamforge-cloud: not yet implemented")
	os.Exit(1)
}
