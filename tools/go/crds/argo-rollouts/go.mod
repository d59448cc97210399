// Wrapper module: Argo Rollouts' CRDs (argoproj.io Rollout, AnalysisTemplate, ...) as the module ships them.
// Used by tools/build-crds.sh (see generate.env here): only the pinned module's zip is
// downloaded (go.sum pins it), no Go code is built.
module tartware.local/conformance/tools/go/crds/argo-rollouts

go 1.26.0

require github.com/argoproj/argo-rollouts v1.10.1
