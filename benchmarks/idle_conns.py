#!/usr/bin/env python3
"""Memory with many idle keep-alive connections: staticsrv beside its peers, in one run.

Checks the claim "staticsrv stays under 60 MiB RSS with 1,000 idle keep-alive
connections" and reports it as ratios against the peer servers that the shared
harness (``../shared/bench/bench.py`` relative to the repository root, or
``--bench PATH``) knows how to start: http.server, aiohttp, uvicorn+starlette,
nginx, nginx-auto, caddy, lighttpd, node-http-server, node-serve, plus two
staticsrv configurations run with the project's venv python:

* ``staticsrv``         -- ``python -m staticsrv --root {root} --port {port} -q --loop asyncio``
* ``staticsrv-uvloop``  -- the same with ``--loop uvloop``

For each server, one after another (each in its own session, on a free
127.0.0.1 port):

1. start it on the harness's fixture (built in a temp dir), send one warm-up
   ``GET /small.html`` and record the idle RSS and PSS, summed over every
   process of the server's session (as the harness does);
2. open ``--conns N`` TCP connections to it (at most ``--concurrency`` being
   set up at once), send ``GET /small.html HTTP/1.1`` with ``Host: localhost``
   on each and read each full response (status 200 expected), keeping the
   connection open; wait until all N are answered (at most ``--timeout`` s);
3. sample RSS and PSS of the whole session a few times over about 1 s and
   keep the maximum;
4. count the connections that are still open (a non-blocking ``recv`` that
   raises ``BlockingIOError``), versus closed by the server or failed;
5. optionally (``--hold S``, default 20 s) keep the open connections idle for
   S more seconds and record when the server closes them: this shows each
   server's idle keep-alive timeout, which bounds how long it would really
   hold N idle connections;
6. close every connection and stop the server.

The Markdown report (stdout, and ``--md PATH``) has one table with a row per
server, a keep-alive behaviour table, the ratios staticsrv / each other server
for RSS (and PSS) with N connections (lower is better) and staticsrv's
absolute RSS with N connections against the target (``--target-mib``, default
60): PASS needs RSS below the target with all N connections answered and
still open at the check, and no errors.  Machine-specific paths are removed
from it.

    .venv/bin/python benchmarks/idle_conns.py                       # every server, N = 1000
    .venv/bin/python benchmarks/idle_conns.py --md benchmarks/IDLE.md
    .venv/bin/python benchmarks/idle_conns.py --servers staticsrv,nginx --conns 200 --hold 0

Notes: the servers inherit this script's RLIMIT_NOFILE, which it raises (soft
limit, up to the hard limit) when it is too low for N sockets.  staticsrv
accepts at most ``--max-connections`` (1024 by default) connections at once,
so N above that measures the backlog, not staticsrv.  Traffic goes to
127.0.0.1 only; the peers are found where ``setup-peers.sh`` installs them
(``~/.cache/bench-peers``), as the harness does.

This file is the command line and the run; ``idle_measure.py`` measures one
server (the connections and the memory samples), ``idle_report.py`` renders
the report, and ``common.py`` holds what the benchmark scripts share.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import platform
import resource
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common
from common import REPO, SUBJECT, UVLOOP, Scrubber
from idle_measure import Result, run_server
from idle_report import render

CONFIGS = (common.CONFIGS[SUBJECT], common.CONFIGS[UVLOOP])
OURS = {c.name for c in CONFIGS}
FD_OVERHEAD = 64  # descriptors the script needs besides the N sockets


log = common.make_log("idle_conns.py")


# --------------------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/idle_conns.py",
        description="RSS/PSS of staticsrv and its peers holding N idle keep-alive connections "
        "(127.0.0.1 only), reported as ratios.",
    )
    common.add_bench_option(p)
    p.add_argument("--conns", type=int, default=1000, help="connections per server (default 1000)")
    p.add_argument(
        "--servers",
        metavar="LIST",
        help="comma-separated servers to run, in the order given (default: staticsrv, "
        "staticsrv-uvloop and every default peer; 'all' adds the opt-in ones)",
    )
    p.add_argument("--md", type=Path, default=None, help="also write the Markdown report here")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to get all N connections answered (default 30)",
    )
    p.add_argument(
        "--hold",
        type=float,
        default=20.0,
        help="after the check, keep the open connections idle this many more seconds and "
        "record when the server closes them (default 20; 0 = skip)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="connections being opened and requested at once (default 50)",
    )
    p.add_argument(
        "--target-mib",
        type=float,
        default=60.0,
        help="RSS target for staticsrv with N connections (default 60)",
    )
    common.add_python_option(p)
    p.add_argument("--peer-python", default=None, help="passed to the harness")
    p.add_argument(
        "--node-bin", action="append", default=[], metavar="DIR", help="passed to the harness"
    )
    p.add_argument(
        "--pin",
        nargs="?",
        const="auto",
        default=None,
        metavar="SERVER_CPUS:CLIENT_CPUS",
        help="pin the servers and this script to different CPUs (as the harness does)",
    )
    p.add_argument(
        "--start-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a server's first answer (default 30)",
    )
    a = p.parse_args(list(argv))
    if a.conns < 1:
        p.error("--conns must be >= 1")
    if a.concurrency < 1:
        p.error("--concurrency must be >= 1")
    if a.timeout <= 0 or a.hold < 0 or a.start_timeout <= 0:
        p.error("--timeout and --start-timeout must be > 0, --hold >= 0")
    return a


def raise_nofile(conns: int) -> tuple[int, int, str]:
    """Raise the soft RLIMIT_NOFILE (up to the hard limit) so N sockets fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = conns + FD_OVERHEAD
    note = ""
    if soft != resource.RLIM_INFINITY and soft < need:
        want = max(need, 2 * conns + 1024)  # the servers inherit it and need N + their own
        new = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        note = f"raised from {soft} to {new}"
        soft = new
    if soft != resource.RLIM_INFINITY and soft < need:
        raise SystemExit(
            f"RLIMIT_NOFILE hard limit {hard} is too low for {conns} connections "
            f"(need about {need}); use a smaller --conns"
        )
    return soft, hard, note


