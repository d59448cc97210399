// Package crds makes the wrapper module require the API packages controller-gen reads;
// it is never built into a program.
package crds

import (
	_ "github.com/open-telemetry/opentelemetry-operator/apis/v1alpha1"
	_ "github.com/open-telemetry/opentelemetry-operator/apis/v1beta1"
)
