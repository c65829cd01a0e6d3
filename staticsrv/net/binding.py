"""Binding the listening sockets: the address, the port fallback, ``localhost``'s two.

Owns: :func:`bind` (one socket, or :class:`BindError` with the user's
line), :func:`bind_any` (the first free port of a range), :func:`bind_also`
(``localhost``'s IPv6 twin) and the URL of a bound socket.
May not touch: accepting, HTTP.

Browsers resolve ``localhost`` to ``::1`` first and fall back to
``127.0.0.1`` only when nothing answers there.  So a server bound to
127.0.0.1 alone, with another one (Vite binds ``localhost``) on
``[::1]:8080``, is silently not the one ``http://localhost:8080/`` shows;
and ``--host localhost`` must listen on both.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence

LISTEN_BACKLOG = 1024  # bursts of new connections wait in the kernel, not refused
LOOPBACK_V4 = ("127.0.0.1", "localhost")


class BindError(OSError):
    """The listening socket could not be created; the message is for the user.

    An OSError, as the failed bind behind it is: code written for
    ``http.server`` and sockets catches it as one.
    """

    def __init__(self, message: str, *, in_use: bool = False) -> None:
        super().__init__(message)
        self.in_use = in_use
        if in_use:
            self.errno = errno.EADDRINUSE  # str() stays the message: strerror is unset


def bind(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """Create the non-blocking listening socket, or raise BindError with a clear message.

    ``listen=False`` only reserves the address: the worker supervisor holds
    such a socket so that every worker can bind the same port with
    SO_REUSEPORT while the parent itself never receives connections.
    """
    # localhost is 127.0.0.1 here whatever the resolver lists first; its
    # ::1 half is bind_also's.
    name = "127.0.0.1" if host.lower() == "localhost" else host
    try:
        infos = socket.getaddrinfo(
            _literal(name), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise BindError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":
            # On Windows SO_REUSEADDR would let a second server steal the port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        if listen:
            sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BindError(f"port {port} on {host} is already in use", in_use=True) from None
        if exc.errno == errno.EACCES:
            raise BindError(f"no permission to listen on {host}:{port}") from None
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def _literal(name: str) -> str | bytes:
    """An IP address as bytes, any other name as it is.

    getaddrinfo encodes a ``str`` host with the idna codec, whose first use
    imports it (with stringprep and unicodedata) at every start; an address
    has nothing for it to do.
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, name)
        except (OSError, ValueError):
            continue
        return name.encode("ascii")
    return name


def bind_any(
    host: str, ports: Sequence[int], *, reuse_port: bool = False, listen: bool = True
) -> tuple[socket.socket, list[int]]:
    """The first of ``ports`` free on ``host``, and the busy ones skipped before it.

    Only "in use" moves on to the next port; any other failure (no
    permission, no such address) is the same for every port and is raised.
    On loopback a port another server holds on ``[::1]`` counts as busy:
    the browser's ``localhost:PORT`` would reach that server, not this one.
    """
    busy: list[int] = []
    fallback = len(ports) > 1
    for port in ports:
        try:
            sock = bind(host, port, reuse_port=reuse_port, listen=listen)
        except BindError as exc:
            if not exc.in_use or not fallback:
                raise
            busy.append(port)
            continue
        if fallback and host.lower() in LOOPBACK_V4 and _v6_loopback_busy(port):
            sock.close()
            busy.append(port)
            continue
        return sock, busy
    raise BindError(f"ports {ports[0]} to {ports[-1]} on {host} are all in use", in_use=True)


def bound_url(sock: socket.socket, scheme: str = "http", path: str = "/") -> str:
    """The URL a client on this machine uses, as the banner's first line shows it.

    A wildcard bind is reached on loopback: ``0.0.0.0`` and ``::`` are
    addresses to bind, not to connect to (Windows refuses them, and no
    certificate names them).  ``path`` is the site's root (``--base``).
    """
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"


def _v6_loopback_busy(port: int) -> bool:
    """Whether something listens on ``[::1]:port`` (a bind probe; False without IPv6)."""
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    with probe:
        if os.name != "nt":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("::1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def bind_also(
    host: str, lsock: socket.socket, *, reuse_port: bool = False, listen: bool = True
) -> list[socket.socket]:
    """The other sockets ``host`` needs beside ``lsock``: ``[::1]`` for localhost.

    Without IPv6 on this machine there is none; ``[::1]:port`` taken by
    another server is a BindError (that server would get the browser's
    requests).
    """
    if host.lower() != "localhost":
        return []
    port = lsock.getsockname()[1]
    try:
        return [bind("::1", port, reuse_port=reuse_port, listen=listen)]
    except BindError as exc:
        if exc.in_use:
            raise BindError(
                f"port {port} on ::1 (localhost) is already in use", in_use=True
            ) from None
        return []  # no IPv6 loopback here: 127.0.0.1 is all localhost is
