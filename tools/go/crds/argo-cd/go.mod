// Wrapper module: Argo CD's CRDs (argoproj.io Application, AppProject, ApplicationSet) as the module ships them.
// Used by tools/build-crds.sh (see generate.env here): only the pinned module's zip is
// downloaded (go.sum pins it), no Go code is built.
module tartware.local/conformance/tools/go/crds/argo-cd

go 1.26.0

require github.com/argoproj/argo-cd/v3 v3.4.9
