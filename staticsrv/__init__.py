"""staticsrv: a fast, correct and secure static-file server for development."""

__version__ = "0.1.0"
