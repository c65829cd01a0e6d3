"""Helpers shared by the benchmark scripts ``run.py``, ``idle_conns.py`` and
``hotpath_profile.py``.

A plain module, not a package: the scripts are run as ``python benchmarks/X.py``,
so ``benchmarks/`` is on ``sys.path`` and they ``import common``.  It holds:

* ``make_log``: a stderr logger whose lines start with the script's name;
* where things are: the repository root and the shared harness
  (``../shared/bench/bench.py`` relative to it, or ``--bench PATH``), and the
  project's venv python; the ``--bench`` and ``--python`` options; loading the
  harness as a module (``load_bench``);
* the staticsrv configurations (``CONFIGS``) and the ``--server NAME=CMD``
  options that make the harness start them;
* ``Scrubber``, which replaces machine-specific absolute paths in a report with
  portable names, and the rules both reports use;
* which staticsrv code was measured: a digest of the package's sources (every
  ``*.py`` and ``*.js`` under ``staticsrv/``, subpackages included) and the git
  commit (read-only git commands); the package as it was at an earlier revision
  (``before_tree``, for before/after runs);
* ``parse_response``: framing of one HTTP/1.x response read off a socket;
* the reports' formats: ratios and Markdown tables.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_REL = Path("..") / "shared" / "bench" / "bench.py"  # relative to the repository root


def make_log(prog: str) -> Callable[[str], None]:
    """A ``log(msg)`` that writes ``PROG: msg`` to stderr."""

    def log(msg: str) -> None:
        print(f"{prog}: {msg}", file=sys.stderr, flush=True)

    return log


# --------------------------------------------------------------------------- arguments


def venv_python() -> str:
    """The project's venv python (not resolved: the symlink is what makes it the venv)."""
    candidate = REPO / ".venv" / "bin" / "python"
    if os.access(candidate, os.X_OK):
        return str(candidate)
    return sys.executable


def add_bench_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bench",
        type=Path,
        default=None,
        help=f"the harness (default: {BENCH_REL} relative to the repository root)",
    )


def add_python_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--python",
        default=None,
        help="python that runs staticsrv (default: the project's .venv/bin/python)",
    )


def bench_path(args: argparse.Namespace) -> Path:
    if args.bench is not None:
        return Path(os.path.abspath(args.bench))  # --bench is relative to the caller's cwd
    return REPO / BENCH_REL


def load_bench(path: Path) -> Any:
    """The harness imported as the module ``bench`` (its functions, specs and classes)."""
    spec = importlib.util.spec_from_file_location("bench", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the harness from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class Config:
    """A staticsrv configuration that the scripts add to the harness's servers."""

    name: str
    flags: str  # after ``python -m staticsrv --root {root} --port {port} -q``
    about: str


SUBJECT = "staticsrv"
UVLOOP = "staticsrv-uvloop"
TWO_WORKERS = "staticsrv-2w"
CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config(SUBJECT, "--loop asyncio", "default asyncio loop, 1 process"),
        Config(UVLOOP, "--loop uvloop", "uvloop, 1 process"),
        Config(TWO_WORKERS, "--loop uvloop --workers 2", "uvloop, 2 worker processes"),
    )
}


def server_options(python: str, configs: Iterable[Config]) -> list[str]:
    """Harness options ``--server NAME=CMD`` for each staticsrv configuration."""
    out: list[str] = []
    for c in configs:
        cmd = f"{shlex.quote(python)} -m staticsrv --root {{root}} --port {{port}} -q {c.flags}"
        out += ["--server", f"{c.name}={cmd}"]
    return out


# --------------------------------------------------------------------------- path scrubbing

# An absolute path that no rule replaced (the reports should not show one).
LEFTOVER_PATH = re.compile(r"(?<![\w.~$])/(?:tmp|root|home|work|Users|private|var/folders)/\S*")


@dataclass
class Scrubber:
    """Replaces machine-specific absolute paths with portable names.

    With ``leftover`` set, any absolute path still left after the rules
    (``LEFTOVER_PATH``) is replaced by it too.
    """

    rules: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    leftover: str | None = None

    def literal(self, path: str | None, repl: str) -> None:
        if path and len(path) > 1:
            self.rules.append((re.compile(re.escape(path.rstrip("/")) + r"(?![\w.-])"), repl))

    def prefix(self, path: str | None, repl: str) -> None:
        if path and len(path) > 1:
            self.rules.append((re.compile(re.escape(path.rstrip("/")) + r"(?=/)"), repl))

    def __call__(self, text: str) -> str:
        for pattern, repl in self.rules:
            text = pattern.sub(repl, text)
        if self.leftover is not None:
            text = LEFTOVER_PATH.sub(self.leftover, text)
        return text

    def add_common_rules(
        self, python: str, peer_python: str | None, peers_dir: str, bench: Path
    ) -> None:
        """The rules after the script's own work-directory rules: interpreters, peers,
        the harness, the repository, its parent, the home and the temp directory."""
        # Interpreters: the staticsrv one (and the harness's own, which runs http.server).
        for exe in {python, sys.executable, os.path.abspath(python)}:
            self.literal(exe, "python")
        if peer_python is not None and peer_python not in (python, sys.executable):
            self.literal(peer_python, "$PEER_PYTHON")
        self.prefix(peers_dir, "$BENCH_PEERS")
        bench_abs = os.path.abspath(REPO / bench) if not bench.is_absolute() else str(bench)
        self.literal(bench_abs, "bench.py")
        self.literal(os.path.realpath(bench_abs), "bench.py")
        self.prefix(str(REPO), ".")
        self.literal(str(REPO), ".")
        self.prefix(str(REPO.parent), "..")
        self.prefix(os.path.expanduser("~"), "~")
        self.prefix(tempfile.gettempdir(), "$TMPDIR")


