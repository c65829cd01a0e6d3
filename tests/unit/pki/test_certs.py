"""The local CA behind --https: what it issues, where it keeps it, when it renews."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from staticsrv import banner
from staticsrv.pki import certs, lan
from tests.patching import replace

NAMES = ["localhost", "127.0.0.1", "::1"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data" / "staticsrv"
    monkeypatch.setenv(certs.ENV_DATA_DIR, str(path))
    return path


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_makes_a_ca_and_a_leaf_in_the_data_folder(folder: Path) -> None:
    issued = certs.ensure(NAMES)
    assert issued.new_ca and issued.new_leaf
    assert issued.ca_path == folder / "ca.pem"
    assert issued.cert_path.parent == folder and issued.key_path.parent == folder
    for path in (issued.ca_path, issued.cert_path, issued.key_path, folder / "ca-key.pem"):
        assert path.is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_keys_are_readable_by_the_owner_only(folder: Path) -> None:
    issued = certs.ensure(NAMES)
    assert mode(folder / "ca-key.pem") == 0o600
    assert mode(issued.key_path) == 0o600
    assert mode(folder) == 0o700
    assert mode(issued.ca_path) == 0o644  # a certificate is public


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_a_loosened_ca_key_is_tightened_again(folder: Path) -> None:
    certs.ensure(NAMES)
    (folder / "ca-key.pem").chmod(0o644)
    certs.ensure(NAMES)
    assert mode(folder / "ca-key.pem") == 0o600


def test_ca_may_sign_end_entity_certificates_only(folder: Path) -> None:
    ca = load(certs.ensure(NAMES).ca_path)
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)  # self-signed
    years = (ca.not_valid_after_utc - ca.not_valid_before_utc).days / 365
    assert 9 < years < 11


def test_leaf_names_exactly_the_given_names_and_serves_tls_only(folder: Path) -> None:
    issued = certs.ensure(NAMES)
    leaf, ca = load(issued.cert_path), load(issued.ca_path)
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    # Apple platforms refuse longer-lived server certificates.
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 398
    assert leaf.not_valid_before_utc < datetime.datetime.now(datetime.UTC)


def test_the_certificate_file_is_the_chain_leaf_then_ca(folder: Path) -> None:
    issued = certs.ensure(NAMES)
    chain = x509.load_pem_x509_certificates(issued.cert_path.read_bytes())
    assert len(chain) == 2
    assert chain[0].subject.rfc4514_string().endswith("O=staticsrv development")
    assert chain[1] == load(issued.ca_path)


def test_leaf_verifies_with_the_stdlib_against_the_ca(folder: Path) -> None:
    issued = certs.ensure(NAMES)
    client = ssl.create_default_context(cafile=str(issued.ca_path))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(issued.cert_path, issued.key_path)
    for name in ("localhost", "127.0.0.1"):
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        c = client.wrap_bio(c_in, c_out, server_hostname=name)
        s = server.wrap_bio(s_in, s_out, server_side=True)
        for _ in range(4):  # a handshake is at most a few flights each way
            for side, outbox, peer_in in ((c, c_out, s_in), (s, s_out, c_in)):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()  # raises on a name or CA it cannot verify
                peer_in.write(outbox.read())
        assert c.version() in ("TLSv1.2", "TLSv1.3")


def test_second_start_reuses_ca_and_leaf_unchanged(folder: Path) -> None:
    first = certs.ensure(NAMES)
    before = {p: p.read_bytes() for p in folder.iterdir() if p.suffix == ".pem"}
    second = certs.ensure(NAMES)
    assert not second.new_ca and not second.new_leaf
    assert second.fingerprint == first.fingerprint
    assert {p: p.read_bytes() for p in before} == before


def test_reuse_does_not_load_cryptography(folder: Path) -> None:
    """A start that reuses its certificates stays as light as a plain one."""
    certs.ensure(NAMES)
    code = (
        "import sys; from staticsrv.pki import certs; "
        f"assert not certs.ensure({NAMES!r}).new_leaf; "
        "print('cryptography' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "False"


def test_leaf_is_reissued_when_the_names_change_and_the_ca_is_kept(folder: Path) -> None:
    first = certs.ensure(NAMES)
    ca_before = first.ca_path.read_bytes()
    second = certs.ensure([*NAMES, "192.168.1.20"])
    assert second.new_leaf and not second.new_ca
    assert second.ca_path.read_bytes() == ca_before
    san = load(second.cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert ipaddress.ip_address("192.168.1.20") in san.value.get_values_for_type(x509.IPAddress)
    third = certs.ensure(NAMES)  # and back
    assert third.new_leaf


def test_leaf_is_reissued_before_it_expires(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    certs.ensure(NAMES)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=certs.LEAF_DAYS - 10)
    asked = replace(monkeypatch, certs, "_now", lambda: later)
    assert certs.ensure(NAMES).new_leaf
    assert asked, "ensure did not read the time through certs._now"


def test_leaf_of_a_replaced_ca_is_reissued(folder: Path) -> None:
    certs.ensure(NAMES)
    (folder / "ca.pem").unlink()
    (folder / "ca-key.pem").unlink()
    again = certs.ensure(NAMES)
    assert again.new_ca and again.new_leaf
    load(again.cert_path).verify_directly_issued_by(load(again.ca_path))


def test_a_damaged_ca_is_one_clear_error(folder: Path) -> None:
    certs.ensure(NAMES)
    (folder / "ca.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot read the CA"):
        certs.ensure(NAMES)


def test_fingerprint_is_the_sha256_of_the_der_certificate(folder: Path) -> None:
    issued = certs.ensure(NAMES)
    der = ssl.PEM_cert_to_DER_cert(issued.ca_path.read_text())
    assert issued.fingerprint.replace(":", "").lower() == hashlib.sha256(der).hexdigest()


def test_ensure_ca_makes_only_the_ca(folder: Path) -> None:
    path = certs.ensure_ca()
    assert path == folder / "ca.pem" and path.read_text().startswith("-----BEGIN CERTIFICATE")
    assert not (folder / certs.LEAF_CERT).exists()


# ---------------------------------------------------------------- where, and for which names


def test_data_folder_follows_the_platform_convention(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(certs.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert certs.data_dir() == tmp_path / "xdg" / "staticsrv"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/ignored")
    assert certs.data_dir() == tmp_path / ".local" / "share" / "staticsrv"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert certs.data_dir() == tmp_path / "Library" / "Application Support" / "staticsrv"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert certs.data_dir() == tmp_path / "Local" / "staticsrv"


def test_environment_variable_overrides_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(certs.ENV_DATA_DIR, str(tmp_path / "elsewhere"))
    assert certs.data_dir() == tmp_path / "elsewhere"


def test_loopback_binds_name_loopback_only() -> None:
    assert lan.leaf_names("127.0.0.1") == NAMES
    assert lan.leaf_names("localhost") == NAMES
    assert lan.leaf_names("::1") == NAMES


def test_a_specific_address_or_name_is_added() -> None:
    assert lan.leaf_names("192.168.1.20") == [*NAMES, "192.168.1.20"]
    assert lan.leaf_names("Dev.Example") == [*NAMES, "dev.example"]
    assert lan.leaf_names("2001:DB8::0:1") == [*NAMES, "2001:db8::1"]


def test_wildcard_binds_add_every_lan_address(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = replace(monkeypatch, lan, "lan_addresses", lambda host: ["192.168.1.20", "10.0.0.5"])
    assert lan.leaf_names("0.0.0.0") == [*NAMES, "192.168.1.20", "10.0.0.5"]
    assert asked == [("0.0.0.0",)]


def test_the_banner_and_the_certificate_name_the_same_lan_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One source (lan.lan_addresses): every LAN URL the banner prints is in the leaf."""
    asked = replace(monkeypatch, lan, "lan_addresses", lambda host: ["192.168.1.20", "10.0.0.5"])
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        port = sock.getsockname()[1]
        local, urls = banner.urls(sock, "/", "https")
    assert local == f"https://127.0.0.1:{port}/"
    assert urls == [f"https://192.168.1.20:{port}/", f"https://10.0.0.5:{port}/"]
    names = lan.leaf_names("0.0.0.0")
    assert all(url.split("//")[1].rsplit(":", 1)[0] in names for url in urls)
    assert len(asked) == 2  # the banner and the certificate both asked the one source


