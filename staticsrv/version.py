"""The version, in a module of its own: the sans-io layer names it in ``Server``
without importing the package's root (which leads to the embedding API)."""

__version__ = "0.1.0"
