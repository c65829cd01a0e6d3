"""The HTML pages the server generates: directory listings and error pages.

Pure (sans-io): entries are passed in, bytes come out. Every piece of text
that comes from a file name is HTML-escaped and every href is built from
percent-encoded segments, so a file named ``<script>`` or ``a:b`` or
``x?y#z`` is shown as such and links to itself. Pages carry no JavaScript,
so they work under the strictest Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from staticsrv.http.status import reason as reason_phrase
from staticsrv.http.target import quote_segment


def escape(text: str, quote: bool = True) -> str:
    """``html.escape``, without importing ``html`` and its entity table: the
    server loads this module at start (the error pages must not need a file
    when descriptors run out), and the table is most of what it would cost."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        text = text.replace('"', "&quot;").replace("'", "&#x27;")
    return text


__all__ = ["ListingEntry", "error_page", "not_found_page", "render_listing"]


@dataclass(frozen=True, slots=True)
class ListingEntry:
    name: str  # one file name, as os.scandir gives it
    is_dir: bool
    size: int  # bytes; not shown for directories
    mtime: float  # seconds since the epoch


_STYLE = """\
:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#656d76;--link:#0550ae;\
--line:#d0d7de;--hover:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#8d96a0;\
--link:#58a6ff;--line:#30363d;--hover:#161b22}}
body{margin:0 auto;max-width:60rem;padding:1rem;font:15px/1.5 system-ui,sans-serif;\
color:var(--fg);background:var(--bg)}
h1{font-size:1.25rem;font-weight:600;overflow-wrap:anywhere}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
table{width:100%;border-collapse:collapse}
th,td{padding:.3rem .6rem;text-align:left;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:500}
td.n{overflow-wrap:anywhere}td.s,td.m{white-space:nowrap;color:var(--muted)}
td.s,th.s{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:hover{background:var(--hover)}"""

_HEAD_START = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    '<meta name="color-scheme" content="light dark">\n<title>'
)
_HEAD_END = "</title>\n<style>\n" + _STYLE + "\n</style>\n</head>\n<body>\n"
_TAIL = "</body>\n</html>\n"

# Names with these can never come from a directory read and would break the
# link that is built from them: skip them rather than render a wrong link.
_IMPOSSIBLE = re.compile(r"[/\x00]")

_DIGITS = re.compile(r"([0-9]+)")

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def _sort_key(entry: ListingEntry) -> tuple[bool, list[tuple[int, str]], str]:
    """Directories first, then a case-insensitive natural order.

    ``re.split`` with a group puts digit runs at odd indexes, so text is only
    ever compared with text and numbers with numbers. A number compares by
    its length without leading zeros, then its digits: "file9" < "file10",
    with no ``int()`` of an arbitrarily long run. The raw name breaks ties
    ("a" vs "A", "1" vs "01") so the order is total and stable.
    """
    parts = _DIGITS.split(entry.name.casefold())
    key: list[tuple[int, str]] = []
    for index, part in enumerate(parts):
        if index % 2:
            digits = part.lstrip("0") or "0"
            key.append((len(digits), digits))
        else:
            key.append((0, part))
    return (not entry.is_dir, key, entry.name)


