"""--allowed-host patterns over real sockets, and the --https certificate naming those hosts."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

import staticsrv
from staticsrv.pki import certs
from tests.client import Conn
from tests.process import run_fail


def status_for(port: int, host: str) -> int:
    with Conn(("127.0.0.1", port)) as conn:
        conn.send(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return conn.read_response().status


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<p>box</p>")
    return root


def test_a_leading_dot_answers_the_domain_and_its_subdomains_only(site: Path) -> None:
    with staticsrv.serve(site, port=0, allowed_host=[" .example.com "]) as server:
        for host in ("example.com", "a.example.com", "a.b.example.com:8080"):
            assert status_for(server.port, host) == 200, host
        for host in ("badexample.com", "example.com.evil.net", "evil.net"):
            assert status_for(server.port, host) == 403, host


def test_all_with_spaces_turns_the_host_check_off(site: Path) -> None:
    with staticsrv.serve(site, port=0, allowed_host=" all ") as server:
        assert status_for(server.port, "evil.net") == 200


def test_a_wildcard_pattern_is_one_line_on_the_command_line(site: Path) -> None:
    done = run_fail(str(site), "--allowed-host", "*.example.com")
    assert done.returncode == 2
    assert done.stderr == (
        "staticsrv: error: --allowed-host: '*.example.com': no wildcards; "
        "write .example.com for the domain and every subdomain\n"
    )


def fetch_verified(port: int, name: str, ca: str) -> bytes:
    ctx = ssl.create_default_context(cafile=ca)  # verifies the chain and the name
    tcp = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(tcp, server_hostname=name) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {name}:{port}\r\nConnection: close\r\n\r\n".encode())
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    return got


def test_the_https_certificate_names_the_allowed_hosts(site: Path) -> None:
    hosts = ["mybox.local", ".example.com"]
    with staticsrv.serve(site, port=0, https=True, allowed_host=hosts) as server:
        assert server.ca_file is not None
        for name in ("mybox.local", "example.com", "dev.example.com", "localhost"):
            got = fetch_verified(server.port, name, server.ca_file)
            assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"<p>box</p>"), name
        # A name nobody allowed is not in the certificate either.
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            fetch_verified(server.port, "other.local", server.ca_file)
        # *.example.com covers one label only (RFC 6125 §6.4.3), as browsers do.
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            fetch_verified(server.port, "a.b.example.com", server.ca_file)
    meta = (certs.data_dir() / certs.LEAF_META).read_text()
    assert '"*.example.com"' in meta and '"mybox.local"' in meta
