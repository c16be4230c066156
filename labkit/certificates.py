"""Certificates for the TLS tests: a CA and a server certificate it signs, as PEM files,
made with `cryptography` (what the pki role's community.crypto modules use on the hosts)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LIFETIME = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate file, and what it needs to sign."""

    certificate_file: Path
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ServerFiles:
    certificate_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def authority(folder: Path, common_name: str) -> Authority:
    """A self-signed CA whose certificate is written to `folder`/<name>.crt."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{common_name.replace(' ', '-')}.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Authority(path, certificate, key)


def pki_ca_folder(folder: Path, common_name: str) -> Path:
    """Another CA in the pki role's layout (`folder`/ca.crt and ca.key), under `common_name`:
    with the name of the CA in place, only its key tells them apart."""
    ca = authority(folder, common_name)
    (folder / "ca.crt").write_bytes(ca.certificate_file.read_bytes())
    _write_key(ca.key, folder / "ca.key")
    return folder


def load(certificate_file: Path, key_file: Path) -> Authority:
    """A CA from its PEM files (the lab's, which the pki role created)."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{key_file}: not an EC key")
    certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    return Authority(certificate_file, certificate, key)


def server(
    ca: Authority,
    folder: Path,
    name: str = "redis",
    addresses: tuple[str, ...] = (),
    lifetime: datetime.timedelta = LIFETIME,
) -> ServerFiles:
    """A certificate for 127.0.0.1, localhost and `addresses` signed by `ca`, valid for
    `lifetime`, and its key, in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", *addresses)),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(names, critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    files = ServerFiles(folder / f"{name}.crt", folder / f"{name}.key")
    files.certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(key, files.key_file)
    return files


def served(address: str, port: int, ca_file: Path) -> x509.Certificate:
    """The certificate a TLS service presents to a new connection, verified against
    `ca_file` (its name checked against `address`)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=address) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError(f"{address}:{port} presented no certificate")
    return x509.load_der_x509_certificate(der)
