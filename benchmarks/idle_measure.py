"""Measuring one server for ``idle_conns.py``: N idle keep-alive connections and the memory
of the server's session while it holds them.

``open_connections`` opens N TCP connections (a bounded number being set up at
once), sends ``GET /small.html HTTP/1.1`` on each, reads each full response
(``common.parse_response``) and keeps the answered ones open; ``check_open``
counts those the server still holds; ``hold_idle`` keeps them idle longer and
records when the server closes them.  ``run_server`` starts one server with the
harness (imported as a module, see ``common.load_bench``), measures its idle
RSS/PSS, then does all of the above and fills a ``Result``, which
``idle_report.render`` turns into the report.
"""

from __future__ import annotations

import argparse
import errno
import os
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import common
from common import Response, parse_response

HOST = "127.0.0.1"
REQUEST = b"GET /small.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
RSS_SAMPLES = 5  # over about 1 s
RSS_INTERVAL = 0.25

log = common.make_log("idle_conns.py")


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
