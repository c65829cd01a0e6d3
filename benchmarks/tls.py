#!/usr/bin/env python3
"""HTTPS beside nginx and caddy: the same certificate, the same files, wrk over TLS.

The shared harness speaks plain HTTP only, so this small script measures
TLS on its own and writes ``benchmarks/TLS.md``:

* ``small-c64``: GET /small.html (1 KiB), keep-alive, 64 connections;
* ``large``: GET /large.bin (50 MiB, random), keep-alive, 4 connections;
* ``handshakes``: GET /small.html with ``Connection: close``, 16 connections:
  every request is a new TCP connection and a full TLS handshake (wrk
  keeps no sessions), so req/s is handshakes per second.

Servers: staticsrv (asyncio, and uvloop) with ``--tls-cert/--tls-key``,
nginx (1 worker) and caddy, all given the certificate chain and key of
staticsrv's own local CA (ECDSA P-256), listening on 127.0.0.1 only.
Server CPU time (every process of the server, from /proc) per request is
reported beside req/s: on a small shared machine it is the steadier number.

    .venv/bin/python benchmarks/tls.py                # 4 s per scenario and server
    .venv/bin/python benchmarks/tls.py --duration 2 --only small-c64
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import common
from common import REPO, f_ratio, md_table

log = common.make_log("tls.py")
HOST = "127.0.0.1"
SMALL = 1024
LARGE = 50 * 1024 * 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    path: str
    conns: int
    close: bool = False


SCENARIOS = (
    Scenario("small-c64", "GET /small.html (1 KiB), keep-alive, 64 connections", "/small.html", 64),
    Scenario("large", "GET /large.bin (50 MiB), keep-alive, 4 connections", "/large.bin", 4),
    Scenario(
        "handshakes",
        "GET /small.html, `Connection: close`: a new TLS handshake per request, 16 connections",
        "/small.html",
        16,
        close=True,
    ),
)


@dataclass
class Result:
    rps: float | None = None
    mbps: float | None = None
    cpu_us_per_req: float | None = None
    server_cpu_pct: float | None = None
    client_cpu_pct: float | None = None
    errors: str = ""
    rounds: list[dict[str, float]] = field(default_factory=list)


# --------------------------------------------------------------------------- servers


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and all its descendants."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / _CLK_TCK
    family, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in family} - family
        grew = bool(more)
        family |= more
    return sum(times.get(p, 0.0) for p in family)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)  # a benchmark script: polling the port is its readiness check
    raise SystemExit(f"nothing listens on {port} after {limit} s")


def server_commands(
    work: Path, root: Path, cert: Path, key: Path, python: str
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (argv with {port}, extra environment)."""
    nginx_dir = work / "nginx"
    (nginx_dir / "scratch").mkdir(parents=True, exist_ok=True)
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    (nginx_dir / "nginx.conf.in").write_text(f"""\
worker_processes 1;
daemon off;
master_process on;
pid {nginx_dir}/nginx.pid;
error_log {nginx_dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {mime}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path {nginx_dir}/scratch/body;
    proxy_temp_path {nginx_dir}/scratch/proxy;
    fastcgi_temp_path {nginx_dir}/scratch/fastcgi;
    uwsgi_temp_path {nginx_dir}/scratch/uwsgi;
    scgi_temp_path {nginx_dir}/scratch/scgi;
    server {{
        listen {HOST}:{{port}} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {root};
    }}
}}
""")
    caddy_dir = work / "caddy"
    caddy_dir.mkdir(exist_ok=True)
    (caddy_dir / "Caddyfile.in").write_text(f"""\
{{
\tadmin off
\tauto_https off
}}

https://:{{port}} {{
\tbind {HOST}
\ttls {cert} {key}
\troot * {root}
\tfile_server
}}
""")
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    base = [python, "-m", "staticsrv", "--root", str(root), "--port", "{port}", "-q", *tls]
    return {
        "staticsrv": ([*base, "--loop", "asyncio"], {}),
        "staticsrv-uvloop": ([*base, "--loop", "uvloop"], {}),
        "nginx": (["nginx", "-p", f"{nginx_dir}/", "-c", f"{nginx_dir}/nginx.conf"], {}),
        "caddy": (
            ["caddy", "run", "--config", f"{caddy_dir}/Caddyfile", "--adapter", "caddyfile"],
            {"XDG_DATA_HOME": str(caddy_dir), "XDG_CONFIG_HOME": str(caddy_dir)},
        ),
    }


