#!/usr/bin/env python3
"""Run the shared side-by-side benchmark with staticsrv in three configurations.

The harness (``../shared/bench/bench.py`` relative to the repository root, or
``--bench PATH``) starts staticsrv beside its peer servers in ONE interleaved
run.  This script adds three staticsrv configurations to it:

* ``staticsrv``         -- ``python -m staticsrv ... --loop asyncio`` (one process)
* ``staticsrv-uvloop``  -- the same with ``--loop uvloop``
* ``staticsrv-2w``      -- ``--loop uvloop --workers 2``

then reads the harness's raw JSON and writes ``benchmarks/RESULTS.md``: the
harness's Markdown report (machine-specific paths removed) followed by a
short "Headline ratios" section computed from the raw per-round numbers.

    .venv/bin/python benchmarks/run.py                      # normal run (10 s, 1 round)
    .venv/bin/python benchmarks/run.py --rounds 1 --duration 5
    .venv/bin/python benchmarks/run.py --quick --only small-c64,large
    .venv/bin/python benchmarks/run.py --report-only        # re-render from the last JSON

Two optional groups of reference servers join the same run:

* ``--ceilings`` adds ``benchmarks/zero_work.py``, a server that does no work
  (one precomputed 1 KiB answer, only for ``/small.html``; the harness skips
  its other scenarios), in two loop shapes on both loops: ``zero-ready`` (the
  shape staticsrv uses: standing readiness registrations) and ``zero-recv``
  (``loop.sock_recv``/``sock_sendall`` per request), each also ``-uvloop``.
  Its throughput is the ceiling of the shape on that machine at that moment.
* ``--before REV`` adds the package as it was at git revision REV
  (``git archive REV staticsrv`` into ``benchmarks/out/before-REV``) as
  ``staticsrv-before`` (asyncio) and ``staticsrv-before-uvloop``: a
  before/after comparison measured in one run.

    .venv/bin/python benchmarks/run.py --pin --ceilings --before 58ab58f

Options this script does not know are passed to the harness unchanged
(for example ``--warmup 0`` or ``--conns 32``).  The harness speaks plain
HTTP only: HTTPS is measured by ``benchmarks/tls.py`` (``make bench-tls``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import common
from common import LEFTOVER_PATH, REPO, SUBJECT, TWO_WORKERS, UVLOOP, Scrubber, f_ratio, md_table

DEFAULT_OUT = REPO / "benchmarks" / "RESULTS.md"
DEFAULT_JSON = REPO / "benchmarks" / "out" / "results.json"

CONFIGS = tuple(common.CONFIGS[name] for name in (SUBJECT, UVLOOP, TWO_WORKERS))

BEFORE, BEFORE_UVLOOP = "staticsrv-before", "staticsrv-before-uvloop"
# --variants: the same server with --live, and on a copy of the site with
# _redirects and _headers (benchmarks/rules_site.py).
LIVE, RULES = "staticsrv-live", "staticsrv-rules"
CEILINGS = ("zero-ready", "zero-recv", "zero-ready-uvloop", "zero-recv-uvloop")
# Rows of the "CPU per request" table, in this order, when they ran.
REFERENCE_ROWS = (
    (SUBJECT, "new code, asyncio"),
    (LIVE, "new code, asyncio, --live"),
    (RULES, "new code, asyncio, a site with _redirects and _headers"),
    (BEFORE, "code before, asyncio"),
    ("zero-ready", "zero work, readiness shape, asyncio"),
    ("zero-recv", "zero work, sock_recv shape, asyncio"),
    (UVLOOP, "new code, uvloop"),
    (BEFORE_UVLOOP, "code before, uvloop"),
    ("zero-ready-uvloop", "zero work, readiness shape, uvloop"),
    ("zero-recv-uvloop", "zero work, sock_recv shape, uvloop"),
    (TWO_WORKERS, "new code, uvloop, 2 workers"),
    ("nginx", "nginx, 1 worker"),
)

HEADLINE_TITLE = "## Headline ratios"


log = common.make_log("run.py")


# --------------------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark staticsrv (asyncio, uvloop, 2 workers) beside the peer servers "
        "with the shared harness and write benchmarks/RESULTS.md.",
        epilog="Unknown options are passed to bench.py unchanged.",
    )
    common.add_bench_option(p)
    p.add_argument("--quick", action="store_true", help="smoke run (passed to the harness)")
    p.add_argument("--rounds", type=int, help="interleaved rounds, median reported")
    p.add_argument("--duration", type=int, help="measured seconds per scenario and server")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO[,...]",
        help="run only these scenarios (repeatable)",
    )
    p.add_argument(
        "--pin",
        nargs="?",
        const="",
        default=None,
        metavar="SERVER_CPUS:CLIENT_CPUS",
        help="pin servers and the load tool to different CPUs (passed to the harness)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report path")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="raw JSON path")
    common.add_python_option(p)
    p.add_argument(
        "--ceilings",
        action="store_true",
        help="add the zero-work servers (benchmarks/zero_work.py, both shapes, both loops)",
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help=f"add {LIVE} (--live) and {RULES} (a copy of the site with _redirects and _headers)",
    )
    p.add_argument(
        "--before",
        metavar="REV",
        help="add staticsrv as it was at git revision REV (asyncio and uvloop) for before/after",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="do not run the harness: rebuild the report from the existing JSON and raw Markdown",
    )
    args, extra = p.parse_known_args(list(argv))
    if args.rounds is not None and args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.duration is not None and args.duration < 1:
        p.error("--duration must be >= 1")
    return args, extra


def raw_md_path(json_path: Path) -> Path:
    """Where the harness's own (unscrubbed) Markdown is kept, beside the JSON."""
    return json_path.with_name(json_path.stem + ".harness.md")


