"""A 5 MB JSON file with ``Accept-Encoding: gzip``: staticsrv beside nginx with ``gzip on``.

The shared harness (``../shared/bench/bench.py``) has fixed scenarios and no
way to send a header, so this small script does the one row itself: it
builds a MkDocs-like ``search_index.json`` of 5 MB, starts staticsrv
(``python -m staticsrv -q``) and nginx (a generated minimal config in a
temporary folder: one worker, ``gzip on``, ``gzip_comp_level 6`` like
staticsrv, 127.0.0.1 only), checks that each answers with a gzip body that
decompresses to the file, then runs ``wrk -t1 -cN -dS -H 'Accept-Encoding:
gzip'`` against each, in turn, a few seconds apiece.  It writes a Markdown
report (``--md``, default ``benchmarks/GZIP.md``).

    python benchmarks/gzip_large.py [--seconds 4] [--conns 4] [--rounds 1]

Only the ratio is meaningful on a shared machine.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import REPO, describe_code, f_ratio, git_source, make_log, md_table, source_digest
from common import venv_python as _venv_python

log = make_log("gzip_large")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SIZE = 5 * 1000 * 1000
NAME = "search_index.json"
AE = "Accept-Encoding: gzip"

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ application/json json; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    gzip on;
    gzip_comp_level 6;
    gzip_min_length 1024;
    gzip_types application/json;
    gzip_vary on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@dataclass
class Run:
    server: str
    rps: float
    mb_per_s: float  # compressed bytes on the wire
    cpu_ms_per_req: float
    hwm_mib: float  # peak RSS of the server's processes


def search_index(size: int) -> bytes:
    """A deterministic MkDocs-style search index of ``size`` bytes.

    Prose from a seeded vocabulary of made-up words, so it compresses about
    as well as real documentation text does (a few times), not 40-fold.
    """
    rng = random.Random(13)
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    weights = [26 - i for i in range(len(letters))]
    vocab = ["".join(rng.choices(letters, weights, k=rng.randint(2, 10))) for _ in range(4000)]
    # Word frequencies as in prose (Zipf), summed once for rng.choices.
    zipf = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))
    docs = []
    total = 0
    index = 0
    while total < size:
        text = " ".join(rng.choices(vocab, cum_weights=zipf, k=rng.randint(40, 200)))
        doc = {"location": f"section-{index // 50}/page-{index}/", "title": f"Page {index}"}
        doc["text"] = text
        docs.append(doc)
        total += len(text) + 60
        index += 1
    return json.dumps({"config": {"lang": ["en"]}, "docs": docs}).encode()[:size]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tree_pids(pid: int) -> list[int]:
    pids = [pid]
    for p in pids:
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        pids += [int(k) for k in kids]
    return pids


def cpu_s(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            data = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        rest = data[data.rindex(b")") + 2 :].split()
        total += int(rest[11]) + int(rest[12])
    return total / CLK_TCK


def hwm_mib(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wait_http(url: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # another process's start-up: poll, bounded


def probe(url: str, data: bytes) -> None:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
        coding = resp.headers.get("Content-Encoding")
    if coding != "gzip" or gzip.decompress(body) != data:
        raise SystemExit(f"{url}: not a gzip body of the file (Content-Encoding: {coding})")


def wrk(url: str, seconds: int, conns: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s", "-H", AE, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    if rps is None or transfer is None or "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk run failed:\n{out}")
    scale = {"B": 1e-6, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}[transfer.group(2)]
    return float(rps.group(1)), float(transfer.group(1)) * scale


def measure(name: str, pid: int, url: str, args: argparse.Namespace) -> Run:
    wrk(url, 1, args.conns)  # warm-up
    pids = tree_pids(pid)
    cpu0 = cpu_s(pids)
    rps, mbs = wrk(url, args.seconds, args.conns)
    cpu = cpu_s(pids) - cpu0
    requests = rps * args.seconds
    return Run(name, rps, mbs, 1000 * cpu / max(requests, 1), hwm_mib(pids))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=4, help="measured seconds per server")
    p.add_argument("--conns", type=int, default=4, help="wrk connections")
    p.add_argument("--rounds", type=int, default=1, help="alternating rounds (best is kept)")
    p.add_argument("--md", type=Path, default=REPO / "benchmarks" / "GZIP.md")
    p.add_argument("--python", default=None, help="python that runs staticsrv")
    p.add_argument("--nginx", default="nginx")
    args = p.parse_args(argv)
    for tool in ("wrk", args.nginx):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found")
    python = args.python or _venv_python()
    runs: dict[str, list[Run]] = {"staticsrv": [], "nginx": []}
    with tempfile.TemporaryDirectory(prefix="staticsrv-gzip-") as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        data = search_index(SIZE)
        (root / NAME).write_bytes(data)
        # nginx started as root serves as "nobody": let it read the site.
        for path, mode in ((Path(tmp), 0o755), (root, 0o755), (root / NAME, 0o644)):
            path.chmod(mode)
        ours = subprocess.Popen(
            [python, "-m", "staticsrv", "--root", str(root), "--port", "0", "-q"],
            stdout=subprocess.PIPE,
            cwd=str(REPO),
            start_new_session=True,
        )
        port = free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
        theirs = subprocess.Popen(
            [args.nginx, "-p", tmp, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            assert ours.stdout is not None
            line = ours.stdout.readline().decode()
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if m is None:
                raise SystemExit(f"staticsrv did not announce its URL: {line!r}")
            urls = {
                "staticsrv": f"http://127.0.0.1:{m.group(1)}/{NAME}",
                "nginx": f"http://127.0.0.1:{port}/{NAME}",
            }
            pids = {"staticsrv": ours.pid, "nginx": theirs.pid}
            for url in urls.values():
                wait_http(url)
                probe(url, data)
            compressed = len(gzip.compress(data, 6))
            for index in range(args.rounds):
                order = list(urls) if index % 2 == 0 else list(reversed(urls))
                for name in order:
                    log(f"round {index + 1}: {name}")
                    runs[name].append(measure(name, pids[name], urls[name], args))
        finally:
            stop(ours)
            stop(theirs)
    best = {name: max(rs, key=lambda r: r.rps) for name, rs in runs.items()}
    report = render(best, args, len(data), compressed)
    args.md.write_text(report)
    print(report)
    return 0


def render(best: dict[str, Run], args: argparse.Namespace, size: int, packed: int) -> str:
    source = git_source()
    code = describe_code(f"`{source[0]}`", source[1], source_digest()) if source else "unknown"
    ours, theirs = best["staticsrv"], best["nginx"]
    rows = [
        [
            r.server,
            f"{r.rps:.1f}",
            f"{r.mb_per_s:.2f}",
            f"{r.cpu_ms_per_req:.1f}",
            f"{r.hwm_mib:.0f}",
        ]
        for r in (ours, theirs)
    ]
    lines = [
        "# 5 MB JSON with `Accept-Encoding: gzip`: staticsrv beside nginx",
        "",
        f"Written by `benchmarks/gzip_large.py` on {time.strftime('%Y-%m-%d', time.gmtime())}; "
        f"{os.cpu_count()} cores shared with other work, unpinned, {platform.python_version()}; "
        f"staticsrv at {code}.",
        "",
        f"- file: a MkDocs-like `{NAME}`, {size:,} bytes ({packed:,} bytes at gzip level 6)",
        "- staticsrv: defaults (`-q`); the file is above the 256 KiB body cache, so it is "
        "compressed as it is sent, in 128 KiB pieces, chunked",
        "- nginx: 1 worker, `gzip on; gzip_comp_level 6; gzip_types application/json`",
        f"- load: `wrk -t1 -c{args.conns} -d{args.seconds}s -H 'Accept-Encoding: gzip'`, "
        f"after 1 s of warm-up; best of {args.rounds} round(s); every answer checked to be a "
        "gzip body that decompresses to the file",
        "",
        *md_table(
            ["server", "req/s", "MB/s on the wire", "server CPU ms/req", "peak RSS MiB"],
            rows,
            "lrrrr",
        ),
        "",
        f"**staticsrv / nginx: {f_ratio(ours.rps / theirs.rps)} in req/s, "
        f"{f_ratio(theirs.cpu_ms_per_req / ours.cpu_ms_per_req)} in CPU per request "
        "(nginx's CPU over staticsrv's).**",
        "",
        "Both compress every request anew (neither caches a compressed copy of a large "
        "file), so the run is bound by zlib at level 6 on both sides. staticsrv deflates "
        "in a small thread pool (up to 4 threads) and can use both cores, while nginx "
        "with one worker uses one: req/s favours staticsrv for that reason alone, and CPU "
        "per request is the fairer measure of the work each does per download.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
