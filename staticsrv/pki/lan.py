"""The names and addresses a server is reached by: for the banner and the certificate.

Owns: this machine's LAN addresses (the one source for the banner's
"On your network" URLs and the certificate), and the names the ``--https``
leaf certificate must carry.  May not touch: the listening socket (a UDP
probe socket that only asks the kernel is the only socket here), HTTP,
files other than the kernel's interface table.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from collections.abc import Iterable

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
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


def lan_addresses(host: str) -> list[str]:
    """The non-loopback addresses a wildcard bind on ``host`` is reached at, IPv4 first.

    Every interface's IPv4 address (Linux: one ioctl each; elsewhere what
    the host name resolves to), and for ``::`` the global IPv6 ones too:
    the banner prints them and the ``--https`` leaf certificate names them.
    """
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
    if host == "::":
        found += _ipv6_addresses()
    out: list[str] = []
    for addr in found:
        ip = ipaddress.ip_address(addr)
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local) and addr not in out:
            out.append(addr)
    return out


def leaf_names(host: str, allowed: Iterable[str] = ()) -> list[str]:
    """Loopback names, plus what the server is reached by beyond loopback.

    ``allowed`` are the ``--allowed-host`` values: a name the user allowed
    is one the server is meant to be reached by, so the certificate names
    it too (``.example.com`` as ``example.com`` and ``*.example.com``).
    """
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
    for name in sorted(allowed):  # sorted: the same names, the same certificate
        extra += [name[1:], "*" + name] if name.startswith(".") else [name]
    for name in extra:
        if name not in names:
            names.append(name)
    return names
