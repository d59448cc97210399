"""Reporting: one Allure report of every tier, and a gate that cannot pass empty.

allure_labels  labels (epic = tier, feature, story, severity) and redacted attachments
redact         secrets out of every message and attachment
categories     why a result is not green (categories.json), in the suite's terms
environment    environment.properties: settings, tool versions, git revision
gate, hooks    pytest side: fail a tier that checked nothing; record settings; case ids
allure_html    prepare + generate with the pinned Allure CLI (`python -m conformance.report`)
sample         a tiny real session with every outcome in every tier (self-tests, preview)
"""
