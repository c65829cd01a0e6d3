"""The names and addresses a server is reached by: for the banner and the certificate.

Owns: the LAN addresses of a wildcard bind, and the names the ``--https``
leaf certificate must carry.  May not touch: the listening socket (a UDP
probe socket that never sends is the only socket here), HTTP, files.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def lan_addresses(host: str) -> list[str]:
    """The non-loopback addresses a wildcard bind is reachable at, best first.

    A UDP socket "connected" to an address off this machine (documentation
    ranges, RFC 5737 and RFC 3849) reveals the interface the default route
    uses; no packet is sent.  The host name's own addresses
    add the others the resolver knows.
    """
    found: list[str] = []
    families = [socket.AF_INET] if host == "0.0.0.0" else [socket.AF_INET, socket.AF_INET6]
    probes = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}
    for family in families:
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((probes[family], 9))
            found.append(str(probe.getsockname()[0]))
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM):
            if info[0] in families:
                found.append(str(info[4][0]))
    out: list[str] = []
    for text in found:
        addr = ipaddress.ip_address(text.split("%")[0])
        if addr.is_loopback or addr.is_link_local or addr.is_unspecified or text in out:
            continue
        out.append(str(addr))
    return out


def leaf_names(host: str) -> list[str]:
    """Loopback names, plus what the server is reached by beyond loopback."""
    names = list(LOOPBACK_NAMES)
    if host in WILDCARD_HOSTS:
        extra = lan_addresses(host)
    else:
        try:
            ip = ipaddress.ip_address(host)
            extra = (
                [] if ip.is_loopback else [str(ip)]
            )  # one spelling: "2001:DB8::1" is "2001:db8::1"
        except ValueError:
            extra = [] if host.lower() == "localhost" else [host.lower()]
    return names + [n for n in extra if n not in names]
