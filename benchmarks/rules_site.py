#!/usr/bin/env python3
"""Serve a copy of a site that has ``_redirects`` and ``_headers``, for a benchmark.

    python benchmarks/rules_site.py SRC DST -- python -m staticsrv --root DST ...

Builds DST as hard links to every file of SRC (instant, no bytes copied;
a plain copy where links cannot be made), adds a ``_redirects`` with 20
rules and a ``_headers`` with two blocks that no benchmark URL is
redirected by (but ``/*`` adds a field to every answer, so the rules are
applied, not skipped), then replaces itself with the command after ``--``.
``benchmarks/run.py --variants`` starts staticsrv this way beside the
plain site, so the cost of a site with rules is measured in the same run.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REDIRECTS = "".join(f"/old/page-{n} /new/page-{n} 301\n" for n in range(18)) + (
    "/blog/:slug /posts/:slug 302\n/docs/* /manual/:splat 301\n"
)
HEADERS = "/*\n  X-Frame-Options: DENY\n/assets/*\n  Cache-Control: max-age=31536000\n"


def mirror(src: Path, dst: Path) -> None:
    """DST as hard links to SRC's files (copies where a link cannot be made)."""
    shutil.rmtree(dst, ignore_errors=True)
    for folder, _dirs, files in os.walk(src):
        target = dst / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(folder) / name, target / name)
            except OSError:
                shutil.copy2(Path(folder) / name, target / name)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: rules_site.py SRC DST -- COMMAND...", file=sys.stderr)
        return 2
    src, dst, command = Path(argv[0]), Path(argv[1]), argv[3:]
    mirror(src, dst)
    (dst / "_redirects").write_text(REDIRECTS)
    (dst / "_headers").write_text(HEADERS)
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
