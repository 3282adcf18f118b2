"""The package version, in one place (read by the package, its saved files and the build)."""

__version__ = "0.1.0"
