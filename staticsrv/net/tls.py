"""HTTPS over the same raw sockets: sans-io TLS in the transport seam.

Owns: :class:`TLSTransport`, which wraps a plain
:class:`~staticsrv.net.transport.Transport` (its recv/send move the ciphertext)
with an ``ssl.SSLObject`` on two ``MemoryBIO`` buffers, and offers the same
interface, so the connection loop, the handler and every deadline are the
same code for HTTP and HTTPS; the server's ``SSLContext`` (built once per
process, see :func:`setup`) and the banner lines that describe it.
May not touch: HTTP (heads, parsing), deadlines themselves, files other
than the descriptor it is handed and the certificate files it loads.

sendfile(2) cannot encrypt, so a file goes out as bounded reads, each
encrypted and sent before the next is read: memory per connection stays at
one piece however large the file or slow the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from staticsrv.config import Config
from staticsrv.http.target import is_hidden
from staticsrv.net.transport import RECV_SIZE, Opened, Transport
from staticsrv.pki import certs, lan

log = logging.getLogger("staticsrv")

# Plaintext encrypted and sent per step: the bound on a connection's
# memory for bodies, and the grain of the progress the send deadline sees.
PIECE = 64 * 1024
HANDSHAKE_RECORD = 0x16  # TLS ContentType handshake (RFC 8446 §5.1): a ClientHello's first byte
# Alerts that mean "the client does not trust this certificate" (RFC 8446 §6.2).
_DISTRUST = ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "DECRYPT_ERROR")


class TLSTransport:
    """TLS on top of a plain transport's raw bytes (composition, not a second socket layer)."""

    __slots__ = ("_closing", "_drained", "_draining", "_in", "_out", "_peer", "_plain",
                 "_progress", "_raw", "_ssl", "_up", "sent")  # fmt: skip

    def __init__(
        self,
        raw: Transport,
        context: ssl.SSLContext,
        peer: str,
        progress: Callable[[], None] = lambda: None,
        server_hostname: str | None = None,  # the client side (an https upstream): its name
    ) -> None:
        self._raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._in,
            self._out,
            server_side=server_hostname is None,
            server_hostname=server_hostname,
        )
        self._peer = peer
        self._progress = progress
        self._plain: bytes | None = None  # plain HTTP: the first bytes, handed to recv once
        self._up = False  # handshake complete
        self._closing = False
        self._draining = False  # a flush is sending records (see _flush)
        self._drained: asyncio.Future[None] | None = None  # what other flushers wait on
        self.sent = 0  # plaintext bytes whose records went to the kernel

    async def open(self) -> Opened:
        """The handshake; the caller's deadline (the head deadline) bounds it."""
        first = await self._raw.recv()
        if not first:
            return Opened.FAILED  # connected and left: a port probe, a preconnect
        if first[0] != HANDSHAKE_RECORD:
            # Plain HTTP on the HTTPS port (nginx's 497): the connection
            # answers it in plain text, so recv and send pass through.
            self._plain = first
            return Opened.PLAIN
        data = first
        while True:
            self._in.write(data)
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                # The alert for the client (protocol version, no shared cipher...).
                self._raw.send_nowait(self._out.read())
                self._failed(exc)
                return Opened.FAILED
            await self._flush()
            data = await self._raw.recv()
            if not data:
                log.warning(
                    "staticsrv: %s: TLS handshake: the client closed the connection", self._peer
                )
                return Opened.FAILED
        self._up = True
        await self._flush()  # the last flight (and TLS 1.3 session tickets)
        return Opened.READY

    async def start_client(self) -> None:
        """The client's handshake (the proxy to an https upstream); ssl.SSLError if refused."""
        while True:
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            await self._flush()
            data = await self._raw.recv()
            if not data:
                raise ConnectionError("the upstream closed the connection during the handshake")
            self._in.write(data)
        self._up = True
        await self._flush()

    def _failed(self, exc: ssl.SSLError) -> None:
        reason = str(exc.reason or exc.strerror or exc)
        hint = ""
        if any(word in reason for word in _DISTRUST):
            hint = " (the client does not trust the certificate: see staticsrv --print-ca)"
        log.warning("staticsrv: %s: TLS handshake failed: %s%s", self._peer, reason, hint)

    async def _flush(self) -> None:
        """Send every record the TLS object produced, in order, by one sender at a time.

        A read can produce records too (the answer to a key update) while a
        send waits for the socket to drain: two raw sends in flight at once
        would interleave their bytes and break the record stream.  So the
        first flusher drains the outgoing BIO until it is empty, and a
        flush that finds one under way leaves its records to it.
        """
        while self._draining:
            # Wait for the sender under way (it may take our records too);
            # waiting, not returning, keeps a send's backpressure: it ends
            # only once its bytes are with the kernel.
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)
        out = self._out
        if not out.pending:
            return
        self._draining = True
        try:
            while out.pending:
                await self._raw.send(out.read())
        finally:
            self._draining = False
            waiting, self._drained = self._drained, None
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    async def recv(self) -> bytes:
        """Up to RECV_SIZE plaintext bytes; b"" at the end of the stream."""
        if self._plain is not None:
            first, self._plain = self._plain, b""
            return first if first else await self._raw.recv()
        if self._closing or not self._up:
            return await self._raw.recv()  # lingering close: only counted, never read
        tls, incoming = self._ssl, self._in
        while True:
            if incoming.pending or tls.pending():  # else a read could only ask for more
                try:
                    data = tls.read(RECV_SIZE)
                except ssl.SSLWantReadError:
                    data = b""  # a record in part, or one with no data (a key update)
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""  # close_notify, or the TCP end
                except ssl.SSLError:
                    return b""  # a broken record: nothing more can be trusted
                if self._out.pending and not self._draining:
                    await self._flush()  # what reading produced (a key update's answer);
                    # while a send drains, that sender takes these records too
                if data:
                    return data
            raw = await self._raw.recv()
            if not raw:
                return b""
            incoming.write(raw)

    async def send(self, data: bytes | memoryview) -> None:
        """All of ``data``, encrypted and sent one bounded piece at a time."""
        if self._plain is not None:
            await self._raw.send(data)
            self.sent += len(data)
            return
        if len(data) <= PIECE:  # most answers: one step
            self._ssl.write(data)
            await self._flush()
            self.sent += len(data)
            self._progress()
            return
        view = memoryview(data)
        for start in range(0, len(view), PIECE):
            piece = view[start : start + PIECE]
            self._ssl.write(piece)
            await self._flush()
            self.sent += len(piece)
            self._progress()

    @property
    def alpn(self) -> str | None:
        """The protocol ALPN chose (RFC 7301): "h2", "http/1.1", or None."""
        return self._ssl.selected_alpn_protocol() if self._up else None

    def send_nowait(self, data: bytes) -> None:
        """Best effort, never blocking (a last word before closing)."""
        if self._plain is not None:
            self._raw.send_nowait(data)
            return
        if not self._up or self._closing:
            return  # no session to speak in
        with contextlib.suppress(ssl.SSLError):
            self._ssl.write(data)
            self._raw.send_nowait(self._out.read())
            self.sent += len(data)

    def unacked(self) -> int:
        return self._raw.unacked()

    async def sendfile(self, fd: int, offset: int, count: int) -> bool:
        """``count`` bytes of ``fd`` from ``offset`` as bounded pread + encrypt + send.

        False if the file ended early (the framing is broken: close).
        """
        end = offset + count
        while offset < end:
            data = os.pread(fd, min(end - offset, PIECE), offset)
            if not data:
                return False
            await self.send(data)
            offset += len(data)
        return True

    def _close_notify(self) -> None:
        """The alert that says the stream ends here, not cut (RFC 8446 §6.1); best effort."""
        if self._up and not self._closing and self._plain is None:
            with contextlib.suppress(ssl.SSLError):
                self._ssl.unwrap()
            self._raw.send_nowait(self._out.read())
        self._closing = True

    def shutdown_write(self) -> None:
        self._close_notify()
        self._raw.shutdown_write()

    def close(self) -> None:
        self._close_notify()
        self._raw.close()


