"""HTTPS end to end: the handshake, its deadline and failures, the wrong scheme, certificates.

The whole HTTP suite also runs over TLS (see ``pytest_generate_tests`` in
tests/conftest.py); these tests are about TLS itself and run once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import staticsrv
from staticsrv.config import Timeouts
from staticsrv.http.http11 import Request
from staticsrv.http.responses import Response, StreamBody
from staticsrv.pki import certs
from tests.client import Addr, Conn, build, client_hello, get, raw
from tests.conftest import ServeFactory
from tests.process import next_line
from tests.process import run_fail as cli
from tests.process import staticsrv as spawn
from tests.waiting import poll_until

pytestmark = pytest.mark.one_scheme

HELLO = b"hello world\n"


def plain(addr: tuple[str, int]) -> Addr:
    return Addr(addr[0], addr[1])


def read_to_eof(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def tls_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "staticsrv"]


def wait_for_log(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The server logs from its own thread after it saw the client go: poll
    the captured records, bounded, since no event marks that moment."""
    poll_until(f"{count} TLS log lines", lambda: len(tls_warnings(caplog)) >= count, 5)
    return tls_warnings(caplog)


# ---------------------------------------------------------------- the handshake


def test_tls_1_2_or_1_3_with_alpn_http11_and_a_verified_certificate(serve: ServeFactory) -> None:
    # h2 is off here: offered h2 first, the server answers HTTP/1.1 (test_h2.py
    # has the default, where h2 wins).
    srv = serve(https=True, http2=False)
    ctx = ssl.create_default_context(cafile=str(certs.data_dir() / certs.CA_CERT))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    for name in ("localhost", "127.0.0.1"):
        tcp = socket.create_connection(srv.addr, timeout=10)
        with ctx.wrap_socket(tcp, server_hostname=name) as sock:
            assert sock.version() in ("TLSv1.2", "TLSv1.3")
            assert sock.selected_alpn_protocol() == "http/1.1"
            sock.sendall(build("/hello.txt", headers={"Connection": "close"}))
            assert read_to_eof(sock).endswith(b"\r\n\r\n" + HELLO)
    assert srv.server.url.startswith("https://127.0.0.1:")
    assert srv.server.ca_file == str(certs.data_dir() / certs.CA_CERT)


def test_tls_1_1_and_older_are_refused(serve: ServeFactory) -> None:
    srv = serve(https=True)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    with pytest.warns(DeprecationWarning):
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.minimum_version = ssl.TLSVersion.TLSv1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(srv.addr, timeout=10) as tcp, pytest.raises(ssl.SSLError):
        old.wrap_socket(tcp, server_hostname="localhost")
    assert get(srv.addr, "/hello.txt").body == HELLO


