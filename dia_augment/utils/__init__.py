"""Shared helpers: input checks, crash-safe I/O and random generators."""
