"""Bad certificate files on the command line: one line, prefixed, naming the real reason."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.process import run_fail

pytest.importorskip("cryptography")


def _rsa_cert_and_ec_key(folder: Path) -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(rsa_key, hashes.SHA256())
    )
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = serialization.PrivateFormat.PKCS8
    files = {
        "cert": folder / "cert.pem",
        "ec_key": folder / "ec-key.pem",
        "locked": folder / "locked-key.pem",
        "pw": folder / "password.txt",
    }
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["ec_key"].write_bytes(
        ec_key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
    )
    locked = serialization.BestAvailableEncryption(b"right")
    files["locked"].write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, pkcs8, locked))
    files["pw"].write_text("wrong\n")
    return files


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "pem"
    folder.mkdir()
    (tmp_path / "site").mkdir()
    return _rsa_cert_and_ec_key(folder)


def one_line(tmp_path: Path, *args: str) -> str:
    done = run_fail(str(tmp_path / "site"), "--port", "0", *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("staticsrv: error: ")
    return lines[0].removeprefix("staticsrv: error: ")


def test_an_rsa_certificate_with_an_ec_key_says_the_key_does_not_match(
    tmp_path: Path, pem: dict[str, Path]
) -> None:
    got = one_line(tmp_path, "--tls-cert", str(pem["cert"]), "--tls-key", str(pem["ec_key"]))
    assert (
        got
        == f"--tls-key: the key in {pem['ec_key']} does not match the certificate in {pem['cert']}"
    )


def test_a_certificate_without_any_key_says_the_key_is_missing(
    tmp_path: Path, pem: dict[str, Path]
) -> None:
    got = one_line(tmp_path, "--tls-cert", str(pem["cert"]))
    assert got == (
        f"--tls-cert: the private key is missing: {pem['cert']} holds none; give --tls-key FILE"
    )


def test_a_wrong_password_is_reported_against_the_password_file(
    tmp_path: Path, pem: dict[str, Path]
) -> None:
    got = one_line(
        tmp_path,
        "--tls-cert",
        str(pem["cert"]),
        "--tls-key",
        str(pem["locked"]),
        "--tls-key-password-file",
        str(pem["pw"]),
    )
    assert got == f"--tls-key-password-file: {pem['pw']}: wrong password for {pem['locked']}"


def test_a_key_file_given_as_the_certificate_says_it_holds_no_certificate(
    tmp_path: Path, pem: dict[str, Path]
) -> None:
    got = one_line(tmp_path, "--tls-cert", str(pem["ec_key"]))
    assert got == f"--tls-cert: {pem['ec_key']} holds no PEM certificate"
