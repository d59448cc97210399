"""Behaviour tier: the platform on a real control plane (see conftest.py and each test module)."""
