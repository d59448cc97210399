"""Cluster providers for the behaviour tier, behind one small interface (see base.py).

Importing this package registers every provider: each module of this package is imported, and a
module with a provider registers it with `@register("name")` (today `local`: kwokctl, the default;
`kind`: Docker; `existing`: any kubeconfig). A new provider is one new module, no list to edit.
"""

import importlib
import pkgutil

from .base import Capabilities, Cluster, Provider, WorkloadDriver, create_provider, provider_names, register
from .kube import ApiError, Kube
from .wait import Poll, WaitTimeout, wait_until

for _module in pkgutil.iter_modules(__path__):
    if not _module.ispkg:
        importlib.import_module(f"{__name__}.{_module.name}")

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
    "provider_names",
    "register",
    "wait_until",
]
