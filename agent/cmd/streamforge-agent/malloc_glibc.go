//go:build linux && cgo && !musl

package main

/*
#include <malloc.h>
*/
import "C"

import "os"

// init caps glibc's malloc arenas at two before librdkafka starts its
// threads. glibc gives each thread that meets contention an arena of its
// own and keeps what is freed in it: librdkafka's threads, and the Go
// threads that produce through cgo, spread its message queue over a dozen
// arenas (measured: 22 MB resident in nine of them at 180,000 readings/s).
// Two arenas is the usual remedy (MALLOC_ARENA_MAX=2, as for JVMs and
// Ruby); an operator's MALLOC_ARENA_MAX, which glibc reads itself, wins.
// The static musl build has no per-thread arenas.
func init() {
	if os.Getenv("MALLOC_ARENA_MAX") == "" {
		C.mallopt(C.M_ARENA_MAX, 2)
	}
}