def start(
    name: str, argv: list[str], env: dict[str, str], work: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    for conf in ("nginx/nginx.conf", "caddy/Caddyfile"):
        template = work / (conf + ".in")
        if template.exists():
            (work / conf).write_text(template.read_text().replace("{port}", str(port)))
    cmd = [a.replace("{port}", str(port)) for a in argv]
    errlog = open(work / f"{name}.stderr", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=errlog, env={**os.environ, **env}, cwd=REPO
    )
    wait_listening(port, proc)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --------------------------------------------------------------------------- load


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_REQS = re.compile(r"(\d+) requests in")
_XFER = re.compile(r"Transfer/sec:\s+([\d.]+)([KMG]?B)")
_ERRS = re.compile(r"(Socket errors:.*|Non-2xx or 3xx responses: \d+)")
_UNIT = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def wrk(port: int, scen: Scenario, duration: int, pid: int) -> dict[str, float | str]:
    argv = ["wrk", "-t1", f"-c{scen.conns}", f"-d{duration}s"]
    if scen.close:
        argv += ["-H", "Connection: close"]
    argv.append(f"https://localhost:{port}{scen.path}")
    cpu0 = tree_cpu(pid)
    client0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=True)
    cpu = tree_cpu(pid) - cpu0
    client1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = client1.ru_utime + client1.ru_stime - client0.ru_utime - client0.ru_stime
    text = out.stdout
    reqs = int(m.group(1)) if (m := _REQS.search(text)) else 0
    xfer = _XFER.search(text)
    return {
        "rps": float(m.group(1)) if (m := _RPS.search(text)) else 0.0,
        "mbps": float(xfer.group(1)) * _UNIT[xfer.group(2)] / 1e6 if xfer else 0.0,
        "cpu_us_per_req": cpu * 1e6 / reqs if reqs else 0.0,
        "server_cpu_pct": 100 * cpu / duration,
        "client_cpu_pct": 100 * client / duration,
        "errors": "; ".join(_ERRS.findall(text)),
    }


def measure(
    args: argparse.Namespace,
    work: Path,
    servers: dict[str, tuple[list[str], dict[str, str]]],
    scenarios: list[Scenario],
) -> dict[str, dict[str, Result]]:
    results: dict[str, dict[str, Result]] = {s.name: {} for s in scenarios}
    order = list(servers)
    for rnd in range(args.rounds):
        for name in order[rnd % len(order) :] + order[: rnd % len(order)]:
            argv, env = servers[name]
            proc, port = start(name, argv, env, work)
            try:
                for scen in scenarios:
                    wrk(port, scen, 1, proc.pid)  # warm-up (page cache, caches, JIT-free paths)
                    got = wrk(port, scen, args.duration, proc.pid)
                    res = results[scen.name].setdefault(name, Result())
                    res.rounds.append({k: v for k, v in got.items() if isinstance(v, float)})
                    if got["errors"]:
                        res.errors = str(got["errors"])
                    log(f"round {rnd + 1} {scen.name} {name}: {got}")
            finally:
                stop(proc)
    for per in results.values():
        for res in per.values():
            res.rps = statistics.median(r["rps"] for r in res.rounds)
            res.mbps = statistics.median(r["mbps"] for r in res.rounds)
            res.cpu_us_per_req = statistics.median(r["cpu_us_per_req"] for r in res.rounds)
            res.server_cpu_pct = statistics.median(r["server_cpu_pct"] for r in res.rounds)
            res.client_cpu_pct = statistics.median(r["client_cpu_pct"] for r in res.rounds)
    return results


