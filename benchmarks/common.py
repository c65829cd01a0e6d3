"""Helpers shared by the benchmark scripts ``run.py`` and ``idle_conns.py``.

A plain module, not a package: the scripts are run as ``python benchmarks/X.py``,
so ``benchmarks/`` is on ``sys.path`` and they ``import common``.  It holds:

* ``make_log``: a stderr logger whose lines start with the script's name;
* where things are: the repository root and the shared harness
  (``../shared/bench/bench.py`` relative to it, or ``--bench PATH``), and the
  project's venv python; the ``--bench`` and ``--python`` options;
* the ``--server NAME=CMD`` options that make the harness start staticsrv;
* ``Scrubber``, which replaces machine-specific absolute paths in a report with
  portable names, and the rules both reports use;
* which staticsrv code was measured: a digest of ``staticsrv/*.py`` and the git
  commit (read-only git commands);
* the ratio format of the reports.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

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


def server_options(python: str, configs: Iterable[tuple[str, str]]) -> list[str]:
    """Harness options ``--server NAME=CMD`` for each staticsrv configuration (name, flags)."""
    out: list[str] = []
    for name, flags in configs:
        cmd = f"{shlex.quote(python)} -m staticsrv --root {{root}} --port {{port}} -q {flags}"
        out += ["--server", f"{name}={cmd}"]
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


def source_digest() -> str:
    """Digest of staticsrv/*.py.

    Other people may edit the package while a run is going on; comparing the
    digest before and after the run shows whether the numbers mix two versions.
    """
    digest = hashlib.sha256()
    for path in sorted((REPO / "staticsrv").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
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


# --------------------------------------------------------------------------- formatting


def f_ratio(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}" if x >= 0.095 else f"{x:.3f}"
