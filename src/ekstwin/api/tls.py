"""TLS material and the kubeconfig for ``ekstwin serve``, so kubectl and client libraries connect normally.

A throwaway CA signs one server certificate for the loopback names (and the bind address). We issue
through a CA rather than trust a lone self-signed leaf because strict verifiers (OpenSSL's X509_STRICT,
which newer Pythons enable) reject a leaf used as its own trust anchor; kubectl's Go verifier accepts
both. The kubeconfig carries the CA as ``certificate-authority-data`` and a random bearer token.

Validity starts at a ``now`` the caller passes in: this package never reads the wall clock itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
CONTEXT = "ekstwin"
VALID_DAYS = 365
CLOCK_SKEW = dt.timedelta(minutes=5)
"""Backdate ``notBefore`` a little so a client whose clock is slightly behind still accepts the cert."""


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """PEM bytes: the CA clients trust, and the certificate and key the server presents."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def new_token() -> str:
    """A bearer token for the kubeconfig's user (256 random bits, hex)."""
    return secrets.token_hex(32)


def generate(now: dt.datetime, hosts: Iterable[str] = DEFAULT_HOSTS, *, days: int = VALID_DAYS) -> ServerTLS:
    """A fresh CA and a server certificate for ``hosts`` (IP addresses or DNS names), valid from ``now``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ekstwin CA")])
    ca = (_base(ca_name, ca_name, ca_key.public_key(), now, days)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(cert_sign=True), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = list(dict.fromkeys([*DEFAULT_HOSTS, *hosts]))  # ordered, no duplicates
    cert = (_base(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ekstwin")]), ca_name, key.public_key(),
                  now, days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return ServerTLS(ca.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.PEM),
                     key_pem)


def _base(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime,
          days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                         crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def write_server_files(tls: ServerTLS, directory: Path) -> tuple[Path, Path]:
    """Write the server's certificate and key (key readable by the owner only); returns their paths."""
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(tls.cert_pem)
    _write_private(key_path, tls.key_pem)
    return cert_path, key_path


def kubeconfig(server: str, token: str, ca_pem: bytes | None = None) -> dict[str, Any]:
    """A one-context kubeconfig (context, cluster and user all named ``ekstwin``) for ``server``."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": cluster}],
            "users": [{"name": CONTEXT, "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
            "current-context": CONTEXT}


def server_url(host: str, port: int, *, tls: bool) -> str:
    """The address clients use: a wildcard bind address is reached through loopback."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal in a URL
    return f"{'https' if tls else 'http'}://{host}:{port}"


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Write ``config`` as YAML, readable by the owner only (it holds the bearer token)."""
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
