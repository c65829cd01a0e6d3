"""The ``static_server`` pytest fixture, registered through the ``pytest11`` entry point.

Installing staticsrv gives every project's test suite::

    def test_page(static_server):
        server = static_server("tests/site", dotfiles=True)
        assert urlopen(server.url + "index.html").status == 200

Each call starts a server on a free port in a background thread (options as
in :func:`staticsrv.serve`); every server is stopped at the test's teardown.
A relative root is taken from pytest's root directory (where its
configuration file is), not the current one, so ``"tests/site"`` works
whichever folder pytest is run from.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from staticsrv.api import Server

StaticServerFactory = Callable[..., "Server"]


@pytest.fixture
def static_server(request: pytest.FixtureRequest) -> Iterator[StaticServerFactory]:
    """A factory: ``static_server(root, **options)`` -> a running server (port 0 by default)."""
    from staticsrv.api import serve

    rootdir = request.config.rootpath
    with contextlib.ExitStack() as stack:

        def start(root: str | os.PathLike[str] = ".", **options: object) -> Server:
            options.setdefault("port", 0)
            if isinstance(root, str | os.PathLike):
                root = os.path.join(rootdir, root)  # an absolute root stays as it is
            return stack.enter_context(serve(root, **options))

        yield start
