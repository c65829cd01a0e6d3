"""staticsrv: a fast, correct and secure static-file server for development.

The embedding API (see docs/embedding.md)::

    async with staticsrv.Server("site", port=0) as server: ...
    with staticsrv.serve("site", port=0) as server: ...

Both are imported on first use, so the command line starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from staticsrv.version import __version__

__all__ = ["BindError", "Server", "__version__", "serve"]

if TYPE_CHECKING:
    from staticsrv.api import BindError, Server, serve


def __getattr__(name: str) -> Any:
    if name in ("Server", "serve", "BindError"):
        from staticsrv import api

        return getattr(api, name)
    raise AttributeError(f"module 'staticsrv' has no attribute {name!r}")
