"""dia_augment: Dissolving Is Amplifying for fine-grained anomaly detection, kornia-compatible."""

__version__ = "0.1.0"
