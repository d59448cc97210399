// The suite's probe program for clusters whose pods really run (kind, existing): the probe
// pods' server (answers with its token), the client (a plan of connections from inside a
// source pod, each judged by the token that answers) and a pause process. Stdlib only.
// Built by tools/build-kind-node.sh into the images tartware.local/conformance/probe and
// registry.k8s.io/pause (the sandbox image of the kind node).
module tartware.local/conformance/tools/go/kind-probe

go 1.26.0
