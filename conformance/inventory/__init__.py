"""Inputs -> objects: loading, rendering and the shared object model."""

from .build import build_inventory, discover
from .loader import Limits, load_bytes
from .model import Inventory, K8sObject, Problem, Source

__all__ = ["Inventory", "K8sObject", "Limits", "Problem", "Source", "build_inventory", "discover", "load_bytes"]