def _human_size(size: int) -> str:
    """IEC units with one decimal: "512 B", "1.2 KiB", "3.0 GiB"."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in _UNITS[:-1]:
        # Move on before rounding would print "1024.0 KiB".
        if value < 1023.95:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def _when(mtime: float) -> str:
    """``<time>`` showing "2026-11-22 21:30", in UTC.

    UTC rather than local time keeps this pure (no time zone database) and
    the output the same on every machine. An out-of-range or NaN time (a
    broken file system, a hand-made entry) shows as "-" instead of raising.
    """
    try:
        moment = datetime.fromtimestamp(mtime, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return "-"
    return f'<time datetime="{moment:%Y-%m-%dT%H:%MZ}">{moment:%Y-%m-%d %H:%M}</time>'


def _breadcrumb(segments: Sequence[str], top: int = 0) -> str:
    """Links to every ancestor, relative so the page also works behind a
    reverse proxy that mounts the server under a prefix.  The first ``top``
    segments (``--base``) are shown as text: a link above them would leave
    the site."""
    depth = len(segments)
    parts = [f'<a href="{"../" * depth or "./"}">/</a>' if top == 0 else "/"]
    for index, segment in enumerate(segments, start=1):
        label = escape(segment, quote=True) + "/"
        if index < top:
            parts.append(label)
            continue
        up = "../" * (depth - index) or "./"
        parts.append(f'<a href="{up}">{label}</a>')
    return "".join(parts)


def render_listing(segments: Sequence[str], entries: Iterable[ListingEntry], top: int = 0) -> bytes:
    """An "Index of /path/" page for the directory at ``segments``.

    ``segments`` are the decoded path of the directory (``()`` for the
    root); ``entries`` are shown as given, so hiding dotfiles is the
    caller's job. Links are relative to the directory's own URL, which
    always ends in "/" (the server redirects "/dir" to "/dir/" first).
    The first ``top`` segments are the ``--base`` prefix: no link leads
    above it (the prefix's own folder has no "../").
    """
    segments = [segment for segment in segments if segment]
    shown = "/" + "".join(segment + "/" for segment in segments)
    out = [
        _HEAD_START,
        "Index of " + escape(shown, quote=True),
        _HEAD_END,
        "<h1>Index of ",
        _breadcrumb(segments, top),
        "</h1>\n<table>\n<thead><tr><th>Name</th><th class=s>Size</th>"
        "<th>Modified (UTC)</th></tr></thead>\n<tbody>\n",
    ]
    if len(segments) > top:
        out.append('<tr><td class=n><a href="../">../</a></td><td class=s></td><td class=m></td>')
        out.append("</tr>\n")
    for entry in sorted(entries, key=_sort_key):
        name = entry.name
        if not name or name in (".", "..") or _IMPOSSIBLE.search(name):
            continue
        # "./" keeps a name such as "a:b" from being read as a URL scheme
        # (RFC 3986 §4.2); quote_segment encodes "?", "#", "%" and "/".
        href = "./" + quote_segment(name)
        label = escape(name, quote=True)
        if entry.is_dir:
            href += "/"
            label += "/"
            size = "<td class=s>-</td>"
        else:
            unit = "byte" if entry.size == 1 else "bytes"
            size = f'<td class=s title="{entry.size} {unit}">{_human_size(entry.size)}</td>'
        out.append(f'<tr><td class=n><a href="{escape(href, quote=True)}">{label}</a></td>')
        out.append(size)
        out.append(f"<td class=m>{_when(entry.mtime)}</td></tr>\n")
    out.append("</tbody>\n</table>\n")
    out.append(_TAIL)
    # A lone surrogate (an undecodable byte in a file name, surrogateescaped
    # by os.scandir) cannot be encoded: "replace" shows it as "?".
    return "".join(out).encode("utf-8", "replace")


def error_page(status: int, reason: str) -> bytes:
    """A small page: "404 Not Found" as title and heading, then ``reason``.

    ``reason`` should be fixed text chosen by the server; it is escaped
    anyway. Nothing request-specific (path, headers, traceback) belongs here.
    """
    title = f"{status} {reason_phrase(status)}"
    page = (
        _HEAD_START
        + escape(title, quote=True)
        + _HEAD_END
        + f"<h1>{escape(title, quote=True)}</h1>\n<p>{escape(reason, quote=True)}</p>\n"
        + _TAIL
    )
    return page.encode("utf-8", "replace")


def not_found_page(shown_path: str, root_href: str, parent: tuple[str, str] | None) -> bytes:
    """The built-in 404: what was asked for, a way home, and the nearest folder.

    ``shown_path`` is the requested path as the user would read it (it is
    the client's own input, so it is escaped like everything else);
    ``root_href`` links to the site root and ``parent`` is ``(href,
    label)`` of the nearest existing folder, or None.  The caller builds
    the hrefs (relative, so the page works behind a reverse proxy that
    mounts the site under a prefix).
    """
    title = "404 Not Found"
    out = [
        _HEAD_START,
        title,
        _HEAD_END,
        f"<h1>{title}</h1>\n",
        f"<p>Nothing is served at <code>{escape(shown_path, quote=True)}</code>.</p>\n<ul>\n",
    ]
    if parent is not None:
        href, label = parent
        out.append(
            f'<li>Nearest existing folder: <a href="{escape(href, quote=True)}">'
            f"{escape(label, quote=True)}</a></li>\n"
        )
    out.append(f'<li><a href="{escape(root_href, quote=True)}">The site root</a></li>\n')
    out.append("</ul>\n")
    out.append(_TAIL)
    return "".join(out).encode("utf-8", "replace")
