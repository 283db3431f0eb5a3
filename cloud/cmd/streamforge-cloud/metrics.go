package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/streamforge/streamforge/cloud/auth"
)

// newRegistry is the one registry /metrics serves: the process's Go
// runtime and resource figures, the password hashing pool, and whatever
// the services add when they are built with it.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(auth.HashMetrics()...)
	return reg
}
