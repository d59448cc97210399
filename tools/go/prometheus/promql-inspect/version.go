package main

import "runtime/debug"

// moduleVersion is the version of the Prometheus module in this binary's build info.
func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/prometheus/prometheus" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
