"""Inputs -> objects: loading, rendering and the shared object model."""

from .build import (
    Discovery,
    InputFile,
    build_inventory,
    chart_inputs,
    discover,
    discover_inputs,
    environment_label,
    environments,
    in_environment,
    load_inputs,
    prepare_inputs,
    shared_inputs,
    to_inventory,
)
from .loader import Limits, load_bytes
from .model import Inventory, K8sObject, Origin, Problem, Source

__all__ = [
    "Discovery",
    "InputFile",
    "Inventory",
    "K8sObject",
    "Limits",
    "Origin",
    "Problem",
    "Source",
    "build_inventory",
    "chart_inputs",
    "discover",
    "discover_inputs",
    "environment_label",
    "environments",
    "in_environment",
    "load_bytes",
    "load_inputs",
    "prepare_inputs",
    "shared_inputs",
    "to_inventory",
]
