"""What the user sees at start: the URLs, a QR code for a phone, the browser.

Owns: the banner's lines (the local URL, and every LAN URL when bound to
all interfaces), finding this machine's LAN addresses, the terminal QR code
(``segno``, the ``staticsrv[qr]`` extra) and opening the browser.
May not touch: HTTP, the decision of what to answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
import threading
import webbrowser
from collections.abc import Sequence

SIOCGIFADDR = 0x8915  # Linux: the IPv4 address of an interface


def _ipv4_of(name: str) -> str | None:
    import fcntl  # POSIX only; this path runs on Linux

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(
                probe.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode())
            )
        except OSError:
            return None  # no IPv4 address on this interface
    return socket.inet_ntoa(packed[20:24])


def _ipv6_addresses() -> list[str]:
    found = []
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
        for line in table:
            fields = line.split()
            if len(fields) >= 4 and fields[3] == "00":  # global scope only: no zone id needed
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    return found


def lan_addresses(*, ipv6: bool) -> list[str]:
    """This machine's non-loopback addresses, IPv4 first (IPv6 global ones if asked)."""
    found: list[str] = []
    if hasattr(socket, "if_nameindex") and sys.platform.startswith("linux"):
        for _index, name in socket.if_nameindex():
            addr = _ipv4_of(name)
            if addr is not None:
                found.append(addr)
    else:
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
                found.append(str(info[4][0]))
    if ipv6:
        found += _ipv6_addresses()
    out: list[str] = []
    for addr in found:
        ip = ipaddress.ip_address(addr)
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local) and addr not in out:
            out.append(addr)
    return out


def url_for(host: str, port: int, path: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def urls(sock: socket.socket, path: str) -> tuple[str, list[str]]:
    """The local URL and the LAN URLs of a listening socket, each ending in ``path``."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        local = url_for("127.0.0.1" if host == "0.0.0.0" else "::1", port, path)
        return local, [url_for(a, port, path) for a in lan_addresses(ipv6=host == "::")]
    return url_for(host, port, path), []


def lines(shown_root: str, local: str, lan: Sequence[str], busy: Sequence[int]) -> list[str]:
    """The banner; its first line names the URL (scripts and tests read it)."""
    note = f"port {busy[0]} was busy; " if busy else ""
    out = [f"Serving {shown_root} at {local} ({note}Ctrl+C to stop)"]
    out += [f"  On your network: {url}" for url in lan]
    return out


def qr_text(url: str) -> str:
    """A QR code of ``url`` drawn with block characters for a terminal."""
    import io

    import segno  # the staticsrv[qr] extra; checked at start by config

    out = io.StringIO()
    segno.make(url, error="l").terminal(out=out, compact=True)
    return out.getvalue()


def open_browser(url: str) -> None:
    """Open the default browser on ``url``, off the main thread (it may block)."""
    threading.Thread(target=webbrowser.open, args=(url,), name="open", daemon=True).start()