def harness_argv(args: argparse.Namespace, extra: list[str], python: str, bench: Path) -> list[str]:
    # Relative to the repository root when possible, so the harness records a
    # portable command line (it runs with the repository root as cwd).
    shown_bench = os.path.relpath(bench, REPO) if bench.is_absolute() else str(bench)
    argv = [sys.executable, shown_bench, *common.server_options(python, CONFIGS)]
    argv += reference_servers(args, python)
    if args.quick:
        argv.append("--quick")
    if args.rounds is not None:
        argv += ["--rounds", str(args.rounds)]
    if args.duration is not None:
        argv += ["--duration", str(args.duration)]
    for item in args.only:
        argv += ["--only", item]
    if args.pin is not None:
        argv.append(f"--pin={args.pin}" if args.pin else "--pin")
    argv += ["--json", _shown(args.json), "--md", _shown(raw_md_path(args.json))]
    return argv + extra


def reference_servers(args: argparse.Namespace, python: str) -> list[str]:
    """Harness options for the zero-work ceilings and the code before REV."""
    out: list[str] = []
    py = shlex.quote(python)
    if args.ceilings:
        script = "benchmarks/zero_work.py"
        for name in CEILINGS:
            shape = "ready" if "ready" in name else "recv"
            loop = "uvloop" if name.endswith("uvloop") else "asyncio"
            cmd = f"{py} {REPO / script} --port {{port}} --shape {shape} --loop {loop}"
            cmd += " --body {root}/small.html"
            out += ["--server", f"{name}={cmd}"]
    if args.variants:
        base = f"{py} -m staticsrv --port {{port}} -q --loop asyncio"
        out += ["--server", f"{LIVE}={base} --root {{root}} --live"]
        wrap = f"{py} {REPO / 'benchmarks' / 'rules_site.py'} {{root}} {{root}}-rules --"
        out += ["--server", f"{RULES}={wrap} {base} --root {{root}}-rules"]
    if args.before:
        tree = common.before_tree(args.before)
        log(f"{BEFORE}: staticsrv/ from {os.path.relpath(tree, REPO)}")
        for name, loop in ((BEFORE, "asyncio"), (BEFORE_UVLOOP, "uvloop")):
            cmd = f"env PYTHONPATH={shlex.quote(str(tree))} {py} -m staticsrv"
            cmd += f" --root {{root}} --port {{port}} -q --loop {loop}"
            out += ["--server", f"{name}={cmd}"]
    return out


