#!/usr/bin/env python3
"""HTTP/2 beside nginx (http2 on) and caddy: the same certificate, the same files.

Writes ``benchmarks/H2.md``:

* ``small``: ``h2load -c 16 -m 10`` on /small.html (1 KiB): req/s and the
  server's CPU µs per request (all its processes, from /proc);
* ``large``: /large.bin (50 MiB, random) over HTTP/2, 2 connections: MB/s;
* ``page``: Chromium loads a page importing 300 ES modules, cache off, with
  20 ms of added latency (CDP ``Network.emulateNetworkConditions``), over
  HTTP/1.1 (``--disable-http2``) and over HTTP/2: the median load time.

Servers are pinned to CPU 1 and the clients to CPU 0 (``taskset``) where
the machine has two CPUs; every server gets the certificate and key of
staticsrv's local CA and listens on 127.0.0.1 only.

    .venv/bin/python benchmarks/h2.py                 # 5 s per load run, 5 page loads
    .venv/bin/python benchmarks/h2.py --duration 2 --loads 3 --only small
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import tls as tlsbench
from common import REPO, md_table

log = common.make_log("h2.py")
SMALL = 1024
LARGE = 50 * 1024 * 1024
MODULES = 300
LATENCY_MS = 20
_FINISHED = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s, ([\d.]+)([KMG]?B)/s")
_DONE = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed"
)
_UNIT = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) >= 2 else []


def h2load(port: int, argv: list[str], pid: int) -> dict[str, float]:
    *opts, path = argv
    cpu0 = tlsbench.tree_cpu(pid)
    out = subprocess.run(
        [*pin(0), "h2load", *opts, f"https://localhost:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    cpu = tlsbench.tree_cpu(pid) - cpu0
    text = out.stdout
    fin, done = _FINISHED.search(text), _DONE.search(text)
    if fin is None or done is None or "Application protocol: h2" not in text:
        raise SystemExit(f"h2load failed:\n{text}\n{out.stderr}")
    ok = int(done.group(4))
    return {
        "rps": float(fin.group(3)),
        "mbps": float(fin.group(4)) * _UNIT[fin.group(5)] / 1e6,
        "cpu_us_per_req": cpu * 1e6 / ok if ok else 0.0,
        "errors": float(int(done.group(1)) - ok),
    }


def module_site(root: Path) -> None:
    mods = root / "mods"
    mods.mkdir()
    for n in range(MODULES):
        (mods / f"m{n}.js").write_text(f"export const v{n} = {n};\n" + "// pad\n" * 40)
    imports = "".join(f'import {{ v{n} }} from "./mods/m{n}.js";\n' for n in range(MODULES))
    total = " + ".join(f"v{n}" for n in range(MODULES))
    (root / "main.js").write_text(imports + f"document.title = 'done ' + ({total});\n")
    (root / "index.html").write_text('<!doctype html><script type="module" src="main.js"></script>')


def page_loads(port: int, loads: int, h2: bool) -> list[float]:
    """Load times (ms) of the 300-module page in a fresh Chromium, cache off, added latency."""
    from playwright.sync_api import sync_playwright

    args = ["--ignore-certificate-errors"] + ([] if h2 else ["--disable-http2"])
    times: list[float] = []
    want = f"done {sum(range(MODULES))}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=args)
        try:
            for _ in range(loads):
                context = browser.new_context()
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                cdp.send(
                    "Network.emulateNetworkConditions",
                    {
                        "offline": False,
                        "latency": LATENCY_MS,
                        "downloadThroughput": -1,
                        "uploadThroughput": -1,
                    },
                )
                start = time.perf_counter()
                page.goto(f"https://localhost:{port}/index.html")
                page.wait_for_function(f"document.title === {want!r}", timeout=60_000)
                times.append((time.perf_counter() - start) * 1000)
                protocol = page.evaluate("performance.getEntries()[0].nextHopProtocol")
                if protocol != ("h2" if h2 else "http/1.1"):
                    raise SystemExit(f"page loaded over {protocol}")
                context.close()
        finally:
            browser.close()
    return times


def servers_for(
    work: Path, root: Path, cert: Path, key: Path, python: str
) -> dict[str, tuple[list[str], dict[str, str]]]:
    all_ = tlsbench.server_commands(work, root, cert, key, python)
    conf = work / "nginx" / "nginx.conf.in"
    # nginx 1.22: http2 is a parameter of listen (the http2 directive came in 1.25.1).
    conf.write_text(conf.read_text().replace(" ssl;", " ssl http2;"))
    return {name: ([*pin(1), *argv], env) for name, (argv, env) in all_.items()}


def main() -> int:
    p = argparse.ArgumentParser(prog="benchmarks/h2.py", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=int, default=5, help="seconds of each h2load run")
    p.add_argument("--loads", type=int, default=5, help="page loads per server and protocol")
    p.add_argument("--only", default="small,large,page")
    p.add_argument("--servers", default="staticsrv-uvloop,staticsrv,nginx,caddy")
    p.add_argument("--md", type=Path, default=REPO / "benchmarks" / "H2.md")
    common.add_python_option(p)
    args = p.parse_args()
    only = args.only.split(",")
    python = args.python or common.venv_python()
    results: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="staticsrv-h2-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        root = work / "site"
        root.mkdir()
        (root / "small.html").write_bytes(b"<!doctype html><title>small</title>".ljust(SMALL, b"x"))
        (root / "large.bin").write_bytes(os.urandom(LARGE))
        module_site(root)
        os.environ["STATICSRV_DATA_DIR"] = str(work / "ca")
        sys.path.insert(0, str(REPO))
        from staticsrv.pki import certs

        issued = certs.ensure(["localhost", "127.0.0.1", "::1"])
        servers = servers_for(work, root, issued.cert_path, issued.key_path, python)
        for name in args.servers.split(","):
            argv, env = servers[name]
            proc, port = tlsbench.start(name, argv, env, work)
            row = results.setdefault(name, {})
            try:
                if "small" in only:
                    d = args.duration
                    h2load(port, ["-c", "16", "-m", "10", "-D", "1", "/small.html"], proc.pid)
                    got = h2load(
                        port, ["-c", "16", "-m", "10", "-D", str(d), "/small.html"], proc.pid
                    )
                    log(f"{name} small: {got}")
                    row["rps"] = f"{got['rps']:,.0f}"
                    row["cpu"] = f"{got['cpu_us_per_req']:.0f}"
                    row["errors"] = f"{got['errors']:.0f}"
                    row["_rps"] = str(got["rps"])
                    row["_cpu"] = str(got["cpu_us_per_req"])
                if "large" in only:
                    got = h2load(port, ["-n", "8", "-c", "2", "-m", "1", "/large.bin"], proc.pid)
                    log(f"{name} large: {got}")
                    row["mbps"] = f"{got['mbps']:.0f}"
                if "page" in only:
                    for h2 in (False, True):
                        times = page_loads(port, args.loads, h2)
                        log(f"{name} page h2={h2}: {times}")
                        key = "page_h2" if h2 else "page_h1"
                        row[key] = f"{statistics.median(times):,.0f}"
                        row["_" + key] = str(statistics.median(times))
            finally:
                tlsbench.stop(proc)
    args.md.write_text(report(results, args))
    log(f"wrote {args.md}")
    return 0


def report(results: dict[str, dict[str, str]], args: argparse.Namespace) -> str:
    src = common.git_source()
    commit = f"`{src[0]}`" if src else "?"
    code = common.describe_code(commit, bool(src and src[1]), common.source_digest())
    names = list(results)
    rows = [
        [
            name,
            r.get("rps", "-"),
            r.get("cpu", "-"),
            r.get("errors", "-"),
            r.get("mbps", "-"),
            r.get("page_h1", "-"),
            r.get("page_h2", "-"),
        ]
        for name, r in results.items()
    ]
    lines = [
        "<!-- generated by benchmarks/h2.py; do not edit by hand -->",
        "",
        f"# HTTP/2 benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"- staticsrv source: git commit {code}",
        f"- machine: {os.cpu_count()} CPUs; servers pinned to CPU 1, clients to CPU 0; "
        f"load average at the end {os.getloadavg()[0]:.2f} (the machine is shared)",
        f"- versions: {tlsbench.versions()}",
        f"- small: `h2load -c 16 -m 10 -D {args.duration}` on a 1 KiB file; large: "
        "`h2load -n 8 -c 2` on 50 MiB; page: 300 ES modules in Chromium, cache off, "
        f"{LATENCY_MS} ms added latency, median of {args.loads} loads",
        "",
        *md_table(
            [
                "server",
                "small req/s",
                "CPU µs/req",
                "errors",
                "large MB/s",
                "page h1 (ms)",
                "page h2 (ms)",
            ],
            rows,
            "lrrrrrr",
        ),
        "",
    ]
    ref = results.get("nginx", {})
    for name in names:
        r = results[name]
        if not name.startswith("staticsrv") or not ref:
            continue
        parts = []
        if "_rps" in r and "_rps" in ref:
            parts.append(f"{float(r['_rps']) / float(ref['_rps']):.2f}x nginx's h2 req/s")
        caddy = results.get("caddy", {})
        if "_cpu" in r and "_cpu" in caddy:
            parts.append(f"{float(r['_cpu']) / float(caddy['_cpu']):.2f}x caddy's CPU µs/req")
        if "_page_h2" in r and "_page_h2" in ref:
            parts.append(
                f"page over h2 {float(r['_page_h2']) / float(ref['_page_h2']):.2f}x nginx's"
            )
        if "_page_h2" in r and "_page_h1" in r:
            parts.append(f"{float(r['_page_h2']) / float(r['_page_h1']):.2f}x its own h1")
        lines.append(f"- {name}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
