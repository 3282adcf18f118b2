"""Shared helpers below every other layer: input checks, crash-safe I/O, seeds, configs, precision, devices."""
