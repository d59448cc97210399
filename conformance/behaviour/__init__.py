"""The behaviour tier's engine: the platform on a live cluster, judged.

platform      the render applied (CRDs, namespaces, server-side dry-run), the namespace map
exercise      which HPAs and PDBs the tier drives (policy.yaml `exercise:` or picked from the render)
hpa           one HPA on a cluster: usage driven, replica timeline recorded
scaling       HPA specs, policy intent, timelines and their checks, the timeline plot
eviction      PDB evictions and drains on real (or kwok) pods
probe_matrix  the NetworkPolicy probe matrix: every (source, destination, port) cell, expected vs seen
probe_run     the matrix on a cluster: probe pods, Services, connections (local data plane or kubectl exec)
resources     the tests' namespaces, readiness waits, Pod Security labels
blame         which object of the platform a failure points at
verdict       FAILED vs BROKEN for the tier's checks

The thin pytest files live in conformance/suites/behaviour/.
"""
