#!/usr/bin/env python3
"""Profile staticsrv's hot path under load with py-spy (sampling, no code changes).

Starts ``python -m staticsrv -q --loop LOOP --port 0`` on a temporary folder
holding a 1 KiB ``small.html``, drives it with ``wrk -t1 -c64`` on 127.0.0.1,
records ``py-spy record --format raw`` for part of that run, and prints the top
functions by self and by total time as Markdown tables.

    .venv/bin/pip install py-spy
    .venv/bin/python benchmarks/hotpath_profile.py --loop asyncio
    .venv/bin/python benchmarks/hotpath_profile.py --loop uvloop
    .venv/bin/python benchmarks/hotpath_profile.py --summarize benchmarks/out/profile-asyncio.txt
    .venv/bin/python benchmarks/hotpath_profile.py --pin --before 58ab58f --out benchmarks/out/p.txt
    .venv/bin/python benchmarks/hotpath_profile.py --pin --path /missing.html      # a 404
    .venv/bin/python benchmarks/hotpath_profile.py --pin --header 'Connection: close'

``--pin`` puts the server alone on the last CPU (wrk and py-spy on the
others), as the harness's ``--pin`` does; ``--before REV`` profiles the
package as it was at git revision REV.

The raw profile goes to ``benchmarks/out/profile-LOOP.txt`` (collapsed stacks,
one ``frame;frame;... count`` line per distinct stack, root first) and the
tables to ``benchmarks/out/profile-LOOP.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import common
from common import REPO, md_table, venv_python

OUT_DIR = REPO / "benchmarks" / "out"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# "func (path/to/file.py:123)"; py-spy writes "<module>", "run_forever", ...
FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


log = common.make_log("hotpath_profile.py")


def short_file(path: str) -> str:
    """Repository files relative to the repo, library files relative to their package dir."""
    repo = str(REPO) + "/"
    if path.startswith(repo):
        path = path[len(repo) :]
    for marker in ("/site-packages/", "/lib/python3.11/", "/lib/python3/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


@dataclass(frozen=True)
class Frame:
    func: str
    file: str
    line: int | None

    @property
    def function(self) -> str:
        return f"{self.func} ({self.file})"

    @property
    def where(self) -> str:
        return f"{self.func} ({self.file}:{self.line})" if self.line else self.function


def parse_frame(text: str) -> Frame:
    m = FRAME_RE.match(text.strip())
    if m is None:
        return Frame(text.strip(), "?", None)
    line = m.group("line")
    return Frame(m.group("func"), short_file(m.group("file")), int(line) if line else None)


def read_stacks(path: Path) -> list[tuple[list[Frame], int]]:
    stacks: list[tuple[list[Frame], int]] = []
    for raw in path.read_text().splitlines():
        raw = raw.strip()
        if not raw:
            continue
        stack, _, count = raw.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [parse_frame(f) for f in stack.split(";") if f]
        # py-spy may prefix the stack with a "process ..." or "thread ..." pseudo frame.
        frames = [f for f in frames if not f.func.startswith(("process ", "thread "))]
        if frames:
            stacks.append((frames, int(count)))
    return stacks


# Frames every sample of the serving thread passes through (interpreter start-up,
# click, asyncio.run, the loop's dispatch): left out of the total-time table.
ENVELOPE = re.compile(
    r"^(_run_module_as_main|_run_code|<module>|main|command|run|Runner\.run|Command\.\w+|"
    r"Context\.invoke|BaseEventLoop\.(run_forever|run_until_complete|_run_once)|Handle\._run)"
    r" \((<frozen runpy>|staticsrv/__main__\.py|staticsrv/cli\.py|click/core\.py|"
    r"asyncio/\w+\.py|uvloop/__init__\.py)\)$"
)


@dataclass
class Summary:
    samples: int
    other_threads: Counter[str]
    self_fn: Counter[str]
    total_fn: Counter[str]
    self_line: Counter[str]


def summarize(stacks: Iterable[tuple[list[Frame], int]]) -> Summary:
    """Self and total time of the serving (main) thread; other threads counted apart.

    py-spy drops samples of threads it sees as idle, but an executor thread
    parked in ``queue.get`` is sometimes counted as busy: such threads are
    reported separately instead of diluting the percentages.
    """
    other: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    total_fn: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    samples = 0
    for frames, n in stacks:
        if any(f.func == "Thread._bootstrap" for f in frames):
            other[frames[-1].where] += n
            continue
        samples += n
        leaf = frames[-1]
        self_fn[leaf.function] += n
        self_line[leaf.where] += n
        for fn in {f.function for f in frames}:  # once per stack, even when recursive
            if not ENVELOPE.match(fn):
                total_fn[fn] += n
    return Summary(samples, other, self_fn, total_fn, self_line)


def table(title: str, counts: Counter[str], samples: int, top: int) -> list[str]:
    rows: list[list[str]] = []
    for i, (name, n) in enumerate(counts.most_common(top), 1):
        pct = 100 * n / samples if samples else 0.0
        rows.append([str(i), f"`{name}`", f"{n:,}", f"{pct:.1f}"])
    return md_table(["#", title, "samples", "% of samples"], rows, "rlrr", escape=False)


def render(summary: Summary, top: int, header: Sequence[str] = ()) -> str:
    lines = list(header)
    lines.append(f"{summary.samples:,} non-idle samples of the serving thread.")
    if summary.other_threads:
        parts = ", ".join(f"`{k}` {v:,}" for k, v in summary.other_threads.most_common(3))
        lines.append(f"Left out, samples of other threads: {parts}.")
    lines.append("")
    lines.append("By self time (the function itself was on CPU):")
    lines.append("")
    lines += table("function (file)", summary.self_fn, summary.samples, top)
    lines.append("")
    lines.append(
        "By total time (the function was anywhere on the stack; start-up, click, "
        "asyncio.run and the loop's dispatch frames left out):"
    )
    lines.append("")
    lines += table("function (file)", summary.total_fn, summary.samples, top)
    lines.append("")
    lines.append("Hottest lines by self time:")
    lines.append("")
    lines += table("function (file:line)", summary.self_line, summary.samples, top)
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- load + record


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    rest = data[data.rindex(b")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def start_server(
    python: str, root: Path, loop: str, prefix: list[str], tree: Path | None
) -> tuple[subprocess.Popen[str], int]:
    argv = [python, "-m", "staticsrv", "--root", str(root), "--port", "0", "-q", "--loop", loop]
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    # cwd is the fixture: ``python -m`` puts the cwd first on sys.path, and the
    # repository's own staticsrv/ must not shadow an earlier revision's.
    proc = subprocess.Popen(
        prefix + argv, stdout=subprocess.PIPE, text=True, start_new_session=True, env=env, cwd=root
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if m is None:
        proc.kill()
        raise SystemExit(f"staticsrv did not announce its URL: {line!r}")
    return proc, int(m.group(1))


def wrk_rps(output: str) -> float | None:
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(m.group(1)) if m else None


def run_profile(args: argparse.Namespace) -> int:
    for tool in ("wrk", args.py_spy):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found")
    raw = Path(args.out or OUT_DIR / f"profile-{args.loop}.txt")
    raw.parent.mkdir(parents=True, exist_ok=True)
    python = venv_python()
    tree = common.before_tree(args.before) if args.before else None
    prefix: list[str] = []
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            # As the harness's --pin: the server alone on the last CPU; wrk,
            # py-spy and this script on the others (children inherit the mask).
            prefix = ["taskset", "-c", str(cpus[-1])]
            os.sched_setaffinity(0, set(cpus[:-1]))
        else:
            log("--pin needs two CPUs; running unpinned")
    with tempfile.TemporaryDirectory(prefix="staticsrv-profile-") as tmp:
        root = Path(tmp)
        name = "small.html" if args.size <= 64 * 1024 else "large.bin"
        with open(root / name, "wb") as f:
            f.write(b"<!DOCTYPE html>\n")
            left = args.size - 17
            while left > 0:
                f.write(b"x" * min(left, 1 << 20))
                left -= min(left, 1 << 20)
            f.write(b"\n")
        proc, port = start_server(python, root, args.loop, prefix, tree)
        path = args.path or f"/{name}"
        url = f"http://127.0.0.1:{port}{path}"
        try:
            # warm-up (caches filled, code paths specialised)
            load = ["wrk", "-t1", f"-c{args.conns}", "--timeout", "30s"]
            for h in args.header:
                load += ["-H", h]
            subprocess.run([*load, "-d2s", url], capture_output=True, check=False)
            # baseline without the profiler attached
            cpu0 = proc_cpu_s(proc.pid)
            base = subprocess.run(
                [*load, f"-d{args.wrk_duration}s", url],
                capture_output=True,
                text=True,
                check=False,
            )
            base_cpu = proc_cpu_s(proc.pid) - cpu0
            base_rps = wrk_rps(base.stdout)
            # the profiled run
            wrk = subprocess.Popen(
                [*load, f"-d{args.wrk_duration}s", url],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(1.0)
            spy = [args.py_spy, "record", "-o", str(raw), "--format", "raw"]
            spy += ["-d", str(args.record), "-r", str(args.rate), "-p", str(proc.pid)]
            if args.nonblocking:
                spy.append("--nonblocking")
            if args.native:
                spy.append("--native")
            log("running: " + " ".join(spy))
            subprocess.run(spy, check=True, stdout=subprocess.DEVNULL)
            out, _ = wrk.communicate()
            prof_rps = wrk_rps(out)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    base_req = base_rps * args.wrk_duration if base_rps else None
    header = [
        f"### --loop {args.loop}",
        "",
        f"- GET {path} ({args.size:,} B file in the root)"
        + "".join(f", `{h}`" for h in args.header)
        + (f", staticsrv at `{tree.name.removeprefix('before-')}`" if tree else "")
        + (", server pinned to its own CPU" if prefix else "")
        + f"; wrk -t1 -c{args.conns} -d{args.wrk_duration}s without the profiler: "
        f"{base_rps or 0:,.0f} req/s, server CPU {base_cpu:.1f} s"
        + (f" = {base_cpu * 1e6 / base_req:.1f} µs/req" if base_req else ""),
        f"- the same with py-spy attached ({args.rate} Hz, {args.record} s"
        + (", --nonblocking" if args.nonblocking else "")
        + (", --native" if args.native else "")
        + "): "
        f"{prof_rps or 0:,.0f} req/s",
        "",
    ]
    text = render(summarize(read_stacks(raw)), args.top, header)
    md = raw.with_suffix(".md")
    md.write_text(text)
    sys.stdout.write(text)
    log(f"raw profile: {raw}; tables: {md}")
    return 0


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="benchmarks/hotpath_profile.py", description=__doc__.split("\n")[0]
    )
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument("--wrk-duration", type=int, default=10, help="seconds of wrk load")
    p.add_argument("--record", type=int, default=8, help="seconds py-spy records")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--size", type=int, default=1024, help="bytes of the file served")
    p.add_argument("--conns", type=int, default=64, help="wrk connections")
    p.add_argument(
        "--nonblocking",
        action="store_true",
        help="py-spy --nonblocking: sample without pausing the server (less perturbation)",
    )
    p.add_argument(
        "--native", action="store_true", help="py-spy --native: include C frames (uvloop, libc)"
    )
    p.add_argument("--path", help="request this path (default: the served file; e.g. a 404)")
    p.add_argument("--header", action="append", default=[], metavar="H", help="wrk -H (repeatable)")
    p.add_argument("--before", metavar="REV", help="profile staticsrv as it was at git REV")
    p.add_argument(
        "--pin", action="store_true", help="server on the last CPU, wrk and py-spy on the others"
    )
    p.add_argument("--py-spy", default=str(REPO / ".venv" / "bin" / "py-spy"))
    p.add_argument("--out", type=Path, help="raw profile path")
    p.add_argument("--summarize", type=Path, metavar="RAW", help="only summarise a raw profile")
    args = p.parse_args(list(argv))
    if args.summarize:
        sys.stdout.write(render(summarize(read_stacks(args.summarize)), args.top))
        return 0
    return run_profile(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
