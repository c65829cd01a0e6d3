"""--build over real sockets: real generators, failures, queued builds, Ctrl+C.

The build commands are real processes (MkDocs, small Python scripts); the
events are read off the real event stream.  A build's start and end are
the ``build`` events, so no test waits on the clock for them.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.client import get
from tests.conftest import ServeFactory
from tests.process import next_line, staticsrv
from tests.sse import EventStream
from tests.waiting import poll_until

pytest.importorskip("watchfiles")

pytestmark = pytest.mark.one_scheme

DELAY = 0.05
Event = tuple[str, Any]


def script(folder: Path, name: str, body: str) -> str:
    """A build script file, and the shell command that runs it."""
    path = folder / name
    path.write_text(body)
    return f'"{sys.executable}" "{path}"'


def until(stream: EventStream, want: Callable[[Event], bool]) -> list[Event]:
    """Events up to and including the first one ``want`` accepts."""
    seen = [stream.next_event()]
    while not want(seen[-1]):
        seen.append(stream.next_event())
    return seen


def build_is(state: str) -> Callable[[Event], bool]:
    return lambda e: e[0] == "build" and e[1]["state"] == state


def drain(root: Path, stream: EventStream, *, build: bool = True) -> list[Event]:
    """Wait until the build in progress has ended and its pages were announced.

    The build's pages are announced after its ``ok``.  Then a file written
    by hand in ROOT is announced at once, and the event naming it comes
    after everything before it.
    """
    if build:
        until(stream, build_is("ok"))
        until(stream, lambda e: e[0] == "reload")
    (root / "sentinel.txt").write_text(str(time.monotonic()))
    return until(stream, lambda e: e[0] == "reload" and "/sentinel.txt" in e[1]["paths"])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    here = tmp_path / "project"  # not tmp_path: its "site" is the serve fixture's
    (here / "src").mkdir(parents=True)
    (here / "src" / "page.txt").write_text("v1")
    return here


FAILS_THEN_PASSES = """
import pathlib, sys
src = pathlib.Path(sys.argv[0]).parent / "src"
text = (src / "page.txt").read_text()
if text.startswith("broken"):
    for i in range(300):
        print(f"line {i}")
    print("error: page.txt is broken")
    sys.exit(2)
out = pathlib.Path(sys.argv[0]).parent / "site"
out.mkdir(exist_ok=True)
(out / "index.html").write_text(f"<p>{text}</p>")
"""


def test_a_build_that_fails_then_passes(serve: ServeFactory, project: Path) -> None:
    (project / "src" / "page.txt").write_text("broken at start")
    command = script(project, "build.py", FAILS_THEN_PASSES)
    running = serve(
        project / "site", live=True, live_delay=DELAY, build=command, watch=(str(project / "src"),)
    )
    with EventStream(running.addr) as stream:
        stream.hello()
        [*_, (_, failed)] = until(stream, build_is("failed"))
        assert failed["command"] == command and failed["status"] == 2
        lines = failed["output"].split("\n")
        assert len(lines) == 200 and lines[-1] == "error: page.txt is broken"
        # Nothing built yet: the "building" page, which reloads itself.
        page = get(running.addr, "/")
        assert page.status == 503 and b"Building" in page.body
        assert b"/__staticsrv__/live.js" in page.body
        # A new stream hears how the last build went, right after hello.
        with EventStream(running.addr) as late:
            late.hello()
            assert late.next_event() == ("build", failed)
        (project / "src" / "page.txt").write_text("fixed")
        seen = until(stream, lambda e: e[0] == "reload")
        assert [e[1]["state"] for e in seen[:-1]] == ["running", "ok"]
        assert seen[-2][1] == {"state": "ok", "command": command, "status": 0}
        assert get(running.addr, "/").body.startswith(b"<p>fixed</p>")


SLOW_COUNTING = """
import pathlib, sys, time
here = pathlib.Path(sys.argv[0]).parent
with open(here / "builds.log", "a") as log:
    log.write("build\\n")
