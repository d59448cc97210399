"""Schema checks: kubeconform offline (core schemas, CRDs) and the API lifecycle table."""

# The rule id under which policy.yaml `exemptions` let an object go without a schema, e.g.
#   - {rule: schema, object: VmwarevsphereConfig/fleet-default/*, owner: ..., reason: ..., expires: ...}
SCHEMA_RULE = "schema"
