"""The SLO tier: k6 runs judged against the policy's SLOs.

One-way flow, one small module per step::

    config      policy.yaml -> k6 JSON config (thresholds, scenario sizes)
    runner      k6 subprocess: bounded, process-group kill, log digest
    k6_summary  handleSummary / --summary-export JSON -> Summary
    timeseries  k6 CSV output -> per-second buckets, per-route table
    plot        Series -> self-contained SVG
    evaluate    all of the above -> one SloResult per SLO (or InfraError)
    target      the reference gateway (aiohttp, fault injection), run by `launcher`
    testrun     k6-operator TestRun for distributed prod runs

Kept import-free so `python -m conformance.slo.target` starts fast.
"""
