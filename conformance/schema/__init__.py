"""Schema checks: offline schemas for kubeconform and the mapping of its results."""
