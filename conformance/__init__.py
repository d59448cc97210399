"""Tartware platform conformance suite: static, behaviour and SLO tiers."""
