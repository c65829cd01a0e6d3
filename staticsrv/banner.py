"""What the user sees at start: the URLs, a QR code for a phone, the browser.

Owns: the banner's lines (the local URL, and every LAN URL when bound to
all interfaces: the addresses come from :mod:`staticsrv.pki.lan`, which also
names them in the ``--https`` certificate), the terminal QR code
(``segno``, the ``staticsrv[qr]`` extra) and opening the browser.
May not touch: HTTP, the decision of what to answer.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence


def url_for(host: str, port: int, path: str, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"


def urls(sock: socket.socket, path: str, scheme: str = "http") -> tuple[str, list[str]]:
    """The local URL and the LAN URLs of a listening socket, each ending in ``path``."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        from staticsrv.pki import lan  # the interfaces are only looked up for a LAN bind

        local = url_for("127.0.0.1" if host == "0.0.0.0" else "::1", port, path, scheme)
        return local, [url_for(a, port, path, scheme) for a in lan.lan_addresses(host)]
    return url_for(host, port, path, scheme), []


def lines(shown_root: str, local: str, network: Sequence[str], busy: Sequence[int]) -> list[str]:
    """The banner; its first line names the URL (scripts and tests read it)."""
    note = f"port {busy[0]} was busy; " if busy else ""
    out = [f"Serving {shown_root} at {local} ({note}Ctrl+C to stop)"]
    out += [f"  On your network: {url}" for url in network]
    return out


def qr_text(url: str) -> str:
    """A QR code of ``url`` drawn with block characters for a terminal."""
    import io

    import segno  # the staticsrv[qr] extra; checked at start by config

    out = io.StringIO()
    segno.make(url, error="l").terminal(out=out, compact=True)
    return out.getvalue()


def open_browser(url: str) -> None:
    """Open the default browser on ``url``, off the main thread (it may block).

    No browser at all (a server over SSH, a container) is one line on
    stderr, not a silent nothing: the lookup itself is quick and is done
    here, the launch in the thread.
    """
    import threading
    import webbrowser  # with shutil, shlex, bz2 and lzma: only for --open

    try:
        webbrowser.get()
    except webbrowser.Error:
        sys.stderr.write(f"staticsrv: --open: no browser found here; open {url} yourself\n")
        return
    threading.Thread(target=webbrowser.open, args=(url,), name="open", daemon=True).start()
