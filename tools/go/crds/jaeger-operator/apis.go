// Package crds makes the wrapper module require the API packages controller-gen reads;
// it is never built into a program.
package crds

import (
	_ "github.com/jaegertracing/jaeger-operator/apis/v1"
)
