// Package crds makes the wrapper module require the API packages controller-gen reads;
// it is never built into a program.
package crds

import (
	_ "github.com/rancher/rancher/pkg/apis/provisioning.cattle.io/v1"
	_ "github.com/rancher/rancher/pkg/apis/rke.cattle.io/v1"
)
