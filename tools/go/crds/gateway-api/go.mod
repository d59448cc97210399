// Wrapper module: the Gateway API CRDs (gateway.networking.k8s.io) as the module ships them.
// Used by tools/build-crds.sh (see generate.env here): only the pinned module's zip is
// downloaded (go.sum pins it), no Go code is built.
module tartware.local/conformance/tools/go/crds/gateway-api

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3
