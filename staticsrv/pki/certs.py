"""The local certificate authority behind ``--https``, and its leaf certificate.

Owns: the user's data folder (``STATICSRV_DATA_DIR``, else the platform's
per-user data folder as platformdirs computes it), the CA's key and
certificate there (made once, reused for years), the leaf certificate for
the names the server is reached by (re-issued when they change or it nears
its end), and the names themselves (loopback plus, when bound beyond
loopback, the LAN addresses the banner prints).  Uses ``cryptography``, the
optional extra ``staticsrv[tls]``.  May not touch: sockets other than the
address probe, HTTP, the system trust store (never changed: the user trusts
the CA by hand, once per device).  The names come from :mod:`staticsrv.pki.lan`.

Errors are ``ValueError`` with the one line the CLI prints.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import ipaddress
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from staticsrv.pki.cafiles import locked, prepare, write

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

ENV_DATA_DIR = "STATICSRV_DATA_DIR"
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
LEAF_CERT = "localhost.pem"  # the leaf, then the CA: the chain the server sends
LEAF_KEY = "localhost-key.pem"
LEAF_META = "localhost.json"  # what the leaf was issued for: reuse is checked without parsing
CA_DAYS = 3650  # as mkcert: a CA trusted by hand on a phone should outlive the project
# Apple platforms refuse TLS server certificates valid for more than 825
# days even from a user-trusted CA, and browsers cap public ones at 398:
# stay under both.
LEAF_DAYS = 397
RENEW_BEFORE_DAYS = 30  # re-issue the leaf this long before it ends
BACKDATE = datetime.timedelta(days=1)  # a phone whose clock lags still accepts it
NEEDS_EXTRA = "--https needs the cryptography package: pip install 'staticsrv[tls]'"


def has_cryptography() -> bool:
    # Found, not imported: a start that reuses its certificates never loads
    # it (about 12 MiB of resident memory and a slower start).
    return importlib.util.find_spec("cryptography") is not None


def data_dir() -> Path:
    """Where the CA lives: $STATICSRV_DATA_DIR, else the per-user data folder."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        # The XDG spec: a relative value is invalid and must be ignored.
        base = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"
    return base / "staticsrv"


# --------------------------------------------------------------------------- files


@dataclass(frozen=True, slots=True)
class Issued:
    """The CA and the leaf certificate ready for a server."""

    ca_path: Path
    fingerprint: str  # SHA-256 of the CA certificate, as browsers show it
    cert_path: Path
    key_path: Path
    names: tuple[str, ...]
    new_ca: bool
    new_leaf: bool


def fingerprint(pem: bytes) -> str:
    import ssl

    der = ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    # P-256: every browser and phone takes it, and handshakes cost a
    # fraction of RSA-2048's.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _owner() -> str:
    import getpass  # only a new CA is named after its owner: not at every start

    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "user"
    return f"{user}@{socket.gethostname()}"


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """ECDSA signs (digitalSignature); a CA also signs certificates and CRLs (RFC 5280 §4.2.1.3)."""
    from cryptography import x509

    flags = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement"), False
    )
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
        **flags,
    )


def _make_ca(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _new_key()
    # The owner in the name: in a phone's list of trusted CAs it says whose
    # machine this is.
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "staticsrv development CA"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"staticsrv {_owner()}"[:64]),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        # RFC 5280 §4.2.1.9: a CA that signs only end-entity certificates.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write(folder / CA_KEY, _key_pem(key), 0o600)
    write(folder / CA_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _san(names: list[str]) -> list[x509.GeneralName]:
    from cryptography import x509

    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def _make_leaf(folder: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
               names: list[str]) -> None:  # fmt: skip
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = _new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "staticsrv development"),
                    x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # Browsers match names only against subjectAltName (RFC 6125 §6.4.4).
        .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    write(folder / LEAF_KEY, _key_pem(key), 0o600)
    # The chain with the CA (RFC 8446 §4.4.2 allows it): a client can then
    # pin the CA, whose key never changes, rather than each re-issued leaf
    # (Chromium's --ignore-certificate-errors-spki-list, for one).
    pem = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(
        serialization.Encoding.PEM
    )
    write(folder / LEAF_CERT, pem, 0o644)
    _write_meta(folder, ca, pem, names)