def test_half_a_client_hello_is_dropped_at_the_head_deadline(serve: ServeFactory) -> None:
    # The keep-alive deadline is far beyond the socket's timeout: only the
    # head deadline can close this connection before the client gives up.
    srv = serve(https=True, timeouts=Timeouts(head=0.5, keepalive=60.0, send=5.0))
    hello = client_hello()
    with socket.create_connection(srv.addr, timeout=10) as sock:
        sock.sendall(hello[: len(hello) // 2])
        assert read_to_eof(sock) == b""  # closed, and no plain-text 408 inside a TLS stream
    assert get(srv.addr, "/hello.txt").body == HELLO


def test_no_client_hello_at_all_is_dropped_at_the_head_deadline(serve: ServeFactory) -> None:
    srv = serve(https=True, timeouts=Timeouts(head=0.5, keepalive=60.0, send=5.0))
    with socket.create_connection(srv.addr, timeout=10) as sock:
        assert read_to_eof(sock) == b""


def test_a_stalled_head_after_the_handshake_gets_an_encrypted_408(serve: ServeFactory) -> None:
    srv = serve(https=True, timeouts=Timeouts(head=0.5, keepalive=60.0, send=5.0))
    with Conn(srv.addr) as conn:
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
        assert conn.read_response().status == 408
        assert conn.closed_by_server()


def test_client_closing_mid_handshake_is_one_log_line_and_harms_no_one(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="staticsrv")
    srv = serve(https=True)
    hello = client_hello()
    with Conn(srv.addr) as busy:  # a client in the middle of its session
        assert busy.request("/hello.txt").body == HELLO
        with socket.create_connection(srv.addr, timeout=10) as sock:
            sock.sendall(hello[:100])
        lines = wait_for_log(caplog, 1)
        assert busy.request("/big.bin").status == 200
    assert len(lines) == 1 and "TLS handshake" in lines[0] and "closed" in lines[0]
    assert lines[0].startswith("staticsrv: ")
    assert not any(r.exc_info or "Traceback" in r.getMessage() for r in caplog.records)
    assert get(srv.addr, "/hello.txt").body == HELLO


def test_a_client_that_distrusts_the_certificate_is_one_log_line(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="staticsrv")
    srv = serve(https=True)
    stranger = ssl.create_default_context()  # the system's CAs, not ours
    with (
        socket.create_connection(srv.addr, timeout=10) as tcp,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        stranger.wrap_socket(tcp, server_hostname="localhost")
    lines = wait_for_log(caplog, 1)
    assert len(lines) == 1
    assert "TLS handshake failed" in lines[0] and "--print-ca" in lines[0]
    assert lines[0].startswith("staticsrv: ")
    assert get(srv.addr, "/hello.txt").body == HELLO


def test_a_connection_that_sends_nothing_and_leaves_is_not_logged(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="staticsrv")
    srv = serve(https=True)
    socket.create_connection(srv.addr, timeout=10).close()  # a port probe, a preconnect
    assert get(srv.addr, "/hello.txt").body == HELLO
    assert tls_warnings(caplog) == []


# ---------------------------------------------------------------- the wrong scheme


def test_plain_http_on_the_https_port_is_a_400_saying_https_then_close(
    serve: ServeFactory,
) -> None:
    srv = serve(https=True)
    resp, closed = raw(plain(srv.addr), build("/hello.txt"))
    assert resp is not None and resp.status == 400
    assert b"https://" in resp.body
    assert resp.header("connection") == "close"
    assert closed
    assert get(srv.addr, "/hello.txt").body == HELLO
    # Logged lines are written in the loop's next turn: after the request above.
    assert any('"GET /hello.txt HTTP/1.1" 400' in line for line in srv.log), srv.log


def test_garbage_on_the_https_port_is_the_same_400(serve: ServeFactory) -> None:
    srv = serve(https=True)
    resp, closed = raw(plain(srv.addr), b"\x00\x01 not http at all\r\n\r\n")
    assert resp is not None and resp.status == 400 and closed


def test_a_client_hello_on_a_plain_port_is_a_quick_400_and_close(serve: ServeFactory) -> None:
    srv = serve()
    with socket.create_connection(srv.addr, timeout=10) as sock:
        sock.sendall(client_hello())
        answer = read_to_eof(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")


# ---------------------------------------------------------------- bodies and logs


def test_big_file_over_tls_is_logged_with_its_plaintext_length(serve: ServeFactory) -> None:
    srv = serve(https=True)
    size = (srv.root / "big.bin").stat().st_size
    with Conn(srv.addr) as conn:
        assert len(conn.request("/big.bin").body) == size
        conn.request("/hello.txt")  # the log is written once the answer is out
    wanted = f'"GET /big.bin HTTP/1.1" 200 {size}'
    poll_until("the download was logged", lambda: any(x.endswith(wanted) for x in srv.log), 5.0)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_the_ca_fetches_over_http11(serve: ServeFactory) -> None:
    srv = serve(https=True)
    done = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--http1.1", "--max-time", "10",
            "--cacert", str(certs.data_dir() / certs.CA_CERT),
            "--write-out", r"\n%{http_version} %{response_code} %{ssl_verify_result}",
            f"https://localhost:{srv.port}/hello.txt",
        ],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == HELLO + b"\n1.1 200 0"


# ---------------------------------------------------------------- your own certificate


@pytest.fixture
def own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A certificate, its key, another key, and the CA that signed them, outside any root."""
    folder = tmp_path / "own-ca"
    monkeypatch.setenv(certs.ENV_DATA_DIR, str(folder))
    issued = certs.ensure(["localhost", "127.0.0.1"])
    out = tmp_path / "pem"
    out.mkdir()
    files = {"ca": out / "ca.pem", "cert": out / "cert.pem", "key": out / "key.pem"}
    shutil.copy(issued.ca_path, files["ca"])
    shutil.copy(issued.cert_path, files["cert"])
    shutil.copy(issued.key_path, files["key"])
    certs.ensure(["other.example"])  # a new leaf: a key that does not match cert.pem
    files["other_key"] = out / "other-key.pem"
    shutil.copy(issued.key_path, files["other_key"])
    monkeypatch.setenv(certs.ENV_DATA_DIR, str(tmp_path / "unused"))
    return files


def fetch_with(ca: Path, server: staticsrv.Server) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca))
    return get(Addr("127.0.0.1", server.port, ctx), "/hello.txt").body


def test_own_certificate_and_key(own: dict[str, Path], site: Path) -> None:
    with staticsrv.serve(site, port=0, tls_cert=own["cert"], tls_key=own["key"]) as server:
        assert server.url.startswith("https://")
        assert fetch_with(own["ca"], server) == HELLO


def test_key_in_the_certificate_file(own: dict[str, Path], site: Path, tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(own["cert"].read_bytes() + own["key"].read_bytes())
    with staticsrv.serve(site, port=0, tls_cert=both) as server:
        assert fetch_with(own["ca"], server) == HELLO


def _encrypt(key: Path, password: bytes, out: Path) -> None:
    loaded = serialization.load_pem_private_key(key.read_bytes(), None)
    out.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )


def test_encrypted_key_with_a_password_file(
    own: dict[str, Path], site: Path, tmp_path: Path
) -> None:
    locked, pw = tmp_path / "locked.pem", tmp_path / "pw.txt"
    _encrypt(own["key"], b"s3cret", locked)
    pw.write_bytes(b"s3cret\n")
    cert = own["cert"]
    with staticsrv.serve(
        site, port=0, tls_cert=cert, tls_key=locked, tls_key_password_file=pw
    ) as server:
        assert fetch_with(own["ca"], server) == HELLO
    with pytest.raises(ValueError, match="encrypted: give --tls-key-password-file"):
        staticsrv.Server(site, port=0, tls_cert=cert, tls_key=locked)
    pw.write_bytes(b"wrong\n")
    with pytest.raises(ValueError, match="wrong password"):
        staticsrv.Server(site, port=0, tls_cert=cert, tls_key=locked, tls_key_password_file=pw)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tls_cert": "missing.pem"}, "--tls-cert: .*missing.pem does not exist"),
        ({"tls_cert": "{cert}", "tls_key": "{other_key}"}, "does not match the certificate"),
        ({"tls_cert": "{key}", "tls_key": "{key}"}, "holds no PEM certificate"),
        ({"tls_key": "{key}"}, "--tls-key needs --tls-cert"),
        ({"https": True, "tls_cert": "{cert}"}, "give --https or --tls-cert, not both"),
    ],
)
def test_a_bad_certificate_option_is_one_clear_error(
    own: dict[str, Path], site: Path, options: dict[str, object], message: str
) -> None:
    names = {k: str(v) for k, v in own.items()}
    filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in options.items()}
    with pytest.raises(ValueError, match=message):
        staticsrv.Server(site, port=0, **filled)  # type: ignore[arg-type]


def test_a_key_the_server_would_serve_is_refused(own: dict[str, Path], site: Path) -> None:
    for name in ("key.pem", ".well-known/key.pem"):
        shutil.copy(own["key"], site / name)
        with pytest.raises(ValueError, match="would be served"):
            staticsrv.Server(site, port=0, tls_cert=own["cert"], tls_key=site / name)
    # A dot-folder is never served unless --dotfiles says so.
    (site / ".tls").mkdir()
    shutil.copy(own["key"], site / ".tls" / "key.pem")
    options = {"tls_cert": own["cert"], "tls_key": site / ".tls" / "key.pem"}
    assert staticsrv.Server(site, port=0, **options).tls is not None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="would be served"):
        staticsrv.Server(site, port=0, dotfiles=True, **options)  # type: ignore[arg-type]


def test_a_ca_folder_the_server_would_serve_is_refused(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(certs.ENV_DATA_DIR, str(site / "certs"))
    with pytest.raises(ValueError, match=r"certificate folder .* would be served"):
        staticsrv.Server(site, port=0, https=True)
    assert not (site / "certs").exists()
    # Serving a home folder: the data folder under a dot-folder stays hidden.
    monkeypatch.setenv(certs.ENV_DATA_DIR, str(site / ".local" / "share" / "staticsrv"))
    assert staticsrv.Server(site, port=0, https=True).ca_file is not None


# ---------------------------------------------------------------- the command line


def test_print_ca_prints_the_ca_certificate(ca_data_dir: Path) -> None:
    done = cli("--print-ca")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (certs.ensure_ca()).read_text()
    assert "PRIVATE KEY" not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tls-cert", "missing.pem"), "--tls-cert: "),
        (("--tls-key", "k.pem"), "--tls-key needs --tls-cert"),
        (("--https", "--tls-cert", "c.pem"), "give --https or --tls-cert, not both"),
    ],
)
def test_cli_certificate_errors_are_one_line_and_exit_2(
    site: Path, args: tuple[str, ...], message: str
) -> None:
    done = cli(str(site), "--port", "0", *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("staticsrv: error: ")
    assert message in done.stderr


@pytest.mark.skipif(os.name != "posix", reason="--workers needs SO_REUSEPORT")
def test_https_with_workers_and_the_banner(site: Path, client_tls: ssl.SSLContext) -> None:
    proc = spawn(str(site), "--port", "0", "--https", "-w", "2", "-q")
    try:
        lines = [next_line(proc) for _ in range(5)]
        match = re.search(r"with 2 workers at https://127\.0\.0\.1:(\d+)/ ", lines[0])
        assert match, lines
        assert "local CA" in lines[1] and str(certs.data_dir() / certs.CA_CERT) in lines[1]
        assert re.search(r"SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}", lines[2])
        assert "Trust it" in lines[3]
        assert "Certificate for localhost, 127.0.0.1, ::1 (" in lines[4]
        addr = Addr("127.0.0.1", int(match.group(1)), client_tls)
        for _ in range(4):
            assert get(addr, "/hello.txt").body == HELLO
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err


# ---------------------------------------------------------------- streamed answers


@dataclasses.dataclass(frozen=True)
class EventStream:
    """A rule that answers /events with a small Server-Sent Events stream,
    as the live-reload event stream is sent (a StreamBody, chunked)."""

    reads: frozenset[str] = frozenset()

    def apply(self, req: Request, resp: Response) -> Response:
        if req.target != "/events":
            return resp

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0)  # allowed: hands the loop over between events

        fields = (("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"))
        return Response(200, fields, StreamBody(chunks()))


def test_an_event_stream_goes_out_over_tls_chunk_by_chunk(serve: ServeFactory) -> None:
    srv = serve(https=True, rules=[EventStream()])
    end = b"\r\n0\r\n\r\n"  # the last chunk (RFC 9112 §7.1)
    with Conn(srv.addr) as conn:
        conn.send(build("/events"))
        while end not in conn.buf:
            assert conn._fill(), f"closed mid-stream: {conn.buf!r}"
        stream, conn.buf = conn.buf.split(end, 1)
        assert conn.request("/hello.txt").body == HELLO  # the connection goes on
    head, _, body = (stream + end).partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"text/event-stream" in head
    assert body.startswith(b"9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n")
