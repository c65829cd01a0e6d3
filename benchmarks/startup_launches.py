#!/usr/bin/env python3
"""Launch-to-first-answer of staticsrv over many launches, now and at an earlier revision.

The harness measures startup once per server per run (spawn to the first
answer for ``/small.html``, polling every 10 ms), so one number carries the
noise of one launch.  This script launches each configuration ``--launches``
times, alternating them so slow drift on the machine hits all alike, and
reports for each the median, minimum and maximum of

* **listening**: spawn until a TCP connect to the port succeeds, and
* **first answer**: spawn until the whole 200 for ``/small.html`` was read
  (the harness's startup column),

polling every ``--poll-ms`` (default 2 ms).  The fixture is a temporary
folder holding a 1 KiB ``small.html``.

    .venv/bin/python benchmarks/startup_launches.py --before 58ab58f --http-server --pin
    .venv/bin/python benchmarks/startup_launches.py --before 58ab58f --loop uvloop --md out.md

``--pin`` runs the server on the last CPU and this script on the others, as
the harness's ``--pin`` does.  Traffic only goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import common
from common import REPO, md_table

log = common.make_log("startup_launches.py")

REQUEST = b"GET /small.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@dataclass
class Config:
    name: str
    argv: list[str]  # with "{root}" and "{port}" placeholders
    env: dict[str, str] = field(default_factory=dict)
    listening: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answer_ok(port: int, timeout: float) -> bool | None:
    """True for a complete 200, False for another answer, None when nobody listens yet."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    with sock:
        sock.sendall(REQUEST)
        buf = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            if (resp := common.parse_response(buf, eof=False)) is not None:
                return resp.status == 200
        resp = common.parse_response(buf, eof=True)
        return resp is not None and resp.status == 200


def launch(cfg: Config, root: Path, prefix: list[str], poll: float, timeout: float) -> None:
    port = free_port()
    argv = [a.format(root=root, port=port) for a in cfg.argv]
    env = dict(os.environ, **cfg.env)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        prefix + argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=root,
        start_new_session=True,
    )
    listening: float | None = None
    try:
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                cfg.failures.append(f"exited {proc.returncode}: {err.strip()[-200:]}")
                return
            now = time.perf_counter()
            if now - t0 > timeout:
                cfg.failures.append(f"no answer within {timeout:.0f} s")
                return
            if listening is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                        listening = time.perf_counter() - t0
                except OSError:
                    time.sleep(poll)
                    continue
            got = answer_ok(port, timeout=5.0)
            if got is None:
                time.sleep(poll)
                continue
            if not got:
                cfg.failures.append("first answer was not a 200")
                return
            cfg.answered.append(time.perf_counter() - t0)
            cfg.listening.append(listening)
            return
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/startup_launches.py",
        description="Median launch-to-first-answer of staticsrv over many launches.",
    )
    p.add_argument("--launches", type=int, default=20, help="launches per configuration")
    p.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop", "auto"))
    p.add_argument("--before", metavar="REV", help="also launch staticsrv as it was at REV")
    p.add_argument(
        "--http-server",
        action="store_true",
        help="also launch `python -m http.server` (the same interpreter): a yardstick of "
        "what starting Python and importing a small server costs on this machine",
    )
    p.add_argument("--poll-ms", type=float, default=2.0, help="pause between polls (ms)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    p.add_argument("--pin", action="store_true", help="server on the last CPU, client elsewhere")
    p.add_argument("--md", type=Path, help="also write the Markdown table here")
    common.add_python_option(p)
    args = p.parse_args(list(argv))
    if args.launches < 1:
        p.error("--launches must be >= 1")
    return args


def ms(xs: list[float], f: str) -> str:
    if not xs:
        return "—"
    value = statistics.median(xs) if f == "median" else min(xs) if f == "min" else max(xs)
    return f"{value * 1000:,.0f}"


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    python = args.python or common.venv_python()
    base = [python, "-m", "staticsrv", "--root", "{root}", "--port", "{port}", "-q"]
    base += ["--loop", args.loop]
    configs = [Config("staticsrv (this tree)", base)]
    if args.before:
        tree = common.before_tree(args.before)
        rev = tree.name.removeprefix("before-")
        configs.append(Config(f"staticsrv at {rev}", base, {"PYTHONPATH": str(tree)}))
    if args.http_server:
        http = [python, "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
        configs.append(Config("python -m http.server", [*http, "--directory", "{root}"]))
    prefix: list[str] = []
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            log("--pin needs two CPUs; running unpinned")
        else:
            prefix = ["taskset", "-c", str(cpus[-1])]
            os.sched_setaffinity(0, set(cpus[:-1]))
    with tempfile.TemporaryDirectory(prefix="staticsrv-startup-") as tmp:
        root = Path(tmp)
        (root / "small.html").write_bytes((b"<p>" + b"x" * 1017 + b"</p>\n")[:1024])
        for i in range(args.launches):
            for cfg in configs if i % 2 == 0 else reversed(configs):
                launch(cfg, root, prefix, args.poll_ms / 1000, args.timeout)
            log(f"launch round {i + 1}/{args.launches} done")
    header = ["configuration", "launches", "listening: median ms", "first answer: median ms"]
    header += ["first answer: min ms", "first answer: max ms", "failures"]
    rows = [
        [
            c.name,
            str(len(c.answered)),
            ms(c.listening, "median"),
            ms(c.answered, "median"),
            ms(c.answered, "min"),
            ms(c.answered, "max"),
            "; ".join(sorted(set(c.failures))) or "0",
        ]
        for c in configs
    ]
    cmd = shlex.join(["python", "benchmarks/startup_launches.py", *argv])
    text = [
        f"Launch to first answer, `--loop {args.loop}`, {'pinned' if prefix else 'unpinned'}, "
        f"polling every {args.poll_ms:g} ms (`{cmd}`):",
        "",
        *md_table(header, rows, "lrrrrrl"),
        "",
    ]
    out = "\n".join(text)
    print(out)
    if args.md is not None:
        args.md.write_text(out)
    return 0 if all(c.answered for c in configs) else 1


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main(sys.argv[1:]))