def _write_meta(folder: Path, ca: x509.Certificate, leaf_pem: bytes, names: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    leaf = x509.load_pem_x509_certificate(leaf_pem)
    meta = {
        "names": names,
        "ca": fingerprint(ca.public_bytes(serialization.Encoding.PEM)),
        "leaf": hashlib.sha256(leaf_pem).hexdigest(),
        "not_after": leaf.not_valid_after_utc.isoformat(),
    }
    write(folder / LEAF_META, json.dumps(meta, indent=1).encode(), 0o644)


def _leaf_ok(folder: Path, ca: x509.Certificate, names: list[str]) -> bool:
    """The leaf exists, comes from this CA, names exactly ``names`` and is not ending soon."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        leaf = x509.load_pem_x509_certificate((folder / LEAF_CERT).read_bytes())
        key = load_pem_private_key((folder / LEAF_KEY).read_bytes(), None)
        leaf.verify_directly_issued_by(ca)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False  # missing, damaged, or another CA's leaf
    if key.public_key() != leaf.public_key():
        return False
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    left = leaf.not_valid_after_utc - _now()
    return have == set(names) and left > datetime.timedelta(days=RENEW_BEFORE_DAYS)


def _load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        key = load_pem_private_key((folder / CA_KEY).read_bytes(), None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"--https: cannot read the CA in {folder}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ValueError(f"--https: the CA key in {folder} does not match {CA_CERT}")
    return cert, key


def ensure_ca() -> Path:
    """The CA's certificate path, making the CA first if there is none."""
    folder = data_dir()
    prepare(folder, (CA_KEY, LEAF_KEY))
    if (folder / CA_CERT).is_file() and (folder / CA_KEY).is_file():
        return folder / CA_CERT
    if not has_cryptography():
        raise ValueError(NEEDS_EXTRA.replace("--https", "--print-ca"))
    with locked(folder):
        if _load_ca(folder) is None:
            _make_ca(folder)
    return folder / CA_CERT


def _reusable(folder: Path, names: list[str]) -> Issued | None:
    """The last leaf, if its record says it fits: stdlib only, no certificate parsing."""
    try:
        meta = json.loads((folder / LEAF_META).read_text("utf-8"))
        ca = fingerprint((folder / CA_CERT).read_bytes())
        leaf = hashlib.sha256((folder / LEAF_CERT).read_bytes()).hexdigest()
        not_after = datetime.datetime.fromisoformat(meta["not_after"])
        ok = (folder / CA_KEY).is_file() and (folder / LEAF_KEY).is_file()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    fits = sorted(meta.get("names", [])) == sorted(names) and (meta.get("ca"), meta.get("leaf"))
    if not ok or fits != (ca, leaf):
        return None
    if not_after - _now() <= datetime.timedelta(days=RENEW_BEFORE_DAYS):
        return None
    return Issued(folder / CA_CERT, ca, folder / LEAF_CERT, folder / LEAF_KEY,
                  tuple(names), new_ca=False, new_leaf=False)  # fmt: skip


def ensure(names: list[str]) -> Issued:
    """The CA (made if missing) and a leaf for exactly ``names`` (re-issued if needed)."""
    folder = data_dir()
    prepare(folder, (CA_KEY, LEAF_KEY))
    reuse = _reusable(folder, names)
    if reuse is not None:
        return reuse
    if not has_cryptography():
        raise ValueError(NEEDS_EXTRA)
    try:
        with locked(folder):
            loaded = _load_ca(folder)
            new_ca = loaded is None
            if loaded is None:
                _make_ca(folder)
                loaded = _load_ca(folder)
                assert loaded is not None
            ca, ca_key = loaded
            new_leaf = not _leaf_ok(folder, ca, names)
            if new_leaf:
                _make_leaf(folder, ca, ca_key, names)
            else:  # a leaf that fits, without its record (made by an older version)
                _write_meta(folder, ca, (folder / LEAF_CERT).read_bytes(), names)
    except OSError as exc:
        raise ValueError(f"--https: cannot write certificates in {folder}: {exc}") from None
    return Issued(
        ca_path=folder / CA_CERT,
        fingerprint=fingerprint((folder / CA_CERT).read_bytes()),
        cert_path=folder / LEAF_CERT,
        key_path=folder / LEAF_KEY,
        names=tuple(names),
        new_ca=new_ca,
        new_leaf=new_leaf,
    )
