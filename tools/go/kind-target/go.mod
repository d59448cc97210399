// The suite's reference target for clusters whose pods really run (kind): a Go port of
// conformance/slo/target.py (same routes, JSON and status codes, fault knobs, /metrics) plus
// --work-us, real CPU per request so the HPA scales on real CPU. Stdlib only.
// Built by tools/build-kind-node.sh into the image tartware.local/conformance/target;
// tests/test_kind_target.py builds it too and proves parity with the Python target and k6 smoke.
module tartware.local/conformance/tools/go/kind-target

go 1.26.0
