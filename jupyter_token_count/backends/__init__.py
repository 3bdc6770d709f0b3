"""Backends know exactly one way to count: ``api`` (the official SDK) or ``offline`` (the estimator)."""