# --------------------------------------------------------------------------- source state

SOURCE_SUFFIXES = (".py", ".js")  # what source_digest reads (no __pycache__ *.pyc)


def source_digest(package: Path = REPO / "staticsrv") -> str:
    """Digest of the package's code: every ``*.py`` under it, subpackages included,
    and the live-reload scripts (``*.js``) it serves.

    Each file counts by its path relative to the package, so a module moved
    between subpackages changes the digest.  Other people may edit the package
    while a run is going on; comparing the digest before and after the run
    shows whether the numbers mix two versions.
    """
    digest = hashlib.sha256()
    files = (p for p in package.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file())
    for path in sorted(files, key=lambda p: p.relative_to(package).as_posix()):
        name = path.relative_to(package).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def git_source() -> tuple[str, bool] | None:
    """(short commit, uncommitted changes in staticsrv/) from read-only git commands,
    None when git does not answer."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "staticsrv"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip(), bool(status.stdout.strip())


def describe_code(commit: str, dirty: bool, digest: str) -> str:
    """``COMMIT[ plus uncommitted changes in `staticsrv/`] (digest of `staticsrv/`: `D`)``;
    COMMIT is shown as given (the caller quotes it)."""
    text = commit + (" plus uncommitted changes in `staticsrv/`" if dirty else "")
    return text + f" (digest of `staticsrv/`: `{digest}`)"


def before_tree(rev: str) -> Path:
    """``staticsrv/`` as it was at ``rev``, unpacked under benchmarks/out (read-only git)."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = REPO / "benchmarks" / "out" / f"before-{commit}"
    if not (tree / "staticsrv" / "__main__.py").is_file():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "staticsrv"],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


# --------------------------------------------------------------------------- HTTP responses

MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    version: str
    keep_alive: bool  # the server did not announce that it closes the connection
    extra: int  # bytes received beyond the response


def _chunked_end(body: bytes) -> int | None:
    """Index just past a complete chunked body, or None while it is incomplete."""
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(body[pos:eol].split(b";", 1)[0].strip() or b"x", 16)
        pos = eol + 2
        if size == 0:
            if body[pos : pos + 2] == b"\r\n":
                return pos + 2
            end = body.find(b"\r\n\r\n", pos)  # trailer fields
            return None if end < 0 else end + 4
        if len(body) < pos + size + 2:
            return None
        pos += size + 2


def parse_response(buf: bytes, eof: bool) -> Response | None:
    """A complete response at the start of ``buf``, None while incomplete.

    Raises ValueError for something that is not an HTTP/1.x response.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise ValueError("response head too long")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"bad status line {lines[0][:60]!r}")
    version, status = parts[0], int(parts[1])
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
    body = buf[end + 4 :]
    conn = fields.get("connection", "").lower()
    keep = "keep-alive" in conn if version == "HTTP/1.0" else "close" not in conn
    if "chunked" in fields.get("transfer-encoding", "").lower():
        n = _chunked_end(body)
        if n is None:
            return None
    elif "content-length" in fields:
        n = int(fields["content-length"].split(",")[0])
        if len(body) < n:
            return None
    elif status in (204, 304) or 100 <= status < 200:
        n = 0
    else:  # delimited by the end of the connection
        if not eof:
            return None
        n, keep = len(body), False
    return Response(status, version, keep, len(body) - n)


# --------------------------------------------------------------------------- formatting


def f_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}" if x >= 0.095 else f"{x:.3f}"


def md_cell(text: str) -> str:
    """A table cell's text with ``|`` escaped and line breaks flattened."""
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], align: str, escape: bool = True
) -> list[str]:
    """The lines of a Markdown table; ``align`` has one letter per column, ``r`` for a
    right-aligned one.  With ``escape`` false the row cells are used as given (the
    caller escapes them); the header cells always are."""
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
    for row in rows:
        out.append("| " + " | ".join(map(md_cell, row) if escape else row) + " |")
    return out
