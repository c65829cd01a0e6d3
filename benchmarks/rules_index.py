"""What a miss costs with 10,000 ``_redirects`` rules, against a miss with none.

A miss (a request for a path nothing answers) is where every rule is
tried: forced rules before the files, the others after.  This drives the
handler in-process (no sockets: the rules are what differs) with a fresh
missing path per request, so the memo never answers, and prints the cost
per request with no rules, with the rules indexed (what the server does),
and with the same rules tried one by one (``match_redirect``, the linear
scan the index replaced), and the ratios.

The rules mimic a site migration: mostly ``/old/page-N`` exact paths, then
``/blog-N/:slug`` and ``/docs-N/*`` (a literal first segment), and a few
``/:lang/...`` rules that the index must try for every path.

    python benchmarks/rules_index.py [--rules 10000] [--requests 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from staticsrv.config import Config
from staticsrv.http.http11 import Request
from staticsrv.site import netlify
from staticsrv.site.handler import Handler


def rules_text(count: int) -> str:
    lines = []
    for n in range(count):
        kind = n % 100
        if kind < 90:
            lines.append(f"/old/page-{n} /new/page-{n} 301")
        elif kind < 98:
            lines.append(f"/blog-{n}/:slug /posts/:slug 302")
        elif kind < 99:
            lines.append(f"/docs-{n}/* /guide/:splat 302")
        else:
            lines.append(f"/:lang/section-{n}/* /:lang/s/:splat 302")
    return "\n".join(lines) + "\n"


def make_site(root: Path, rules: int) -> None:
    root.mkdir()
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "not_found.html").write_text("<h1>missing</h1>\n")
    if rules:
        (root / "_redirects").write_text(rules_text(rules))


class Linear:
    """The rules tried one by one: the index's answer, the old cost."""

    def __init__(self, rules: tuple[netlify.Redirect, ...]) -> None:
        self.rules = rules
        self.empty = not rules

    def both(
        self, path: str
    ) -> tuple[
        tuple[netlify.Redirect, dict[str, str]] | None,
        tuple[netlify.Redirect, dict[str, str]] | None,
    ]:
        return (
            netlify.match_redirect(self.rules, path, forced=True),
            netlify.match_redirect(self.rules, path, forced=False),
        )


async def per_request(handler: Handler, requests: int, rounds: int, tag: str) -> float:
    """The best median seconds per miss over ``rounds`` rounds."""
    medians = []
    serial = 0
    for _ in range(rounds):
        times = []
        for _ in range(requests):
            serial += 1
            target = f"/old/gone-{tag}-{serial}"
            req = Request("GET", target, "HTTP/1.1", {"host": "localhost"}, True, 0, False)
            start = time.perf_counter()
            resp = await handler.handle(req)
            times.append(time.perf_counter() - start)
            assert resp.status == 404, resp.status
        medians.append(statistics.median(times))
    return min(medians)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[str, float] = {}
        for name, count in (("none", 0), ("indexed", args.rules), ("linear", args.rules)):
            root = Path(tmp) / name
            make_site(root, count)
            handler = Handler(Config(root=str(root), port=0))
            assert handler.site is not None
            assert len(handler.site.redirects) == count
            if name == "linear":
                handler.site.index = Linear(handler.site.redirects)  # type: ignore[assignment]
            results[name] = await per_request(handler, args.requests, args.rounds, name)
            handler.close()
    none, indexed, linear = results["none"], results["indexed"], results["linear"]
    print(f"miss, no rules:             {none * 1e6:8.1f} us")
    print(f"miss, {args.rules} rules indexed: {indexed * 1e6:8.1f} us  ({indexed / none:.2f}x)")
    print(f"miss, {args.rules} rules linear:  {linear * 1e6:8.1f} us  ({linear / none:.2f}x)")
    print(f"ratio indexed/none: {indexed / none:.2f} (goal: at most 2)")


if __name__ == "__main__":
    asyncio.run(main())