# --------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace, results: dict[str, dict[str, Result]], versions: dict[str, str]
) -> str:
    src = common.git_source()
    commit = f"`{src[0]}`" if src else "?"
    code = common.describe_code(commit, bool(src and src[1]), common.source_digest())
    load1 = os.getloadavg()
    lines = [
        "<!-- generated by benchmarks/tls.py; do not edit by hand -->",
        "",
        f"# HTTPS benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- staticsrv source: git commit {code}",
        f"- machine: {os.cpu_count()} CPUs shared by wrk and the server (no pinning); "
        f"load average at the end {load1[0]:.2f}",
        f"- load: `wrk -t1 -c<conns> -d{args.duration}s` over TLS to `https://localhost:PORT`, "
        f"1 s warm-up, {args.rounds} round(s), median shown; server order rotates each round",
        "- certificate: staticsrv's local CA, ECDSA P-256 leaf + CA chain, the same files for "
        "every server; TLS 1.3 negotiated (wrk's OpenSSL); no session resumption (wrk keeps none)",
        "- servers: " + ", ".join(f"{k} ({v})" for k, v in versions.items()),
        "- nginx: 1 worker, `keepalive_requests 1000000` (its default of 1000 would add "
        "handshakes to the keep-alive rows); caddy: defaults (all CPUs, HTTP/2 offered via ALPN, "
        "wrk speaks HTTP/1.1)",
        "- CPU µs/req: server CPU time (all its processes, /proc) per completed request; "
        "CPU % is of one core; wrk near 100 % means the client (its own TLS), not the server, "
        "set the pace: then the CPU µs/req ratio is the one to read",
        "",
    ]
    for scen in [s for s in SCENARIOS if s.name in results]:
        per = results[scen.name]
        lines += [f"## {scen.name}: {scen.about}", ""]
        rows = []
        for name, res in per.items():
            rows.append(
                [
                    f"**{name}**" if name.startswith("staticsrv") else name,
                    f"{res.rps:,.0f}" if res.rps is not None else "—",
                    f"{res.mbps:,.0f}" if res.mbps is not None else "—",
                    f"{res.cpu_us_per_req:,.0f}" if res.cpu_us_per_req is not None else "—",
                    f"{res.server_cpu_pct:.0f}" if res.server_cpu_pct is not None else "—",
                    f"{res.client_cpu_pct:.0f}" if res.client_cpu_pct is not None else "—",
                    res.errors or "",
                ]
            )
        header = ["server", "req/s", "MB/s", "CPU µs/req", "srv CPU %", "wrk CPU %", "notes"]
        lines += md_table(header, rows, "lrrrrrl")
        lines.append("")
    lines += ["## Ratios (staticsrv / peer)", ""]
    lines.append("req/s: above 1 is faster. CPU µs/req: below 1 is cheaper per request.")
    lines.append("")
    rows = []
    for scen in [s for s in SCENARIOS if s.name in results]:
        per = results[scen.name]
        for subject in ("staticsrv", "staticsrv-uvloop"):
            for peer in ("nginx", "caddy"):
                a, b = per.get(subject), per.get(peer)
                if a is None or b is None:
                    continue
                metric = "MB/s" if scen.name == "large" else "req/s"
                ta = a.mbps if scen.name == "large" else a.rps
                tb = b.mbps if scen.name == "large" else b.rps
                rows.append(
                    [
                        f"{subject} / {peer}",
                        scen.name,
                        metric,
                        f_ratio(ta / tb if ta and tb else None),
                        f_ratio(
                            a.cpu_us_per_req / b.cpu_us_per_req
                            if a.cpu_us_per_req and b.cpu_us_per_req
                            else None
                        ),
                    ]
                )
    lines += md_table(
        ["pair", "scenario", "throughput", "throughput ratio", "CPU µs/req ratio"], rows, "lllrr"
    )
    lines.append("")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    def run(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "?"
        return (done.stdout + done.stderr).strip().splitlines()[0]

    import ssl

    return {
        "staticsrv": f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}",
        "nginx": run(["nginx", "-v"]).replace("nginx version: ", ""),
        "caddy": "caddy " + run(["caddy", "version"]).split()[0],
        "wrk": run(["wrk", "--version"]).split(" [")[0],
    }


def main() -> int:
    p = argparse.ArgumentParser(prog="benchmarks/tls.py", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=int, default=4, help="measured seconds per scenario")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated scenarios")
    p.add_argument("--servers", default="staticsrv,staticsrv-uvloop,nginx,caddy")
    p.add_argument("--md", type=Path, default=REPO / "benchmarks" / "TLS.md")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "tls.json")
    common.add_python_option(p)
    args = p.parse_args()
    for tool in ("wrk", "nginx", "caddy"):
        if shutil.which(tool) is None:
            raise SystemExit(f"tls.py: {tool} is not installed")
    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    python = args.python or common.venv_python()
    with tempfile.TemporaryDirectory(prefix="staticsrv-tls-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # nginx workers may run as another user
        root = work / "site"
        root.mkdir()
        (root / "small.html").write_bytes(b"<!doctype html><title>small</title>".ljust(SMALL, b"x"))
        (root / "large.bin").write_bytes(os.urandom(LARGE))
        os.environ["STATICSRV_DATA_DIR"] = str(work / "ca")
        sys.path.insert(0, str(REPO))
        from staticsrv.pki import certs

        issued = certs.ensure(["localhost", "127.0.0.1", "::1"])
        all_servers = server_commands(work, root, issued.cert_path, issued.key_path, python)
        servers = {k: v for k, v in all_servers.items() if k in args.servers.split(",")}
        results = measure(args, work, servers, scenarios)
    text = report(args, results, versions())
    args.md.write_text(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({s: {n: r.__dict__ for n, r in per.items()} for s, per in results.items()})
    )
    log(f"wrote {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