# --------------------------------------------------------------------------- the context


@dataclass(frozen=True, slots=True)
class Setup:
    """A server's TLS: the context every connection shares, and what the banner says."""

    context: ssl.SSLContext
    banner: tuple[str, ...]
    ca_path: str | None = None  # the local CA's certificate, with --https


def _read_password(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.readline().rstrip(b"\r\n")
    except OSError as exc:
        raise ValueError(f"--tls-key-password-file: cannot read {path}: {exc.strerror}") from None


def _pem(path: str) -> bytes:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return f.read(1 << 20)
    return b""


def _has_key(pem: bytes) -> bool:
    # PKCS#8 ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY") and the legacy
    # "RSA PRIVATE KEY" / "EC PRIVATE KEY" blocks all end their label so.
    return b"PRIVATE KEY-----" in pem


def server_context(
    cert: str, key: str | None, password_file: str | None, http2: bool = False
) -> ssl.SSLContext:
    """The server's context, or ValueError with one line naming the real reason.

    OpenSSL's own errors say "PEM lib" for a missing key and a wrong
    password alike, and "no certificate assigned" for an RSA certificate
    given an EC key; the files are looked at first so that the line says
    which of them is wrong and how.
    """
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"{flag}: {path} does not exist or is not a file")
        if path is not None and not os.access(path, os.R_OK):
            raise ValueError(f"{flag}: {path} is not readable")
    if b"-----BEGIN CERTIFICATE-----" not in _pem(cert):
        raise ValueError(f"--tls-cert: {cert} holds no PEM certificate")
    key_file = key or cert
    key_pem = _pem(key_file)
    if not _has_key(key_pem):
        if key is None:
            raise ValueError(
                f"--tls-cert: the private key is missing: {cert} holds none; give --tls-key FILE"
            )
        raise ValueError(f"--tls-key: {key} holds no PEM private key")
    password = _read_password(password_file) if password_file else None
    encrypted = b"ENCRYPTED" in key_pem
    if password is None and encrypted:
        # OpenSSL would otherwise ask on the terminal.
        raise ValueError(f"--tls-key: {key_file} is encrypted: give --tls-key-password-file")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # the stdlib's secure defaults
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # RFC 7301: h2 first (RFC 9113 §3.2), HTTP/1.1 for clients without it.
    ctx.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    try:
        ctx.load_cert_chain(cert, key, password=(lambda: password or b""))
    except ssl.SSLError as exc:
        reason = str(exc.reason or "")
        if "MISMATCH" in reason or reason == "NO_CERTIFICATE_ASSIGNED":
            # NO_CERTIFICATE_ASSIGNED: a key of another type (EC for an
            # RSA certificate) has no certificate slot to pair with.
            raise ValueError(
                f"--tls-key: the key in {key_file} does not match the certificate in {cert}"
            ) from None
        if password_file is not None and encrypted:
            raise ValueError(
                f"--tls-key-password-file: {password_file}: wrong password for {key_file}"
            ) from None
        raise ValueError(f"--tls-cert: cannot load {cert} with {key_file}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"--tls-cert: cannot load {cert}: {exc.strerror or exc}") from None
    return ctx


def _servable(path: str, config: Config) -> bool:
    """Whether a request could fetch ``path``: inside the root and, without
    --dotfiles, not hidden by the very rule requests meet (a ``.name``)."""
    real, root = os.path.realpath(path), config.root
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        return False
    return config.dotfiles or not is_hidden(os.path.relpath(real, root).split(os.sep))


def setup(config: Config) -> Setup | None:
    """The TLS this config asks for (None for plain HTTP), or ValueError with the CLI's line."""
    if config.https:
        folder = str(certs.data_dir())
        if _servable(folder, config):
            raise ValueError(
                f"--https: the certificate folder {folder} would be served; "
                f"set {certs.ENV_DATA_DIR} to a folder outside the served one"
            )
        issued = certs.ensure(lan.leaf_names(config.host, config.allowed_hosts or ()))
        ctx = server_context(str(issued.cert_path), str(issued.key_path), None, config.http2)
        made = "made now" if issued.new_ca else "reused"
        return Setup(
            ctx,
            (
                f"HTTPS with the local CA ({made}): {issued.ca_path}",
                f"  CA SHA-256 fingerprint {issued.fingerprint}",
                "  Trust it once per device: import that file as a trusted certificate "
                "authority (staticsrv --print-ca prints it)",
                f"  Certificate for {', '.join(issued.names)} "
                f"({'issued now' if issued.new_leaf else 'reused'})",
            ),
            str(issued.ca_path),
        )
    if config.tls_cert is None:
        return None
    key = config.tls_key or config.tls_cert
    if _servable(key, config):
        # Served like any other file, the key would be anyone's.
        raise ValueError(f"--tls-key: {key} would be served (it is in the served folder)")
    ctx = server_context(
        config.tls_cert, config.tls_key, config.tls_key_password_file, config.http2
    )
    return Setup(ctx, (f"HTTPS with the certificate {config.tls_cert}",))
