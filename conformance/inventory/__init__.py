"""Inputs -> objects: loading, rendering and the shared object model."""

from .build import InputFile, build_inventory, discover, load_inputs, prepare_inputs, to_inventory
from .loader import Limits, load_bytes
from .model import Inventory, K8sObject, Problem, Source

__all__ = [
    "InputFile",
    "Inventory",
    "K8sObject",
    "Limits",
    "Problem",
    "Source",
    "build_inventory",
    "discover",
    "load_bytes",
    "load_inputs",
    "prepare_inputs",
    "to_inventory",
]
