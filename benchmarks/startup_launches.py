#!/usr/bin/env python3
"""Launch-to-first-answer of staticsrv over many launches, now and at an earlier revision.

The harness measures startup once per server per run (spawn to the first
answer for ``/small.html``, polling every 10 ms), so one number carries the
noise of one launch.  This script launches each configuration ``--launches``
times, alternating them so slow drift on the machine hits all alike, and
reports for each the median, minimum and maximum of

* **listening**: spawn until a TCP connect to the port succeeds, and
* **first answer**: spawn until the whole 200 for ``/small.html`` was read
  (the harness's startup column; over TLS for ``--https``),

polling every ``--poll-ms`` (default 2 ms).  staticsrv is started as a user
starts it, ``staticsrv --root ROOT --port PORT --loop LOOP`` (access log
on).  The fixture is a temporary folder holding a 1 KiB ``small.html``.
Every configuration is launched once before the measured rounds (not
counted): the page cache is warm for all, and ``--https`` has made its CA
(in a temporary ``STATICSRV_DATA_DIR``).

    .venv/bin/python benchmarks/startup_launches.py --before 58ab58f --http-server --pin
    .venv/bin/python benchmarks/startup_launches.py --before 58ab58f --loop uvloop --md out.md

By default staticsrv runs from this source tree (``python -m staticsrv``,
the project's venv).  ``--wheel`` measures what a user runs instead: the
wheel of this tree (and with ``--before``, of REV) is built
(``pip wheel --no-deps``), installed non-editable with its ``fast`` extra
(uvloop; plus ``live`` and ``tls`` when those modes are measured) into a
temporary venv of its own, and its ``staticsrv`` command is launched.
``--modes plain,live,https`` launches each build plainly, with ``--live`` and
with ``--https``; the report then says what each mode adds to plain.
``--importtime N`` also lists the N largest import costs of the (first)
build's plain start, from ``-X importtime`` (smallest of 5 launches each):

    .venv/bin/python benchmarks/startup_launches.py --wheel --before main \
        --modes plain,live,https --http-server --loop auto --pin --importtime 25

``--pin`` runs the server on the last CPU and this script on the others, as
the harness's ``--pin`` does.  Traffic only goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
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
MODES = {"plain": [], "live": ["--live"], "https": ["--https"]}
EXTRAS = {"plain": "fast", "live": "live", "https": "tls"}  # what each mode installs
IMPORTTIME_RUNS = 5
# Not in a user's environment, and not passed on: with PYTHONDONTWRITEBYTECODE
# a source tree whose bytecode is stale would be compiled at every launch.
USER_LESS = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


@dataclass
class Config:
    name: str
    argv: list[str]  # with "{root}" and "{port}" placeholders
    env: dict[str, str] = field(default_factory=dict)
    tls: bool = False  # the first answer is read over TLS
    traced: list[str] = field(default_factory=list)  # the same start under -X importtime
    build: str = ""  # which staticsrv (for the "adds" table); "" for other servers
    mode: str = "plain"
    listening: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the server's CPU time by its first answer
    failures: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_TLS = ssl.create_default_context()
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE  # the server's own local CA: whom it is does not matter here


def answer_ok(port: int, timeout: float, tls: bool = False) -> bool | None:
    """True for a complete 200, False for another answer, None when nobody listens yet."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    if tls:
        try:
            sock = _TLS.wrap_socket(sock, server_hostname="localhost")
        except (OSError, ssl.SSLError):
            sock.close()
            return False
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


def cpu_seconds(pid: int) -> float | None:
    """CPU time of every thread of ``pid`` so far (Linux schedstat, in ns), None elsewhere.

    Less disturbed than the wall clock by other work on a shared machine:
    what the start itself costs.
    """
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def launch(
    cfg: Config,
    root: Path,
    prefix: list[str],
    poll: float,
    timeout: float,
    *,
    record: bool = True,
    traced: bool = False,
) -> str:
    """One launch to the first answer; returns what it wrote on stderr until then.

    stderr goes to a file, whose size is taken when the answer has been
    read: what ``-X importtime`` reports after it (the aiofile import the
    first read starts, the shutdown) is left out.
    """
    port = free_port()
    argv = [a.format(root=root, port=port) for a in (cfg.traced if traced else cfg.argv)]
    env = {k: v for k, v in os.environ.items() if k not in USER_LESS}
    env.update(cfg.env)
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            prefix + argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=root,
            start_new_session=True,
        )
        listening: float | None = None
        failures = cfg.failures if record else []
        said: int | None = None  # bytes on stderr by the first answer
        try:
            while True:
                if proc.poll() is not None:
                    err.seek(0)
                    text = err.read().decode(errors="replace")
                    failures.append(f"exited {proc.returncode}: {text.strip()[-200:]}")
                    return text
                now = time.perf_counter()
                if now - t0 > timeout:
                    failures.append(f"no answer within {timeout:.0f} s")
                    break
                if listening is None:
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                            listening = time.perf_counter() - t0
                    except OSError:
                        time.sleep(poll)
                        continue
                got = answer_ok(port, timeout=5.0, tls=cfg.tls)
                if got is None:
                    time.sleep(poll)
                    continue
                said = os.fstat(err.fileno()).st_size
                cpu = cpu_seconds(proc.pid)
                if not got:
                    failures.append("first answer was not a 200")
                    break
                if record:
                    cfg.answered.append(time.perf_counter() - t0)
                    if cpu is not None:
                        cfg.cpu.append(cpu)
                    cfg.listening.append(listening)
                break
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        err.seek(0)
        return err.read(said).decode(errors="replace") if said is not None else ""