def test_lan_addresses_leave_out_loopback_and_link_local() -> None:
    for addr in lan.lan_addresses("::"):
        ip = ipaddress.ip_address(addr)
        assert not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)
    assert all(":" not in a for a in lan.lan_addresses("0.0.0.0"))


# ---------------------------------------------------------------- without the extra


def test_https_without_cryptography_names_the_extra(
    folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from staticsrv.config import from_options

    asked = replace(monkeypatch, certs, "has_cryptography", lambda: False)
    with pytest.raises(ValueError, match=r"--https needs .*pip install 'staticsrv\[tls\]'"):
        from_options(tmp_path, https=True)
    assert asked, "from_options did not ask certs.has_cryptography"
    with pytest.raises(ValueError, match=r"--print-ca needs .*staticsrv\[tls\]"):
        certs.ensure_ca()


def test_a_reusable_leaf_needs_no_cryptography(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs.ensure(NAMES)
    asked = replace(monkeypatch, certs, "has_cryptography", lambda: False)
    assert not certs.ensure(NAMES).new_leaf
    assert certs.ensure_ca() == folder / "ca.pem"
    with pytest.raises(ValueError, match="needs the cryptography package"):
        certs.ensure([*NAMES, "10.1.2.3"])  # a new name needs a new leaf
    assert asked, "ensure did not ask certs.has_cryptography"


def test_allowed_hosts_are_named_after_the_bound_ones() -> None:
    allowed = frozenset({"mybox.local", ".example.com"})
    assert lan.leaf_names("127.0.0.1", allowed) == [
        *NAMES,
        "example.com",
        "*.example.com",
        "mybox.local",
    ]
    assert lan.leaf_names("192.168.1.20", {"mybox.local", "192.168.1.20"}) == [
        *NAMES,
        "192.168.1.20",
        "mybox.local",
    ]
