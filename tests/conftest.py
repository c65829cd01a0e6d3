"""Fixtures that run the real server on port 0 through the embedding API.

``staticsrv.serve`` binds and listens before it returns, so a client can
connect at once: the kernel queues the connection until the accept loop
takes it.  No test waits for readiness with a sleep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import ssl
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import staticsrv
from staticsrv.config import Config, Timeouts
from staticsrv.net.server import ServerCore
from staticsrv.net.transport import Features
from staticsrv.pki import certs
from staticsrv.site import reader
from staticsrv.site.handler import Rule
from tests.client import Addr

# Property tests explore new random examples on every local run; CI (which
# sets CI=true) replays a fixed derivation so that a red run is always
# reproducible, never a roll of the dice.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


SCHEMES = ("http", "https", "h2")
# pytest-timeout's bound per test: the default (pyproject.toml) suits a unit
# or end-to-end test; load and browser tests do more work by design.
LONG_TIMEOUT = {"load": 240, "browser": 180}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        bounds = [LONG_TIMEOUT[m.name] for m in item.iter_markers() if m.name in LONG_TIMEOUT]
        if bounds and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(max(bounds)))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """The seed of the shuffled order, at the end of every run (pytest -q shows no header).

    pytest-randomly shuffles the modules, then the tests in each, from one
    seed a run; the same seed gives the same order, and reseeds ``random``
    per test as it did.
    """
    if not config.pluginmanager.hasplugin("randomly") or not config.getoption(
        "randomly_reorganize"
    ):
        return
    seed = config.getoption("randomly_seed")
    terminalreporter.write_line(
        f"Tests ran in a shuffled order, seed {seed}: -p randomly --randomly-seed={seed} "
        "replays it, -p no:randomly keeps the files' order"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every end-to-end test on ``serve`` runs three times: plain TCP, TLS, and HTTP/2.

    Under "h2" the server is the TLS one and ``client.get`` speaks HTTP/2
    (ALPN h2); raw-byte clients (``Conn``, ``raw``) stay HTTP/1.1 over TLS.

    ``@pytest.mark.one_scheme`` runs a test once, on plain HTTP unless it
    asks ``serve(https=True)`` itself (the TLS-specific tests).
    """
    if "serve" in metafunc.fixturenames:
        once = metafunc.definition.get_closest_marker("one_scheme") is not None
        metafunc.parametrize("scheme", SCHEMES[:1] if once else SCHEMES)


# Files written by a test are seconds old at most, so every one would be
# "racy" (reader.RACY_NS): not memoised, validated by content.  Tests of
# everything else see the disk as it is RACY_NS later (as if the test had
# waited that long); tests of the racy rules themselves are marked real_clock.
SETTLED_NS = 2 * reader.RACY_NS


@pytest.fixture(autouse=True)
def settled_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_clock") is None:
        real = reader.wall_ns
        monkeypatch.setattr(reader, "wall_ns", lambda: real() + SETTLED_NS)


@pytest.fixture(scope="session", autouse=True)
def ca_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The CA of ``--https`` for the whole session, never the user's own.

    Set in the environment, so subprocess servers use it too.
    """
    folder = tmp_path_factory.mktemp("data") / "staticsrv"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(certs.ENV_DATA_DIR, str(folder))
        yield folder


@pytest.fixture(scope="session")
def client_tls(ca_data_dir: Path) -> ssl.SSLContext:
    """A client context that trusts the session's CA and nothing else."""
    return ssl.create_default_context(cafile=str(certs.ensure_ca()))


@pytest.fixture(scope="session")
def client_h2(client_tls: ssl.SSLContext) -> ssl.SSLContext:
    """The same trust, offering only h2 by ALPN."""
    from tests.h2client import h2_context

    return h2_context(client_tls)


@dataclasses.dataclass
class Running:
    host: str
    port: int
    root: Path
    server: staticsrv.Server
    log: list[str]
    tls: ssl.SSLContext | None = None  # the client side, when the server speaks TLS
    h2: ssl.SSLContext | None = None  # the client side's h2 context, in the h2 scheme

    @property
    def addr(self) -> Addr:
        return Addr(self.host, self.port, self.tls, self.h2)

    @property
    def version(self) -> str:
        """The protocol ``client.get`` speaks, as the access log writes it."""
        return "HTTP/2.0" if self.h2 is not None else "HTTP/1.1"

    @property
    def core(self) -> ServerCore:
        assert self.server.core is not None
        return self.server.core


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
def serve(
    site: Path, scheme: str, client_tls: ssl.SSLContext, client_h2: ssl.SSLContext
) -> Iterator[ServeFactory]:
    """serve(root=None, features=None, rules=(), **config_fields) -> Running.

    Servers run through the embedding API (``staticsrv.serve``) and are
    stopped after the test; a server that fails to stop fails the test.
    With ``scheme`` "https" (see pytest_generate_tests) they serve HTTPS
    with a certificate from the session's CA, and ``addr`` says so.
    """
    https = scheme in ("https", "h2")
    with contextlib.ExitStack() as stack:

        def start(
            root: Path | None = None,
            *,
            features: Features | None = None,
            rules: Iterable[Rule] = (),
            watcher: Any = None,
            **overrides: Any,
        ) -> Running:
            timeouts = overrides.pop("timeouts", Timeouts(head=5.0, keepalive=5.0, send=5.0))
            overrides.setdefault("https", https)
            config = Config(
                root=os.path.realpath(root or site), port=0, timeouts=timeouts, **overrides
            )
            log: list[str] = []
            server = stack.enter_context(
                staticsrv.serve(
                    config=config,
                    access_log=log.append,
                    features=features,
                    rules=rules,
                    watcher=watcher,
                )
            )
            tls = client_tls if config.https else None
            h2 = client_h2 if config.https and scheme == "h2" and config.http2 else None
            return Running("127.0.0.1", server.port, Path(config.root), server, log, tls, h2)

        yield start


@pytest.fixture
def srv(serve: ServeFactory) -> Running:
    """The default server on the default site."""
    return serve()
