"""Alerts proven: PrometheusRules checked by promtool, SLO alerts unit-tested from policy.yaml.

rulefiles   PrometheusRule objects -> Prometheus rule files (one per object)
promtool    running promtool / promql-inspect and reading their output
dashboards  Grafana panels: PromQL parses, every metric read is recorded or exported
generate    promtool unit tests generated from policy.yaml for every SLO alert
run         one cached run of all of the above for the static tier
"""
