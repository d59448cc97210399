"""Cluster providers for the behaviour tier, behind one small interface (see base.py).

Importing this package registers every provider: `local` (kwokctl, default),
`kind` (Docker) and `existing` (any kubeconfig).
"""

from . import existing, kind, local
from .base import Capabilities, Cluster, Provider, WorkloadDriver, create_provider, provider_names, register
from .kube import ApiError, Kube
from .wait import Poll, WaitTimeout, wait_until

__all__ = [
    "ApiError",
    "Capabilities",
    "Cluster",
    "Kube",
    "Poll",
    "Provider",
    "WaitTimeout",
    "WorkloadDriver",
    "create_provider",
    "existing",
    "kind",
    "local",
    "provider_names",
    "register",
    "wait_until",
]
