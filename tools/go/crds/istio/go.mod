// Wrapper module: Istio's CRD manifests as its manifests package embeds them (the way istioctl installs them).
// Used by tools/build-crds.sh (see generate.env here); go.sum pins every module.
module tartware.local/conformance/tools/go/crds/istio

go 1.26.0

require istio.io/istio v0.0.0-20260827124520-eed52ebb66ad
