"""The embedding API: run staticsrv from Python code and test suites.

Owns: :class:`Server` (``async with``) and :func:`serve` (``with``, in a
background thread).  Options are the CLI's long options as keyword
arguments, with the same defaults and the same checks: a bad value is a
``ValueError`` carrying the CLI's one-line message.  May not touch: option
parsing of its own (that is :func:`staticsrv.config.from_options`).

The listening socket is bound before either returns, so ``server.url`` can
be fetched at once: the kernel queues a connection until the accept loop
takes it, and no caller ever needs to wait for readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from staticsrv.config import PORT_FALLBACK, Config, from_options
from staticsrv.http.routing import base_url
from staticsrv.net.server import BindError, ServerCore, bind_also, bind_any, bound_url
from staticsrv.net.transport import Features
from staticsrv.site.handler import Rule

__all__ = ["BindError", "Server", "serve"]

_STOP_TIMEOUT = 15.0


class Server:
    """A running staticsrv in this event loop; leaving ``async with`` stops it gracefully.

    >>> async with Server("site", port=0) as server:   # doctest: +SKIP
    ...     fetch(server.url + "index.html")
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = ".",
        *,
        config: Config | None = None,
        access_log: Callable[[str], None] | None = None,
        rules: Iterable[Rule] = (),
        features: Features | None = None,
        watcher: Callable[..., Any] | None = None,
        **options: object,
    ) -> None:
        if config is None:
            options.setdefault("quiet", access_log is None)
            config = from_options(root, **options)
        elif options:
            raise ValueError("give either config or options, not both")
        if config.workers != 1:
            raise ValueError("--workers: the embedding API serves from one process")
        from staticsrv.net.tls import setup

        # Built once here (certificates made or checked, keys loaded), shared
        # by every connection; a bad pair is a ValueError like any option.
        self.tls = setup(config)
        self._lsock: socket.socket | None = None
        self._also: list[socket.socket] = []  # localhost's [::1] beside 127.0.0.1
        self._url: str | None = None  # kept after the stop, as the port is
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.config = config
        self._access_log = access_log
        self._rules = tuple(rules)
        self._features = features
        self._watcher = watcher  # --live: a stand-in for watchfiles.watch
        self.core: ServerCore | None = None

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        return self.config.port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/`` (or https://): the root of the served site.

        Like :attr:`port`, it still answers after the server has stopped
        (a test may print it in an assertion message).
        """
        if self._url is None:
            raise RuntimeError("the server is not started: use it as `with serve(...) as server:`")
        return self._url

    @property
    def ca_file(self) -> str | None:
        """With ``https=True``: the local CA's certificate, for a client to trust.

        >>> ssl.create_default_context(cafile=server.ca_file)   # doctest: +SKIP
        """
        return None if self.tls is None else self.tls.ca_path

    @property
    def running(self) -> bool:
        """True from start until the server has stopped (or died)."""
        return self._task is not None and not self._task.done()

    def listen(self) -> None:
        """Bind the socket now; :class:`BindError` with a one-line message if it cannot."""
        if self._lsock is None:
            import dataclasses

            ports = PORT_FALLBACK if self.config.port_fallback else (self.config.port,)
            lsock, _busy = bind_any(self.config.host, ports)
            try:
                self._also = bind_also(self.config.host, lsock)
            except BindError:
                lsock.close()
                raise
            self._lsock = lsock
            # The site's root, under --base as the banner shows it, so that
            # server.url + "index.html" is the page at any prefix.
            self._url = bound_url(self._lsock, self.config.scheme, base_url(self.config.base))
            port = self._lsock.getsockname()[1]
            self.config = dataclasses.replace(self.config, port=port, port_fallback=False)

    async def start(self) -> None:
        self.listen()
        assert self._lsock is not None
        self._stop = asyncio.Event()
        self.core = ServerCore(
            self.config,
            access_log=self._access_log,
            rules=self._rules,
            features=self._features,
            watcher=self._watcher,
            tls=None if self.tls is None else self.tls.context,
        )
        self._task = asyncio.get_running_loop().create_task(
            self.core.serve(self._lsock, self._stop, self._also)
        )

    async def stop(self) -> None:
        """Stop accepting, let answers in flight finish, close everything."""
        if self._stop is None or self._task is None:
            return
        self._stop.set()
        await self._task

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class serve(contextlib.AbstractContextManager[Server]):
    """A :class:`Server` in a background thread with its own event loop.

    For synchronous code and test suites (the role ``http.server`` plays in
    many projects' tests)::

        with staticsrv.serve("site", port=0) as server:
            urllib.request.urlopen(server.url)

    The server runs inside the ``with`` block only: ``serve(...)`` alone
    starts nothing, and asking it for ``url`` or ``port`` says so, rather
    than leaving a server running that nothing will ever stop.
    """

    def __init__(self, root: str | os.PathLike[str] = ".", **kwargs: object) -> None:
        self._args = (root, kwargs)
        self._running: contextlib.AbstractContextManager[Server] | None = None

    def __enter__(self) -> Server:
        if self._running is not None:
            raise RuntimeError("this serve(...) is in use: call serve(...) again for another")
        root, kwargs = self._args
        self._running = _serving(root, **kwargs)
        return self._running.__enter__()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        running, self._running = self._running, None
        assert running is not None
        return running.__exit__(et, ev, tb)

    def __getattr__(self, name: str) -> object:
        raise AttributeError(
            f"serve(...) starts the server in a with block: write "
            f"`with staticsrv.serve(root, port=0) as server:` and use server.{name}"
        )


@contextlib.contextmanager
def _serving(root: str | os.PathLike[str], **kwargs: object) -> Iterator[Server]:
    server = Server(root, **kwargs)  # type: ignore[arg-type]
    server.listen()  # errors surface here, in the caller's thread
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        await server.start()
        started.set()
        assert server._task is not None
        await server._task

    def thread_main() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # surfaced in the caller's thread
            failure.append(exc)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=thread_main, name="staticsrv", daemon=True)
    thread.start()
    started.wait()
    try:
        if failure:
            raise failure[0]
        yield server
    finally:
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(lambda: asyncio.ensure_future(server.stop()))
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError("staticsrv did not stop")
        if failure:
            raise failure[0]
