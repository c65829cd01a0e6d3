"""Fixtures that run the real server on port 0 in a background thread.

The listening socket is bound and listening before the thread starts, so a
client can connect at once: the kernel queues the connection until the
accept loop takes it.  No test waits for readiness with a sleep.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from staticsrv.config import Config, Timeouts
from staticsrv.server import Server, bind

# Property tests explore new random examples on every local run; CI (which
# sets CI=true) replays a fixed derivation so that a red run is always
# reproducible, never a roll of the dice.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@dataclasses.dataclass
class Running:
    host: str
    port: int
    root: Path
    server: Server
    log: list[str]

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)


class ServerThread:
    def __init__(self, config: Config, log: list[str]) -> None:
        self.lsock = bind(config.host, config.port)
        self.config = dataclasses.replace(config, port=self.lsock.getsockname()[1])
        self.server = Server(self.config, access_log=log.append)
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.stop_event = asyncio.Event()
            self.started.set()
            await self.server.serve(self.lsock, self.stop_event)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self.loop.close()

    def start(self) -> None:
        self.thread.start()
        self.started.wait(10)

    def stop(self) -> None:
        if self.stop_event is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(15)
        assert not self.thread.is_alive(), "server did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small site: index, 404 page, a folder without index, a large file."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "not_found.html").write_text("<h1>custom 404</h1>\n")
    (root / "hello.txt").write_text("hello world\n")
    (root / "style.css").write_text("body { color: red; }\n" * 100)
    (root / "app.js").write_text("console.log('hi');\n" * 200)
    (root / "empty.txt").write_bytes(b"")
    sub = root / "sub"
    sub.mkdir()
    (sub / "a.txt").write_text("a\n")
    (sub / "b file & <x>.txt").write_text("b\n")
    (sub / "nested").mkdir()
    (root / "withindex").mkdir()
    (root / "withindex" / "index.html").write_text("<p>inner index</p>\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".well-known").mkdir()
    (root / ".well-known" / "security.txt").write_text("Contact: mailto:x@example.com\n")
    big = bytes(range(256)) * (3 * 1024 * 4 + 7)  # ~3 MiB, not cached: sendfile path
    (root / "big.bin").write_bytes(big)
    return root


ServeFactory = Callable[..., Running]


@pytest.fixture
def serve(site: Path) -> Iterator[ServeFactory]:
    """serve(**config_overrides) -> Running; servers are stopped after the test."""
    threads: list[ServerThread] = []

    def start(root: Path | None = None, **overrides: Any) -> Running:
        timeouts = overrides.pop("timeouts", Timeouts(head=5.0, keepalive=5.0, send=5.0))
        config = Config(
            root=os.path.realpath(root or site),
            port=0,
            timeouts=timeouts,
            **overrides,
        )
        log: list[str] = []
        st = ServerThread(config, log)
        st.start()
        threads.append(st)
        return Running("127.0.0.1", st.config.port, Path(config.root), st.server, log)

    yield start
    for st in threads:
        st.stop()


@pytest.fixture
def srv(serve: ServeFactory) -> Running:
    """The default server on the default site."""
    return serve()