time.sleep(0.8)  # allowed: the build itself takes this long (a slow generator)
out = here / "site"
out.mkdir(exist_ok=True)
(out / "index.html").write_text((here / "src" / "page.txt").read_text())
"""


def test_changes_during_a_build_queue_exactly_one_more(serve: ServeFactory, project: Path) -> None:
    command = script(project, "build.py", SLOW_COUNTING)
    running = serve(
        project / "site", live=True, live_delay=DELAY, build=command, watch=(str(project / "src"),)
    )
    src = project / "src"
    with EventStream(running.addr) as stream:
        stream.hello()
        drain(project / "site", stream)
        (src / "page.txt").write_text("v2")
        until(stream, build_is("running"))
        for i in range(3):  # three changes while it runs, apart
            (src / f"extra{i}.txt").write_text(str(i))
            time.sleep(0.15)  # allowed: longer than the quiet period, so each settles
        seen = until(stream, build_is("ok"))
        seen += until(stream, build_is("ok"))  # the one queued build
        seen += drain(project / "site", stream, build=False)  # and then nothing more
    states = [e[1]["state"] for e in seen if e[0] == "build"]
    assert states == ["ok", "running", "ok"]
    assert (project / "builds.log").read_text().count("build") == 3  # start, edit, queued


def test_ctrl_c_during_a_long_build_ends_it_and_the_server(project: Path) -> None:
    pidfile = project / "build.pid"
    command = script(
        project,
        "build.py",
        "import os, pathlib, subprocess, sys\n"
        # A grandchild too (a 30 s build step, what Ctrl+C must end): the whole group goes.
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(f'{{os.getpid()}} {{child.pid}}')\n"
        "child.wait()\n",
    )
    proc = staticsrv(
        str(project / "site"), "--port", "0", "--build", command, "--watch", str(project / "src")
    )
    try:
        port = int(re.findall(r":(\d+)/", next_line(proc))[0])
        assert get(("127.0.0.1", port), "/").status == 503  # building
        poll_until(
            "the build started",
            lambda: pidfile.exists() and len(pidfile.read_text().split()) >= 2,
            30,
            0.05,
        )
        pids = [int(p) for p in pidfile.read_text().split()]
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert took < 3.0, took
    assert "Traceback" not in err
    for pid in pids:
        assert not alive(pid), f"build process {pid} outlived the server"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    except FileNotFoundError:
        return False


MKDOCS = pytest.importorskip("mkdocs")


def test_mkdocs_edit_reloads_once_after_the_build(serve: ServeFactory, tmp_path: Path) -> None:
    tmp_path = tmp_path / "project"
    docs = tmp_path / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text("# Home\n\nFirst words.\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: Live build\n")
    command = f'"{sys.executable}" -m mkdocs build --quiet -f "{tmp_path / "mkdocs.yml"}"'
    running = serve(
        tmp_path / "site",
        live=True,
        live_delay=DELAY,
        build=command,
        watch=(str(docs), str(tmp_path / "mkdocs.yml")),
    )
    with EventStream(running.addr) as stream:
        stream.hello()
        drain(tmp_path / "site", stream)
        assert b"First words." in get(running.addr, "/").body
        (docs / "index.md").write_text("# Home\n\nSecond words.\n")
        seen = until(stream, lambda e: e[0] == "reload")
        assert [e[1]["state"] for e in seen[:-1]] == ["running", "ok"]  # never during
        assert "/index.html" in seen[-1][1]["paths"]
        assert b"Second words." in get(running.addr, "/").body
        (tmp_path / "site" / "sentinel.txt").write_text("s")
        assert stream.next_event() == ("reload", {"paths": ["/sentinel.txt"]})


MANY_FILES = """
import pathlib, sys, time
here = pathlib.Path(sys.argv[0]).parent
out = here / "site"
out.mkdir(exist_ok=True)
stamp = (here / "src" / "page.txt").read_text()
for i in range(300):
    (out / f"page{i:03}.html").write_text(f"<p>{stamp} {i}</p>")
    time.sleep(2 / 300)  # allowed: the generator writes 300 files over 2 s
"""


@pytest.mark.parametrize("poll", [False, True], ids=["events", "polling"])
def test_a_generator_writing_300_files_over_2_s_gives_one_reload(
    serve: ServeFactory, project: Path, poll: bool
) -> None:
    command = script(project, "build.py", MANY_FILES)
    running = serve(
        project / "site",
        live=True,
        live_delay=DELAY,
        build=command,
        watch=(str(project / "src"),),
        poll=poll,
    )
    with EventStream(running.addr) as stream:
        stream.hello()
        drain(project / "site", stream)
        (project / "src" / "page.txt").write_text("v2")
        seen = until(stream, lambda e: e[0] == "reload")
        assert [e[1]["state"] for e in seen[:-1]] == ["running", "ok"]
        assert len(seen[-1][1]["paths"]) == 300
        (project / "site" / "sentinel.txt").write_text("s")
        assert stream.next_event() == ("reload", {"paths": ["/sentinel.txt"]})
    assert os.path.getsize(project / "site" / "page299.html") > 0