def _shown(path: Path) -> str:
    """A path as passed to the harness (cwd = repository root): relative when inside it."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def run_harness(argv: list[str]) -> int:
    """Run bench.py in the foreground; Ctrl-C reaches it too, and it prints a partial report."""
    log("running: " + shlex.join(argv))
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    old_term = signal.signal(signal.SIGTERM, forward)
    old_hup = signal.signal(signal.SIGHUP, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                # The harness got the same SIGINT (same process group): it stops
                # its servers and writes the partial report; wait for that.
                continue
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGHUP, old_hup)


# --------------------------------------------------------------------------- path scrubbing


def make_scrubber(python: str, bench: Path, report: dict[str, Any] | None) -> Scrubber:
    s = Scrubber()  # leftover paths are replaced (and logged) by build_results
    tmp = tempfile.gettempdir().rstrip("/")
    # The harness's scratch dir (fixture under site/, per-server configs under servers/).
    s.rules.append((re.compile(re.escape(tmp) + r"/staticsrv-bench-[A-Za-z0-9_]+"), "$WORKDIR"))
    peer_python = None
    if report is not None:
        peer_python = report.get("meta", {}).get("options", {}).get("peer_python")
    peers_dir = os.environ.get("BENCH_PEERS_DIR", os.path.expanduser("~/.cache/bench-peers"))
    peer = peer_python if isinstance(peer_python, str) else None
    s.add_common_rules(python, peer, peers_dir, bench)
    return s


# --------------------------------------------------------------------------- source state


def source_state() -> dict[str, str]:
    """Which staticsrv code was measured: git commit, dirty flag, digest of staticsrv/.

    Other people may edit the package while a run is going on; comparing the
    digest before and after the run shows whether the numbers mix two versions.
    Only read-only git commands are used.
    """
    state = {"digest": common.source_digest(), "commit": "?", "dirty": "?"}
    git = common.git_source()
    if git is not None:
        state["commit"], dirty = git
        state["dirty"] = "yes" if dirty else "no"
    return state


def source_path(json_path: Path) -> Path:
    return json_path.with_name(json_path.stem + ".source.json")


def describe_source(src: dict[str, Any] | None) -> str:
    if not src or "before" not in src:
        return "staticsrv source: unknown (no record of the run's source state)."
    b: dict[str, str] = src["before"]
    commit = f"`{b.get('commit', '?')}`"
    code = common.describe_code(commit, b.get("dirty") == "yes", f"{b.get('digest', '?')}")
    text = f"staticsrv source: git commit {code}."
    a: dict[str, str] | None = src.get("after")
    if a and a.get("digest") != b.get("digest"):
        text += (
            f" ⚠ `staticsrv/` changed during the run (digest `{b.get('digest')}` → "
            f"`{a.get('digest')}`): early and late scenarios may have measured different code."
        )
    return text


# --------------------------------------------------------------------------- raw numbers


@dataclass(frozen=True)
class Value:
    value: float | None
    flags: tuple[str, ...] = ()
    why: str = ""  # why there is no value
    client_cpu_pct: float | None = None

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def scenario_value(report: dict[str, Any], scenario: str, server: str, metric: str) -> Value:
    """Median over the measured rounds of one raw number (rps, mbps, cpu_us_per_req, ...)."""
    servers: dict[str, Any] = report.get("servers", {})
    info = servers.get(server)
    if info is None:
        return Value(None, why="not in this run")
    if not info.get("ran"):
        return Value(None, why=str(info.get("skip_reason", "not run")))
    if scenario not in report.get("scenarios", {}):
        return Value(None, why=f"scenario {scenario} not run")
    rounds: list[dict[str, Any]] = report.get("results", {}).get(scenario, {}).get(server, [])
    flags: list[str] = []
    for r in rounds:
        for f in r.get("flags", []):
            if f not in flags:
                flags.append(str(f))
    done = [r for r in rounds if not r.get("skipped")]
    if not done:
        why = str(rounds[0].get("skipped", "not run")) if rounds else "not run"
        return Value(None, tuple(flags), why=why)
    vals = [float(r[metric]) for r in done if isinstance(r.get(metric), int | float)]
    ccpu = [float(r["client_cpu_pct"]) for r in done if isinstance(r.get("client_cpu_pct"), float)]
    return Value(_median(vals), tuple(flags), client_cpu_pct=_median(ccpu))


def server_value(report: dict[str, Any], server: str, key: str) -> Value:
    info = report.get("servers", {}).get(server)
    if info is None:
        return Value(None, why="not in this run")
    if not info.get("ran"):
        return Value(None, why=str(info.get("skip_reason", "not run")))
    v = info.get(key)
    return Value(float(v) if isinstance(v, int | float) else None, why="not measured")


# --------------------------------------------------------------------------- headline section


def f_num(x: float | None, nd: int = 0) -> str:
    return "—" if x is None else f"{x:,.{nd}f}"


@dataclass(frozen=True)
class Row:
    label: str
    unit: str
    a: Value
    b: Value
    fmt: Callable[[float | None], str]
    lower_is_better: bool = False


def _notes(a: Value, a_name: str, b: Value, b_name: str, unit: str) -> str:
    out: list[str] = []
    for v, name in ((a, a_name), (b, b_name)):
        if v.value is None:
            out.append(f"{name}: {v.why}")
        if v.flags:
            out.append(f"⚠ {name}: " + "; ".join(v.flags))
        if v.client_cpu_pct is not None and v.client_cpu_pct >= 90 and unit != "MB/s":
            out.append(f"{name}: client-bound (wrk {v.client_cpu_pct:.0f} % CPU)")
    return "; ".join(out)


def headline(report: dict[str, Any], scrub: Scrubber, src: dict[str, Any] | None = None) -> str:
    meta: dict[str, Any] = report.get("meta", {})
    opts: dict[str, Any] = meta.get("options", {})

    def sv(scen: str, srv: str, metric: str = "rps") -> Value:
        return scenario_value(report, scen, srv, metric)

    def mib(x: float | None) -> str:
        return "—" if x is None else f"{x / 1024:,.1f} MiB"

    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x * 1000:,.0f} ms"

    def rps(x: float | None) -> str:
        return f_num(x)

    def mbps(x: float | None) -> str:
        return f_num(x)

    rows: list[tuple[str, str, str, Row]] = []  # (a name, b name, label, row)

    def add(
        a_name: str,
        b_name: str,
        label: str,
        unit: str,
        a: Value,
        b: Value,
        fmt: Callable[[float | None], str],
        lower: bool = False,
    ) -> None:
        rows.append((a_name, b_name, label, Row(label, unit, a, b, fmt, lower)))

    small = "small-c64"
    for peer, shown in (
        ("aiohttp", "aiohttp"),
        ("uvicorn+starlette", "uvicorn+starlette"),
        ("http.server", "http.server"),
        ("nginx", "nginx (1 worker)"),
        ("caddy", "caddy"),
    ):
        add(
            SUBJECT,
            peer,
            f"staticsrv / {shown}, small-c64",
            "req/s",
            sv(small, SUBJECT),
            sv(small, peer),
            rps,
        )
    add(
        UVLOOP,
        "nginx",
        "staticsrv-uvloop / nginx (1 worker), small-c64",
        "req/s",
        sv(small, UVLOOP),
        sv(small, "nginx"),
        rps,
    )
    add(
        TWO_WORKERS,
        "caddy",
        "staticsrv-2w / caddy, small-c64",
        "req/s",
        sv(small, TWO_WORKERS),
        sv(small, "caddy"),
        rps,
    )
    add(
        SUBJECT,
        "nginx",
        "staticsrv / nginx (1 worker), large",
        "MB/s",
        sv("large", SUBJECT, "mbps"),
        sv("large", "nginx", "mbps"),
        mbps,
    )
    add(
        SUBJECT,
        "nginx",
        "staticsrv / nginx (1 worker), listing",
        "req/s",
        sv("listing", SUBJECT),
        sv("listing", "nginx"),
        rps,
    )
    add(
        SUBJECT,
        SUBJECT,
        "staticsrv 304 (conditional) / its own 200 (small-c64)",
        "req/s",
        sv("conditional", SUBJECT),
        sv(small, SUBJECT),
        rps,
    )
    add(
        SUBJECT,
        SUBJECT,
        "staticsrv 404 (not-found) / its own 200 (small-c64)",
        "req/s",
        sv("not-found", SUBJECT),
        sv(small, SUBJECT),
        rps,
    )
    for name in (SUBJECT, UVLOOP):
        add(
            name,
            "nginx",
            f"{name} / nginx (1 worker), conn-close",
            "req/s",
            sv("conn-close", name),
            sv("conn-close", "nginx"),
            rps,
        )
    for scen, what in (("conditional", "304"), ("not-found", "404")):
        add(
            SUBJECT,
            SUBJECT,
            f"staticsrv {what} ({scen}) / its own 200 (small-c64), CPU per request",
            "CPU µs/req",
            sv(scen, SUBJECT, "cpu_us_per_req"),
            sv(small, SUBJECT, "cpu_us_per_req"),
            lambda x: f_num(x, 1),
            True,
        )
    ran = set(report.get("servers", {}))
    for new, old in ((SUBJECT, BEFORE), (UVLOOP, BEFORE_UVLOOP)):
        if old not in ran:
            continue
        for scen in (small, "conn-close", "not-found", "conditional"):
            add(new, old, f"{new} / {old}, {scen}", "req/s", sv(scen, new), sv(scen, old), rps)
    for new, zero in ((SUBJECT, "zero-ready"), (UVLOOP, "zero-ready-uvloop")):
        if zero in ran:
            add(
                new,
                zero,
                f"{new} / {zero}, small-c64",
                "req/s",
                sv(small, new),
                sv(small, zero),
                rps,
            )
    for zero in CEILINGS:
        if zero in ran:
            add(
                zero,
                "nginx",
                f"{zero} / nginx (1 worker), small-c64",
                "req/s",
                sv(small, zero),
                sv(small, "nginx"),
                rps,
            )
    for what, unit, key, fmt in (
        ("idle RSS", "RSS", "idle_rss_kib", mib),
        ("startup time", "startup", "startup_s", ms),
    ):
        for peer in ("nginx", "aiohttp", BEFORE):
            if peer == BEFORE and peer not in ran:
                continue
            add(
                SUBJECT,
                peer,
                f"staticsrv / {peer}, {what}",
                unit,
                server_value(report, SUBJECT, key),
                server_value(report, peer, key),
                fmt,
                True,
            )

    L: list[str] = [HEADLINE_TITLE, ""]
    L.append(
        "Computed by `benchmarks/run.py` from the harness's raw JSON (median of the measured "
        f"rounds; {opts.get('rounds', '?')} round(s) of {opts.get('duration', '?')} s, "
        f"{'pinned' if opts.get('pin') else 'unpinned'}, {meta.get('date_utc', '?')}). "
        "Throughput ratios: > 1 means the first-named server is faster. Memory and startup "
        "ratios: < 1 means staticsrv is smaller / quicker. ⚠ marks a number the harness "
        "flagged as suspect (reasons in the last column)."
    )
    L.append("")
    L.append(describe_source(src))
    L.append("")
    table: list[list[str]] = []
    for a_name, b_name, label, row in rows:
        ratio = row.a.value / row.b.value if row.a.value is not None and row.b.value else None
        flag = " ⚠" if row.a.flagged or row.b.flagged else ""
        note = _notes(row.a, a_name, row.b, b_name, row.unit)
        if row.lower_is_better:
            note = "lower is better" + ("; " + note if note else "")
        cells = [
            label,
            row.unit,
            row.fmt(row.a.value) + (" ⚠" if row.a.flagged else ""),
            row.fmt(row.b.value) + (" ⚠" if row.b.flagged else ""),
            f_ratio(ratio) + flag,
            note.replace("|", "\\|"),
        ]
        table.append(cells)
    header = ["comparison", "unit", "first", "second", "ratio", "notes"]
    L += md_table(header, table, "llrrrl", escape=False)
    L.append("")

    # The three configurations at a glance.
    L.append("### staticsrv configurations")
    L.append("")
    table = []
    variants = (
        common.Config(LIVE, "--loop asyncio --live", "default loop, --live"),
        common.Config(RULES, "--loop asyncio", "default loop, a site with _redirects and _headers"),
    )
    configs = [*CONFIGS, *(v for v in variants if v.name in report.get("servers", {}))]
    for cfg in configs:
        name = cfg.name
        s = sv(small, name)
        cpu = sv(small, name, "cpu_us_per_req")
        c304 = sv("conditional", name)
        c404 = sv("not-found", name)
        large = sv("large", name, "mbps")
        info = report.get("servers", {}).get(name, {})

        def rel(x: Value, base: Value = s) -> str:
            if x.value is None or not base.value:
                return "—"
            return f_ratio(x.value / base.value) + (" ⚠" if x.flagged or base.flagged else "")

        cells = [
            f"`{name}` ({cfg.about})",
            f_num(s.value) + (" ⚠" if s.flagged else ""),
            f_num(cpu.value, 1),
            f_num(s.client_cpu_pct),
            rel(c304),
            rel(c404),
            f_num(large.value) + (" ⚠" if large.flagged else ""),
            mib(server_value(report, name, "idle_rss_kib").value),
            mib(server_value(report, name, "idle_pss_kib").value),
            str(info.get("procs") or "—"),
            ms(server_value(report, name, "startup_s").value),
        ]
        table.append(cells)
    header = ["config", "small-c64 req/s", "CPU µs/req", "client CPU %", "304 / 200", "404 / 200"]
    header += ["large MB/s", "idle RSS", "idle PSS", "procs", "startup"]
    L += md_table(header, table, "lrrrrrrrrrr", escape=False)
    L.append("")

    L += cpu_table(report, sv)

    # Every ⚠ on a staticsrv configuration, scenario by scenario.
    problems: list[str] = []
    for scen in report.get("scenarios", {}):
        for name in (c.name for c in CONFIGS):
            v = sv(scen, name)
            if v.flags:
                problems.append(f"- ⚠ `{name}` / {scen}: " + "; ".join(v.flags))
            elif v.value is None and name in report.get("servers", {}):
                problems.append(f"- `{name}` / {scen}: no number ({v.why})")
    if problems:
        L.append("Problems with staticsrv rows:")
        L.append("")
        L += problems
    else:
        L.append("No staticsrv row was flagged ⚠ in any scenario.")
    L.append("")
    L.append(
        "Note: the harness's own ratio tables above compare `staticsrv` with every other "
        'server, including `staticsrv-uvloop` and `staticsrv-2w`; its "best peer" can '
        "therefore be another staticsrv configuration"
        + (", the code before, or a zero-work server." if ran & {BEFORE, *CEILINGS} else ".")
    )
    L.append("")
    return scrub("\n".join(L))


def cpu_table(report: dict[str, Any], sv: Callable[[str, str, str], Value]) -> list[str]:
    """Throughput and CPU per request of each staticsrv configuration beside the code
    before and the zero-work ceilings (rows only for the servers that ran)."""
    ran = set(report.get("servers", {}))
    rows = [(name, about) for name, about in REFERENCE_ROWS if name in ran]
    if not any(name in ran for name in (BEFORE, *CEILINGS)):
        return []
    nginx = {scen: sv(scen, "nginx", "rps") for scen in ("small-c64", "conn-close")}

    def cell(v: Value, nd: int = 0) -> str:
        return "—" if v.value is None else f_num(v.value, nd) + (" ⚠" if v.flagged else "")

    def share(v: Value, scen: str) -> str:
        base = nginx[scen].value
        return f_ratio(v.value / base) if v.value is not None and base else "—"

    table: list[list[str]] = []
    for name, about in rows:
        small, close = sv("small-c64", name, "rps"), sv("conn-close", name, "rps")
        table.append(
            [
                f"`{name}` ({about})",
                cell(small),
                share(small, "small-c64"),
                cell(sv("small-c64", name, "cpu_us_per_req"), 1),
                cell(sv("conditional", name, "cpu_us_per_req"), 1),
                cell(sv("not-found", name, "cpu_us_per_req"), 1),
                cell(close),
                share(close, "conn-close"),
                cell(sv("conn-close", name, "cpu_us_per_req"), 1),
            ]
        )
    header = ["server", "small-c64 req/s", "/ nginx", "200 CPU µs/req", "304 CPU µs/req"]
    header += ["404 CPU µs/req", "conn-close req/s", "/ nginx", "conn-close CPU µs/req"]
    L = ["### CPU per request, the code before and the zero-work ceilings", ""]
    L.append(
        "CPU µs/req is the server's CPU time per completed request (200: small-c64; "
        "304: `conditional`, a 100 KiB file's ETag; 404: `not-found`). The zero-work "
        "servers answer only `/small.html`, so they have no 304/404 numbers; their "
        "small-c64 CPU per request is what the loop and the socket cost in that shape, "
        "and a staticsrv row minus the zero-work row of the same shape and loop is "
        "staticsrv's own work."
    )
    L.append("")
    L += md_table(header, table, "lrrrrrrrr", escape=False)
    L.append("")
    return L


# --------------------------------------------------------------------------- report


def build_results(
    report: dict[str, Any] | None,
    harness_md: str | None,
    scrub: Scrubber,
    rc: int | None,
    src: dict[str, Any] | None = None,
) -> str:
    parts: list[str] = [
        "<!-- generated by benchmarks/run.py (`make bench`); do not edit by hand -->",
        "",
    ]
    if report is not None:
        parts.append(
            f'_The headline ratios are at the end (section "{HEADLINE_TITLE[3:]}"). '
            "Paths are shown relative: `python` is the project's venv interpreter, `$WORKDIR` "
            "the harness's temporary directory (fixture in `$WORKDIR/site`)._"
        )
        parts.append("")
    if harness_md:
        parts.append(scrub(harness_md).rstrip("\n"))
        parts.append("")
    elif rc is not None:
        parts.append(
            f"# Static-file server benchmark\n\nThe harness exited with status {rc} "
            "and wrote no Markdown report.\n"
        )
    if report is not None:
        parts.append(headline(report, scrub, src))
    else:
        parts.append(f"{HEADLINE_TITLE}\n\nNo JSON results were produced, so no ratios.\n")
    text = "\n".join(parts).rstrip("\n") + "\n"
    leftovers = sorted(set(LEFTOVER_PATH.findall(text)))
    if leftovers:
        log("scrubbing leftover absolute paths: " + ", ".join(leftovers[:5]))
        text = LEFTOVER_PATH.sub("…", text)
    return text


def load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log(f"cannot read {path}: {exc}")
        return None
    return data if isinstance(data, dict) else None


def main(argv: Sequence[str]) -> int:
    args, extra = parse_args(argv)
    bench = common.bench_path(args)
    python = args.python or common.venv_python()
    args.json = Path(os.path.abspath(args.json))
    args.out = Path(os.path.abspath(args.out))
    rc: int | None = None
    if not args.report_only:
        if not bench.is_file():
            log(f"harness not found: {bench} (use --bench PATH)")
            return 2
        args.json.parent.mkdir(parents=True, exist_ok=True)
        for stale in (args.json, raw_md_path(args.json), source_path(args.json)):
            stale.unlink(missing_ok=True)
        before = source_state()
        rc = run_harness(harness_argv(args, extra, python, bench))
        src_record = {"before": before, "after": source_state()}
        source_path(args.json).write_text(json.dumps(src_record, indent=1) + "\n")
        if src_record["after"] != before:
            log("warning: staticsrv/ changed while the benchmark ran")
        if rc != 0:
            log(f"the harness exited with status {rc}")
    report = load_json(args.json)
    try:
        harness_md: str | None = raw_md_path(args.json).read_text()
    except OSError:
        harness_md = None
    src: dict[str, Any] | None = None
    if source_path(args.json).is_file():
        try:
            src = json.loads(source_path(args.json).read_text())
        except ValueError:
            src = None
    scrub = make_scrubber(python, bench, report)
    text = build_results(report, harness_md, scrub, rc, src)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    log(f"wrote {os.path.relpath(args.out, REPO)}")
    if report is None:
        return rc or 1
    return rc or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
