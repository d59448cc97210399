// Command istio-crds prints Istio's CustomResourceDefinitions (a YAML stream) from the
// istio.io/istio/manifests package, the embedded charts istioctl installs them from.
package main

import (
	"fmt"
	"io/fs"
	"os"

	"istio.io/istio/manifests"
)

// The base chart's file with every Istio CRD, generated upstream from the API protos.
const crdFile = "charts/base/files/crd-all.gen.yaml"

func main() {
	data, err := fs.ReadFile(manifests.BuiltinOrDir(""), crdFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "istio-crds: %s: %v\n", crdFile, err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(data); err != nil {
		fmt.Fprintf(os.Stderr, "istio-crds: %v\n", err)
		os.Exit(1)
	}
}