# --------------------------------------------------------------------------- installed wheels


def run_quiet(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(argv)}")


def copy_source(dest: Path, rev: str | None) -> str:
    """What a wheel is built from: this work tree as it is, or REV's committed tree.

    A copy, never the work tree itself: setuptools keeps a ``build/`` folder
    whose stale modules would go into the wheel.  Returns a label.
    """
    if rev is None:
        dest.mkdir(parents=True)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(REPO / name, dest / name)
        shutil.copytree(
            REPO / "staticsrv", dest / "staticsrv", ignore=shutil.ignore_patterns("__pycache__")
        )
        return "this tree"
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return f"{rev} ({commit})" if rev != commit else commit


def install_wheel(work: Path, rev: str | None, extras: list[str], python: str) -> tuple[Path, str]:
    """A venv holding the wheel of this tree (or of REV) and ``extras``; (venv, label)."""
    slug = "this" if rev is None else re.sub(r"[^\w.-]", "_", rev)
    src, wheels, venv = work / f"src-{slug}", work / f"wheel-{slug}", work / f"venv-{slug}"
    label = copy_source(src, rev)
    log(f"{label}: building the wheel")
    run_quiet([python, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)])
    wheel = next(wheels.glob("staticsrv-*.whl"))
    log(f"{label}: installing {wheel.name}[{','.join(extras)}] into a venv of its own")
    run_quiet([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run_quiet([*pip, "install", "-q", f"{wheel}[{','.join(extras)}]"])
    return venv, label


def bytecode_report(venv: Path) -> str:
    """How many of the installed package's modules have their bytecode cached."""
    found = list(venv.glob("lib/python*/site-packages/staticsrv"))
    if not found:
        return "package not found"
    package = found[0]
    modules = [p for p in package.rglob("*.py")]
    tag = sys.implementation.cache_tag
    cached = [p for p in modules if (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").is_file()]
    return f"{len(cached)} of {len(modules)} modules have a .pyc"


# --------------------------------------------------------------------------- -X importtime

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass
class ImportCosts:
    """Microseconds per module, the smallest of IMPORTTIME_RUNS launches, and who imported what.

    Only modules every launch imported before its first answer: the aiofile
    import that starts once the answer is written can slip a module or two
    in before the answer has been read.
    """

    selfs: dict[str, int]
    cumulative: dict[str, int]  # the modules a start imports itself, and what they import
    children: dict[str, list[str]]  # such a module -> the modules it imported first


def import_costs(
    cfg: Config, root: Path, prefix: list[str], poll: float, timeout: float
) -> ImportCosts:
    selfs: dict[str, int] = {}
    cumulative: dict[str, int] = {}
    children: dict[str, list[str]] = {}
    seen: collections.Counter[str] = collections.Counter()
    for run in range(IMPORTTIME_RUNS):
        err = launch(cfg, root, prefix, poll, timeout, record=False, traced=True)
        pending: list[str] = []  # depth-1 modules seen since the last depth-0 one
        for m in _IMPORT_LINE.finditer(err):
            own, cum, depth, name = int(m[1]), int(m[2]), (len(m[3]) - 1) // 2, m[4]
            selfs[name] = min(selfs.get(name, own), own)
            seen[name] += 1
            if depth <= 1:
                cumulative[name] = min(cumulative.get(name, cum), cum)
            if run == 0 and depth == 1:
                pending.append(name)
            elif run == 0 and depth == 0:
                children[name], pending = pending, []
    every = {name for name, n in seen.items() if n == IMPORTTIME_RUNS}
    return ImportCosts(
        {n: us for n, us in selfs.items() if n in every},
        {n: us for n, us in cumulative.items() if n in every},
        {n: [c for c in kids if c in every] for n, kids in children.items() if n in every},
    )


def group_of(module: str) -> str:
    """``staticsrv.site.reader`` -> ``staticsrv.site``; ``asyncio.events`` -> ``asyncio``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "staticsrv" and len(parts) > 1 else parts[0]


def importtime_report(costs: ImportCosts, top: int) -> list[str]:
    selfs = costs.selfs
    total = sum(selfs.values())
    lines = [
        f"`-X importtime` of the plain start up to its first answer (`python -X importtime "
        f"-m staticsrv`; the modules all of {IMPORTTIME_RUNS} launches imported, each with its "
        f"smallest time; {len(selfs)} modules, {total / 1000:.1f} ms in all, importtime's own "
        "overhead included).  What each import the start makes costs with everything it "
        "imports first (1 ms or more):",
        "",
    ]
    rows = []
    tops = sorted(costs.children, key=lambda n: -costs.cumulative[n])
    for name in tops:
        if costs.cumulative[name] < 1000:
            continue
        rows.append([name, f"{costs.cumulative[name] / 1000:.1f}"])
        kids = sorted(costs.children[name], key=lambda n: -costs.cumulative[n])
        rows += [
            [f"… {kid}", f"{costs.cumulative[kid] / 1000:.1f}"]
            for kid in kids
            if costs.cumulative[kid] >= 1000
        ]
    lines += md_table(["import", "cumulative ms"], rows, "lr")
    lines += ["", "Self time, summed by package, and the largest modules:", ""]
    groups: collections.Counter[str] = collections.Counter()
    for name, us in selfs.items():
        groups[group_of(name)] += us
    rows = [[g, f"{us / 1000:.1f}"] for g, us in groups.most_common(top)]
    lines += md_table(["package", "self ms, summed"], rows, "lr")
    lines.append("")
    rows = [[n, f"{us / 1000:.2f}"] for n, us in sorted(selfs.items(), key=lambda x: -x[1])[:top]]
    lines += md_table(["module", "self ms"], rows, "lr")
    lines.append("")
    return lines


# --------------------------------------------------------------------------- the run


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/startup_launches.py",
        description="Median launch-to-first-answer of staticsrv over many launches.",
    )
    p.add_argument("--launches", type=int, default=20, help="launches per configuration")
    p.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop", "auto"))
    p.add_argument("--before", metavar="REV", help="also launch staticsrv as it was at REV")
    p.add_argument(
        "--wheel",
        action="store_true",
        help="launch installed (non-editable) wheels of this tree and of --before REV, "
        "each in a temporary venv, instead of the source tree",
    )
    p.add_argument(
        "--modes",
        default="plain",
        help=f"comma-separated, of {', '.join(MODES)}: how each staticsrv is launched",
    )
    p.add_argument(
        "--http-server",
        action="store_true",
        help="also launch `python -m http.server` (the same interpreter): a yardstick of "
        "what starting Python and importing a small server costs on this machine",
    )
    p.add_argument(
        "--importtime",
        type=int,
        default=0,
        metavar="N",
        help="also list the N largest import costs of the first staticsrv's plain start",
    )
    p.add_argument("--poll-ms", type=float, default=2.0, help="pause between polls (ms)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an answer")
    p.add_argument("--pin", action="store_true", help="server on the last CPU, client elsewhere")
    p.add_argument("--md", type=Path, help="also write the Markdown table here")
    common.add_python_option(p)
    args = p.parse_args(list(argv))
    if args.launches < 1:
        p.error("--launches must be >= 1")
    args.mode_list = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in args.mode_list if m not in MODES]
    if unknown or not args.mode_list:
        p.error(f"--modes: give some of {', '.join(MODES)}")
    return args


def ms(xs: list[float], f: str) -> str:
    if not xs:
        return "—"
    value = statistics.median(xs) if f == "median" else min(xs) if f == "min" else max(xs)
    return f"{value * 1000:,.0f}"


def staticsrv_configs(
    args: argparse.Namespace, work: Path, data_dir: Path
) -> tuple[list[Config], str, list[str]]:
    """The staticsrv configurations, the python for http.server, and notes for the report."""
    loop = ["--loop", args.loop]
    builds: list[tuple[str, str, list[str], dict[str, str]]] = []  # (label, python, command, env)
    notes: list[str] = []
    if args.wheel:
        python = args.python or sys.executable
        extras = sorted({"fast", *(EXTRAS[m] for m in args.mode_list)})
        revs: list[str | None] = [None] if args.before is None else [None, args.before]
        http_python = ""
        for rev in revs:
            venv, label = install_wheel(work, rev, extras, python)
            notes.append(f"wheel of {label}: {bytecode_report(venv)}")
            venv_python = str(venv / "bin" / "python")
            builds.append((f"wheel of {label}", venv_python, [str(venv / "bin" / "staticsrv")], {}))
            http_python = http_python or venv_python
    else:
        python = args.python or common.venv_python()
        http_python = python
        cmd = [python, "-m", "staticsrv"]
        builds.append(("staticsrv (this tree)", python, cmd, {}))
        if args.before:
            tree = common.before_tree(args.before)
            rev = tree.name.removeprefix("before-")
            builds.append((f"staticsrv at {rev}", python, cmd, {"PYTHONPATH": str(tree)}))
    configs = []
    for label, interpreter, cmd, env in builds:
        for mode in args.mode_list:
            name = label if mode == "plain" else f"{label}, {' '.join(MODES[mode])}"
            options = ["--root", "{root}", "--port", "{port}", *loop, *MODES[mode]]
            traced = [interpreter, "-X", "importtime", "-m", "staticsrv", *options]
            env = {**env, "STATICSRV_DATA_DIR": str(data_dir)}
            configs.append(
                Config(
                    name,
                    [*cmd, *options],
                    env,
                    tls=mode == "https",
                    traced=traced,
                    build=label,
                    mode=mode,
                )
            )
    return configs, http_python, notes


def adds_table(configs: list[Config]) -> list[str]:
    """What --live and --https add to the plain start of the same build (medians)."""
    plain = {c.build: c for c in configs if c.build and c.mode == "plain"}
    rows = []
    for c in configs:
        base = plain.get(c.build)
        if c.mode == "plain" or base is None or not c.answered or not base.answered:
            continue
        added = statistics.median(c.answered) - statistics.median(base.answered)
        cpu = "—"
        if c.cpu and base.cpu:
            cpu = f"{(statistics.median(c.cpu) - statistics.median(base.cpu)) * 1000:+,.0f}"
        rows.append([c.build, " ".join(MODES[c.mode]), f"{added * 1000:+,.0f}", cpu])
    if not rows:
        return []
    header = ["build", "mode", "first answer: median ms added", "CPU by then: median ms added"]
    return ["What each mode adds to the plain start:", "", *md_table(header, rows, "llrr"), ""]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="staticsrv-startup-") as tmp:
        work = Path(tmp)
        root, data_dir = work / "site", work / "data"
        root.mkdir()
        (root / "small.html").write_bytes((b"<p>" + b"x" * 1017 + b"</p>\n")[:1024])
        configs, http_python, notes = staticsrv_configs(args, work, data_dir)
        if args.http_server:
            http = [http_python, "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
            configs.append(Config("python -m http.server", [*http, "--directory", "{root}"]))
        prefix: list[str] = []
        if args.pin:
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) < 2:
                log("--pin needs two CPUs; running unpinned")
            else:
                prefix = ["taskset", "-c", str(cpus[-1])]
                os.sched_setaffinity(0, set(cpus[:-1]))
        poll = args.poll_ms / 1000
        for cfg in configs:  # warm: page cache, bytecode, the CA of --https
            launch(cfg, root, prefix, poll, args.timeout, record=False)
        for i in range(args.launches):
            for cfg in configs if i % 2 == 0 else reversed(configs):
                launch(cfg, root, prefix, poll, args.timeout)
            log(f"launch round {i + 1}/{args.launches} done")
        importtime: list[str] = []
        if args.importtime > 0:
            first = next(c for c in configs if c.build and c.mode == "plain")
            log(f"-X importtime: {IMPORTTIME_RUNS} launches of {first.name}")
            costs = import_costs(first, root, prefix, poll, args.timeout)
            importtime = importtime_report(costs, args.importtime)
    header = ["configuration", "launches", "listening: median ms", "first answer: median ms"]
    header += ["first answer: min ms", "first answer: max ms", "CPU by then: median ms"]
    header += ["failures"]
    rows = [
        [
            c.name,
            str(len(c.answered)),
            ms(c.listening, "median"),
            ms(c.answered, "median"),
            ms(c.answered, "min"),
            ms(c.answered, "max"),
            ms(c.cpu, "median"),
            "; ".join(sorted(set(c.failures))) or "0",
        ]
        for c in configs
    ]
    cmd = shlex.join(["python", "benchmarks/startup_launches.py", *argv])
    text = [
        f"Launch to first answer, `--loop {args.loop}`, {'pinned' if prefix else 'unpinned'}, "
        f"polling every {args.poll_ms:g} ms (`{cmd}`):",
        "",
        *md_table(header, rows, "lrrrrrrl"),
        "",
        *adds_table(configs),
        *([f"Bytecode: {'; '.join(notes)}.", ""] if notes else []),
        *importtime,
    ]
    out = "\n".join(text)
    print(out)
    if args.md is not None:
        args.md.write_text(out)
    return 0 if all(c.answered for c in configs) else 1


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main(sys.argv[1:]))