# --------------------------------------------------------------------------- path scrubbing


def make_scrubber(bench: Any, python: str, bench_file: Path, workdir: Path, peer: str) -> Scrubber:
    s = Scrubber(leftover="...")
    s.prefix(str(workdir), "$WORKDIR")
    s.literal(str(workdir), "$WORKDIR")
    s.add_common_rules(python, peer, str(bench.PEERS_DIR), bench_file)
    return s


# --------------------------------------------------------------------------- main


def machine_line() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "?"
    usable = len(os.sched_getaffinity(0))
    return (
        f"Linux {platform.release()} {platform.machine()}, {model}, {os.cpu_count()} CPUs "
        f"({usable} usable), Python {platform.python_version()}; load average at start {load}"
    )


def _on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def select_specs(bench: Any, hargs: argparse.Namespace, wanted: str | None) -> list[Any]:
    specs, _custom = bench.resolve_servers(hargs)
    by_name = {s.name: s for s in specs}
    for c in CONFIGS:
        by_name[c.name].about = c.about
    default = [c.name for c in CONFIGS] + [s.name for s in specs if s.name not in OURS]
    if wanted is None:
        order = default
    else:
        order = [w.strip() for w in wanted.split(",") if w.strip()]
        if "all" in order:
            order = default
        for w in order:
            if w not in by_name:
                raise SystemExit(f"unknown server {w!r}; known: {', '.join(by_name)}")
    return [by_name[w] for w in dict.fromkeys(order)]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    bench_file = common.bench_path(args)
    if not bench_file.is_file():
        log(f"harness not found: {bench_file} (use --bench PATH)")
        return 2
    bench: Any = common.load_bench(bench_file)
    python = args.python or common.venv_python()
    nofile_soft, nofile_hard, nofile_note = raise_nofile(args.conns)

    hargv: list[str] = ["--start-timeout", str(args.start_timeout)]
    hargv += common.server_options(python, CONFIGS)
    if args.servers and "all" in args.servers.split(","):
        hargv += ["--servers", "all"]
    if args.peer_python:
        hargv += ["--peer-python", args.peer_python]
    for d in args.node_bin:
        hargv += ["--node-bin", d]
    if args.pin is not None:
        hargv.append(f"--pin={args.pin}")
    hargs = bench.parse_args(hargv)
    specs = select_specs(bench, hargs, args.servers)

    peer_python: str = (
        hargs.peer_python
        or os.environ.get("BENCH_PEER_PYTHON")
        or (
            bench.DEFAULT_PEER_PYTHON
            if os.access(bench.DEFAULT_PEER_PYTHON, os.X_OK)
            else sys.executable
        )
    )
    server_prefix, client_prefix, _harness_note = bench.setup_pin(hargs)
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    if server_prefix:
        pin_note = f"pinned: servers under `{shlex.join(server_prefix)}`, this script on CPU {cpus}"
    else:
        pin_note = f"no pinning: this script (the client) and the servers share CPUs {cpus}"
    workdir = Path(tempfile.mkdtemp(prefix="staticsrv-idle-"))
    os.chmod(workdir, 0o755)  # nginx workers (user nobody) must reach the fixture
    ctx = bench.Ctx(
        args=hargs,
        workdir=workdir,
        root=workdir / "site",
        fixture=None,
        peer_python=peer_python,
        node_dirs=[*hargs.node_bin, bench.DEFAULT_NODE_BIN],
        server_prefix=server_prefix,
        client_prefix=client_prefix,
        pin_note=pin_note,
    )
    scrub = make_scrubber(bench, python, bench_file, workdir, peer_python)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    git, digest_before = common.git_source(), common.source_digest()
    machine = machine_line()
    shown_bench = os.path.relpath(bench_file, REPO)
    command = shlex.join(["python", "benchmarks/idle_conns.py", *argv])

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(bench.stop_all)
    results: list[Result] = []
    interrupted = False
    try:
        log(f"workdir {workdir}; building fixture ...")
        ctx.fixture = bench.build_fixture(ctx.root, 1, 0)
        for spec in specs:
            res = Result(spec.name, about=spec.about)
            results.append(res)
            ok, why = (spec.availability or bench.cmd_available)(ctx, spec)
            if not ok:
                res.skip = f"not available ({why})"
                log(f"skip {spec.name}: {why}")
                continue
            if spec.name in OURS:
                res.version = str(bench.cmd_version([python, "-m", "staticsrv", "-V"]))
            elif spec.version is not None:
                try:
                    res.version = str(spec.version(ctx, spec))
                except Exception:
                    res.version = "?"
            run_server(bench, ctx, spec, args, res)
    except KeyboardInterrupt as e:
        interrupted = True
        log(f"interrupted ({e or 'SIGINT'}); stopping ...")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    commit = "unknown" if git is None else f"`{git[0]}`"
    source = common.describe_code(commit, git is not None and git[1], digest_before)
    digest_after = common.source_digest()
    if digest_after != digest_before:
        source += (
            f" ⚠ `staticsrv/` changed during the run (digest `{digest_before}` -> "
            f"`{digest_after}`): the two staticsrv configurations may have run different code"
        )
        log("warning: staticsrv/ changed while the benchmark ran")
    meta = {
        "date": date,
        "command": command,
        "machine": machine,
        "pin": str(pin_note),
        "source": source,
        "peers": f"started by the harness `{shown_bench}` with its generated configs",
        "nofile": f"soft {nofile_soft}, hard {nofile_hard}"
        + (f" ({nofile_note})" if nofile_note else ""),
    }
    text = scrub(render(results, args, meta, interrupted)).rstrip("\n") + "\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text)
        log(f"wrote {args.md}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
