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
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import errno
import importlib.util
import os
import platform
import resource
import selectors
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from common import REPO, Scrubber

HOST = "127.0.0.1"
REQUEST = b"GET /small.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
SUBJECT = "staticsrv"
UVLOOP = "staticsrv-uvloop"
CONFIGS: tuple[tuple[str, str, str], ...] = (
    (SUBJECT, "--loop asyncio", "staticsrv, default asyncio loop, 1 process"),
    (UVLOOP, "--loop uvloop", "staticsrv on uvloop, 1 process"),
)
RSS_SAMPLES = 5  # over about 1 s
RSS_INTERVAL = 0.25
FD_OVERHEAD = 64  # descriptors the script needs besides the N sockets
MAX_HEAD = 64 * 1024


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


def load_bench(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("bench", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the harness from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


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


# --------------------------------------------------------------------------- HTTP response


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


# --------------------------------------------------------------------------- connections

CONNECTING, SENDING, READING, IDLE, CLOSED = range(5)


@dataclass
class Conn:
    sock: socket.socket
    state: int = CONNECTING
    out: bytes = REQUEST
    buf: bytearray = field(default_factory=bytearray)
    answered_at: float = 0.0
    resp: Response | None = None


@dataclass
class Load:
    """N connections to one server: the answered ones stay open until ``close_all``."""

    conns: list[Conn] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    open_s: float = 0.0  # first connect to the last answer (or the deadline)
    unanswered: int = 0
    answered_n: int = 0  # complete 200 responses on a connection left open
    announced_close: int = 0  # answers that said the connection will be closed
    versions: Counter[str] = field(default_factory=Counter)

    def answered(self) -> list[Conn]:
        return [c for c in self.conns if c.state == IDLE]

    def close_all(self) -> None:
        for c in self.conns:
            c.sock.close()
            c.state = CLOSED


def _fail(load: Load, sel: selectors.BaseSelector, c: Conn, why: str) -> None:
    load.failures[why] += 1
    if c.state in (CONNECTING, SENDING, READING):
        sel.unregister(c.sock)
    c.sock.close()
    c.state = CLOSED


def _step(load: Load, sel: selectors.BaseSelector, c: Conn) -> None:
    """Advance one connection after its socket became ready."""
    if c.state == CONNECTING:
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            _fail(load, sel, c, f"connect: {os.strerror(err)}")
            return
        c.state = SENDING
    if c.state == SENDING:
        try:
            sent = c.sock.send(c.out)
        except BlockingIOError:
            return
        except OSError as e:
            _fail(load, sel, c, f"send: {e.strerror or e}")
            return
        c.out = c.out[sent:]
        if c.out:
            return
        c.state = READING
        sel.modify(c.sock, selectors.EVENT_READ, c)
        return
    if c.state == READING:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            _fail(load, sel, c, f"recv: {e.strerror or e}")
            return
        c.buf += data
        try:
            resp = parse_response(bytes(c.buf), eof=not data)
        except ValueError as e:
            _fail(load, sel, c, f"bad response: {e}")
            return
        if resp is None:
            if not data:
                _fail(load, sel, c, "closed before a full response")
            return
        load.versions[resp.version] += 1
        if resp.status != 200:
            _fail(load, sel, c, f"HTTP {resp.status}")
            return
        if resp.extra:
            _fail(load, sel, c, "bytes after the response")
            return
        if not resp.keep_alive:
            load.announced_close += 1
        sel.unregister(c.sock)
        c.resp, c.state, c.answered_at = resp, IDLE, time.monotonic()
        c.buf = bytearray()
        if not data:  # the response ended with the connection
            c.sock.close()
            c.state = CLOSED
            load.failures["closed by server (no length, read to EOF)"] += 1


def open_connections(port: int, n: int, concurrency: int, timeout: float) -> Load:
    """Open N connections, one request each, keep the answered ones open."""
    load = Load()
    sel = selectors.DefaultSelector()
    active = attempted = 0
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        while True:
            while active < concurrency and attempted < n:
                attempted += 1
                try:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                except OSError as e:
                    load.failures[f"socket: {e.strerror or e}"] += 1
                    continue
                s.setblocking(False)
                rc = s.connect_ex((HOST, port))
                if rc not in (0, errno.EINPROGRESS):
                    s.close()
                    load.failures[f"connect: {os.strerror(rc)}"] += 1
                    continue
                c = Conn(s)
                load.conns.append(c)
                sel.register(s, selectors.EVENT_WRITE, c)
                active += 1
            if active == 0:
                break
            now = time.monotonic()
            if now >= deadline:
                break
            for key, _mask in sel.select(timeout=min(0.2, deadline - now)):
                c = key.data
                before = c.state
                _step(load, sel, c)
                if before in (CONNECTING, SENDING, READING) and c.state in (IDLE, CLOSED):
                    active -= 1
        for c in load.conns:
            if c.state == CONNECTING:
                load.unanswered += 1
                _fail(load, sel, c, f"connect not completed within {timeout:g} s")
            elif c.state in (SENDING, READING):
                load.unanswered += 1
                _fail(load, sel, c, f"no full answer within {timeout:g} s")
        load.open_s = time.monotonic() - t0
        load.conns = [c for c in load.conns if c.state == IDLE]
        load.answered_n = len(load.conns)
    finally:
        sel.close()
    return load


@dataclass
class Check:
    open: int = 0
    closed: int = 0  # EOF or reset from the server
    unexpected: int = 0  # bytes arrived on an idle connection
    oldest_idle_s: float = 0.0  # age of the oldest answer at the check


def check_open(load: Load) -> Check:
    """Non-blocking recv on each answered connection: BlockingIOError means still open."""
    out = Check()
    now = time.monotonic()
    for c in load.answered():
        out.oldest_idle_s = max(out.oldest_idle_s, now - c.answered_at)
        try:
            data = c.sock.recv(1)
        except BlockingIOError:
            out.open += 1
            continue
        except OSError:
            data = b""
        if data:
            out.unexpected += 1
        else:
            out.closed += 1
        c.sock.close()
        c.state = CLOSED
    return out


@dataclass
class Hold:
    seconds: float = 0.0
    closed_after: list[float] = field(default_factory=list)  # idle age when the server closed
    open_at_end: int = 0
    oldest_idle_s: float = 0.0
    unexpected: int = 0  # connections that received bytes while idle (closed by us)


def hold_idle(load: Load, seconds: float) -> Hold:
    """Keep the open connections idle; record how long each stayed open before the server
    closed it."""
    out = Hold(seconds=seconds)
    live = load.answered()
    if not live or seconds <= 0:
        out.open_at_end = len(live)
        return out
    sel = selectors.DefaultSelector()
    try:
        for c in live:
            sel.register(c.sock, selectors.EVENT_READ, c)
        deadline = time.monotonic() + seconds
        remaining = len(live)
        while remaining:
            now = time.monotonic()
            if now >= deadline:
                break
            for key, _mask in sel.select(timeout=min(0.5, deadline - now)):
                c = key.data
                try:
                    data = c.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:  # reset by the server
                    data = b""
                if data:
                    out.unexpected += 1
                else:
                    out.closed_after.append(time.monotonic() - c.answered_at)
                sel.unregister(c.sock)
                c.sock.close()
                c.state = CLOSED
                remaining -= 1
        now = time.monotonic()
        still = load.answered()
        out.open_at_end = len(still)
        out.oldest_idle_s = max((now - c.answered_at for c in still), default=0.0)
    finally:
        sel.close()
    return out


# --------------------------------------------------------------------------- one server


@dataclass
class Result:
    name: str
    about: str = ""
    version: str = ""
    skip: str | None = None
    startup_s: float | None = None
    protocol: str = "?"
    warmup_status: int | None = None
    idle_procs: int = 0
    idle_rss_kib: int = 0
    idle_pss_kib: int = 0
    procs_n: int = 0
    rss_n_kib: int = 0
    pss_n_kib: int = 0
    load: Load | None = None
    check: Check | None = None
    hold: Hold | None = None
    events: list[str] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.skip is None and self.check is not None

    def errors(self) -> int:
        return sum(self.load.failures.values()) if self.load else 0

    def held_all(self, n: int) -> bool:
        return self.check is not None and self.check.open == n and self.errors() == 0


def sample_session(bench: Any, inst: Any) -> tuple[int, int, int]:
    """Max RSS and PSS (KiB, summed over the session) and process count over about 1 s."""
    rss = pss = procs = 0
    for i in range(RSS_SAMPLES):
        if i:
            time.sleep(RSS_INTERVAL)
        pids = inst.pids()
        procs = max(procs, len(pids))
        rss = max(rss, int(inst.sample_rss()))
        pss = max(pss, sum(int(bench.proc_pss_kib(p)) for p in pids))
    return rss, pss, procs


def run_server(bench: Any, ctx: Any, spec: Any, args: argparse.Namespace, res: Result) -> None:
    inst = bench.Instance(spec, ctx)
    load: Load | None = None
    try:
        log(f"{spec.name}: starting ...")
        try:
            inst.start(set())
        except bench.StartError as e:
            res.skip = f"failed to start: {e}"
            log(f"  {res.skip}")
            return
        res.startup_s, res.protocol = inst.startup_s, inst.protocol
        res.events += inst.events
        try:
            r = bench.http_request(inst.port, "GET", "/small.html", timeout=10.0)
            res.warmup_status = int(r["status"])
        except Exception as e:  # the run goes on: the N requests will show it
            res.events.append(f"warm-up request failed: {e!r}")
        if res.warmup_status not in (None, 200):
            res.events.append(f"warm-up request answered HTTP {res.warmup_status}")
        time.sleep(0.5)
        inst.measure_idle()
        res.idle_procs = int(inst.idle_procs)
        res.idle_rss_kib, res.idle_pss_kib = int(inst.idle_rss_kib), int(inst.idle_pss_kib)
        log(
            f"  idle RSS {res.idle_rss_kib / 1024:.1f} MiB, PSS {res.idle_pss_kib / 1024:.1f} MiB "
            f"in {res.idle_procs} process(es); opening {args.conns} connections ..."
        )
        load = open_connections(inst.port, args.conns, args.concurrency, args.timeout)
        res.load = load
        log(
            f"  {load.answered_n} answered in {load.open_s:.2f} s"
            + (f"; failures: {dict(load.failures)}" if load.failures else "")
        )
        res.rss_n_kib, res.pss_n_kib, res.procs_n = sample_session(bench, inst)
        res.check = check_open(load)
        log(
            f"  RSS {res.rss_n_kib / 1024:.1f} MiB, PSS {res.pss_n_kib / 1024:.1f} MiB; "
            f"still open {res.check.open}/{args.conns} "
            f"(oldest idle {res.check.oldest_idle_s:.1f} s)"
        )
        if args.hold > 0 and res.check.open:
            log(f"  holding {res.check.open} idle connections for {args.hold:g} s ...")
            res.hold = hold_idle(load, args.hold)
            log(
                f"  server closed {len(res.hold.closed_after)}, "
                f"{res.hold.open_at_end} still open after the hold"
            )
        if not inst.alive():
            res.events.append("the server exited during the run")
    finally:
        if load is not None:
            load.close_all()
        inst.stop()


# --------------------------------------------------------------------------- path scrubbing


def make_scrubber(bench: Any, python: str, bench_file: Path, workdir: Path, peer: str) -> Scrubber:
    s = Scrubber(leftover="...")
    s.prefix(str(workdir), "$WORKDIR")
    s.literal(str(workdir), "$WORKDIR")
    s.add_common_rules(python, peer, str(bench.PEERS_DIR), bench_file)
    return s


# --------------------------------------------------------------------------- report


def source_state() -> str:
    """Which staticsrv code was measured (read-only git commands)."""
    git = common.git_source()
    if git is None:
        return "unknown"
    head, dirty = git
    return f"`{head}`" + (" plus uncommitted changes in `staticsrv/`" if dirty else "")


def mib(kib: float | None) -> str:
    return "—" if kib is None else f"{kib / 1024:,.1f}"


def ratio(a: float, b: float) -> str:
    return common.f_ratio(a / b) if b else "—"


def secs(xs: list[float]) -> str:
    if not xs:
        return "—"
    lo, hi = min(xs), max(xs)
    return f"{lo:.1f} s" if hi - lo < 0.05 else f"{lo:.1f}-{hi:.1f} s"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def keepalive_summary(r: Result, hold: float) -> str:
    """One sentence on what the server did with idle keep-alive connections."""
    assert r.load is not None and r.check is not None
    ld, ck = r.load, r.check
    if ck.open == 0 and ld.announced_close:
        return (
            f"closes after every response ({ld.announced_close} of {ld.answered_n} "
            "answers said so): holds no idle connection"
        )
    bits: list[str] = []
    if ck.closed:
        bits.append(f"{ck.closed} closed by the server before the check")
    if r.hold is None:
        if hold > 0:
            bits.append("no hold (no connection open)")
        return "; ".join(bits) or "no hold phase"
    h = r.hold
    total = h.seconds + ck.oldest_idle_s
    if h.closed_after and h.open_at_end == 0:
        bits.append(f"closed all {len(h.closed_after)} idle ones after {secs(h.closed_after)} idle")
    elif h.closed_after:
        bits.append(
            f"closed {len(h.closed_after)} after {secs(h.closed_after)} idle, "
            f"{h.open_at_end} still open after up to {h.oldest_idle_s:.0f} s"
        )
    else:
        bits.append(f"kept all {h.open_at_end} open for {total:.0f} s idle")
    return "; ".join(bits)


def render(
    results: list[Result],
    args: argparse.Namespace,
    meta: dict[str, str],
    interrupted: bool,
) -> str:
    n = args.conns
    ran = [r for r in results if r.ran]
    L: list[str] = [
        "<!-- generated by benchmarks/idle_conns.py; do not edit by hand -->",
        "",
        f"# Idle keep-alive connections: memory with {n:,} open connections",
        "",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- connections per server: **{n:,}** (`GET /small.html HTTP/1.1`, `Host: localhost`, "
        f"one request each, response read in full and checked for 200, then left idle; at most "
        f"{args.concurrency} being opened at once, all answered within {args.timeout:g} s or "
        "counted as errors)",
        f"- machine: {meta['machine']}",
        f"- placement: {meta['pin']}",
        f"- staticsrv source: git commit {meta['source']}; peers: {meta['peers']}",
        f"- client RLIMIT_NOFILE: {meta['nofile']} (the servers inherit it)",
        "- RSS and PSS are summed over every process of the server's session (from `/proc`). "
        f'"with N" is the maximum of {RSS_SAMPLES} samples over about 1 s once all N '
        "connections are answered; idle is after one warm-up request. Delta includes what "
        f"serving {n:,} requests left behind (buffers, caches), not only per-connection state. "
        "KiB/conn = delta / connections still open at the check. MiB = 2^20 bytes. RSS counts "
        "shared pages once per process, so compare multi-process servers (nginx, nginx-auto) "
        "by PSS.",
        "",
    ]
    if interrupted:
        L += ["**The run was interrupted: the report is partial.**", ""]

    L += ["## Memory", ""]
    rows: list[list[str]] = []
    for r in ran:
        assert r.load is not None and r.check is not None
        delta = r.rss_n_kib - r.idle_rss_kib
        per = f"{delta / r.check.open:,.1f}" if r.check.open else "—"
        name = f"**{r.name}**" if r.name == SUBJECT else r.name
        rows.append(
            [
                name,
                mib(r.idle_rss_kib),
                mib(r.rss_n_kib),
                f"{delta / 1024:+,.1f}",
                per,
                mib(r.idle_pss_kib),
                mib(r.pss_n_kib),
                str(r.procs_n),
                f"{r.check.open:,} / {n:,}",
                str(r.errors()),
            ]
        )
    L += table(
        [
            "server",
            "idle RSS MiB",
            f"RSS with {n:,} MiB",
            "delta MiB",
            "KiB/conn",
            "idle PSS MiB",
            f"PSS with {n:,} MiB",
            "procs",
            "still open / N",
            "errors",
        ],
        rows,
        "lrrrrrrrrr",
    )
    L.append("")
    skipped = [r for r in results if not r.ran]
    if skipped:
        L.append("Not measured:")
        L.append("")
        L += [f"- {r.name}: {r.skip or 'not run (interrupted)'}" for r in skipped]
        L.append("")

    L += ["## Keep-alive behaviour", ""]
    hold_note = (
        f"After the check the open connections were kept idle for {args.hold:g} s more and "
        "the time at which the server closed each one was recorded (idle time = since its "
        "response)."
        if args.hold > 0
        else "No hold phase (`--hold 0`): only the check right after the RSS samples."
    )
    L += [
        "`answered in` is from the first connect to the last response. `oldest idle at check` "
        "is how long the earliest-answered connection had been idle when the still-open check "
        f"ran, so a server whose idle timeout is shorter than that closes connections before "
        f"the check. {hold_note}",
        "",
    ]
    rows = []
    for r in ran:
        assert r.load is not None and r.check is not None
        ver = ", ".join(f"{v} x{c}" for v, c in sorted(r.load.versions.items())) or "—"
        rows.append(
            [
                r.name,
                r.version or "—",
                ver,
                f"{r.load.open_s:.2f} s",
                f"{r.check.oldest_idle_s:.1f} s",
                f"{r.check.open:,} / {n:,}",
                keepalive_summary(r, args.hold),
            ]
        )
    L += table(
        [
            "server",
            "version",
            "responses",
            "answered in",
            "oldest idle at check",
            "open at check",
            "idle connections",
        ],
        rows,
        "lllrrrl",
    )
    L.append("")
    problems: list[str] = []
    for r in ran:
        assert r.load is not None and r.check is not None
        if r.load.failures:
            detail = ", ".join(f"{why}: {k}" for why, k in r.load.failures.most_common())
            problems.append(f"- {r.name}: errors: {detail}")
        unexpected = r.check.unexpected + (r.hold.unexpected if r.hold else 0)
        if unexpected:
            problems.append(f"- {r.name}: {unexpected} idle connection(s) received bytes")
        problems += [f"- {r.name}: {e}" for e in r.events]
    if problems:
        L += ["Errors and events:", "", *problems, ""]

    L += ["## Ratios", ""]
    subj = next((r for r in ran if r.name == SUBJECT), None)
    if subj is None:
        L += [f"`{SUBJECT}` was not measured in this run, so there are no ratios.", ""]
    else:
        L += [
            f"staticsrv / other server, memory with {n:,} connections: **lower is better** "
            "(< 1 means staticsrv uses less). ⚠ = a side did not hold all N connections open at "
            "the check or had errors, so it is not the same workload.",
            "",
        ]
        rows = []
        for r in ran:
            if r is subj:
                continue
            assert r.check is not None
            warn = not (subj.held_all(n) and r.held_all(n))
            note = []
            for side in (subj, r):
                assert side.check is not None
                if not side.held_all(n):
                    note.append(
                        f"{side.name} held {side.check.open:,}/{n:,} open, {side.errors()} errors"
                    )
            if r.procs_n > 1:
                note.append(f"{r.name}: {r.procs_n} processes, compare PSS")
            rows.append(
                [
                    f"staticsrv / {r.name}",
                    mib(subj.rss_n_kib),
                    mib(r.rss_n_kib),
                    ratio(subj.rss_n_kib, r.rss_n_kib) + (" ⚠" if warn else ""),
                    ratio(subj.pss_n_kib, r.pss_n_kib) + (" ⚠" if warn else ""),
                    "; ".join(note),
                ]
            )
        L += table(
            [
                "comparison",
                "staticsrv RSS MiB",
                "other RSS MiB",
                f"RSS ratio (with {n:,})",
                "PSS ratio",
                "notes",
            ],
            rows,
            "lrrrrl",
        )
        L.append("")

    target = args.target_mib
    L += [f"## Target: RSS < {target:g} MiB with {n:,} idle keep-alive connections", ""]
    rows = []
    for name in (SUBJECT, UVLOOP):
        cfg = next((x for x in ran if x.name == name), None)
        if cfg is None:
            rows.append([name, "—", "—", "not measured"])
            continue
        assert cfg.check is not None
        rss = cfg.rss_n_kib / 1024
        why: list[str] = []
        if rss >= target:
            why.append(f"RSS {rss:.1f} MiB >= {target:g} MiB")
        if not cfg.held_all(n):
            why.append(f"{cfg.check.open:,}/{n:,} open at the check, {cfg.errors()} errors")
        verdict = "**PASS**" if not why else "**MISS**: " + "; ".join(why)
        rows.append([name, f"{rss:,.1f}", f"{rss / target:.0%}", verdict])
    L += table(["config", f"RSS with {n:,} MiB", "of target", "result"], rows, "lrrl")
    L.append("")
    L.append(
        "PASS needs RSS below the target with all N connections answered (HTTP 200) and "
        "still open at the check, and no errors. `staticsrv` (default asyncio loop) is the "
        "configuration the claim is about; `staticsrv-uvloop` is shown for reference."
    )
    L.append("")
    return "\n".join(L)


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
    for name, _flags, about in CONFIGS:
        by_name[name].about = about
    if wanted is None:
        order = [name for name, _f, _a in CONFIGS] + [
            s.name for s in specs if s.name not in {c[0] for c in CONFIGS}
        ]
    else:
        order = [w.strip() for w in wanted.split(",") if w.strip()]
        if "all" in order:
            order = [name for name, _f, _a in CONFIGS] + [
                s.name for s in specs if s.name not in {c[0] for c in CONFIGS}
            ]
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
    bench: Any = load_bench(bench_file)
    python = args.python or common.venv_python()
    nofile_soft, nofile_hard, nofile_note = raise_nofile(args.conns)

    hargv: list[str] = ["--start-timeout", str(args.start_timeout)]
    hargv += common.server_options(python, ((name, flags) for name, flags, _about in CONFIGS))
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
    src_before, digest_before = source_state(), common.source_digest()
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
            if spec.name in {c[0] for c in CONFIGS}:
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

    source = f"{src_before} (digest of `staticsrv/*.py`: `{digest_before}`)"
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
