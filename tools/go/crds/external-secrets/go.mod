// Wrapper module: External Secrets' CRDs (external-secrets.io, generators.external-secrets.io) as the module ships them.
// Used by tools/build-crds.sh (see generate.env here): only the pinned module's zip is
// downloaded (go.sum pins it), no Go code is built.
module tartware.local/conformance/tools/go/crds/external-secrets

go 1.26.0

require github.com/external-secrets/external-secrets v0.16.2
