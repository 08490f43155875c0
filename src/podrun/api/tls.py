"""The API server's TLS material and bearer token, made once and kept in a directory.

kubectl sends a bearer token only over TLS (client-go drops credentials for `http://` servers), so `podrun
serve` listens with HTTPS: a private CA (EC P-256) signs a server certificate whose SANs are what clients dial
(127.0.0.1, ::1, localhost and this host's name; Go ignores the common name) and what pods dial (the
`kubernetes` Service's names and address). Clients trust the CA through the kubeconfig's
`certificate-authority-data`. Files are reused on later starts; the server certificate is
made again when it nears its end or lacks a wanted name, signed by the same CA so kubeconfigs stay valid.
Private keys and the token are readable by their owner only. `podrun serve` runs `ensure_credentials` in a child
process (`python -m podrun.api.tls DIRECTORY [HOSTNAME...]`, see `podrun.api.tls_files`).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import socket
import ssl
import sys
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from podrun.api.tls_files import CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY, TOKEN, Credentials, server_context

__all__ = [
    "CA_CERT", "CA_KEY", "SERVER_CERT", "SERVER_KEY", "TOKEN",
    "Credentials", "ensure_credentials", "server_ssl_context",
]  # fmt: skip

CA_VALIDITY = datetime.timedelta(days=10 * 365)
SERVER_VALIDITY = datetime.timedelta(days=2 * 365)
# A server certificate this close to its end is replaced at the next start.
RENEW_BEFORE = datetime.timedelta(days=30)
# Pods dial the `kubernetes` Service by its names and its address (the first of kind's Service range).
_IN_CLUSTER_DNS = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
_IN_CLUSTER_IPS = ("10.96.0.1",)
_DEFAULT_IPS = ("127.0.0.1", "::1", *_IN_CLUSTER_IPS)
_DEFAULT_DNS = ("localhost", *_IN_CLUSTER_DNS)


def ensure_credentials(directory: Path, *, hostnames: Iterable[str] = ()) -> Credentials:
    """Create whatever is missing in `directory` (CA, server certificate, token) and return the credentials.

    `hostnames` are extra DNS names or IP addresses for the server certificate, besides 127.0.0.1, ::1,
    localhost, this host's name and the `kubernetes` Service's names and address (10.96.0.1).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = directory / CA_CERT, directory / CA_KEY
    if not (ca_cert_path.exists() and ca_key_path.exists()):
        new_key = ec.generate_private_key(ec.SECP256R1())
        _write(ca_key_path, _key_pem(new_key), 0o600)
        _write(ca_cert_path, _make_ca(new_key).public_bytes(serialization.Encoding.PEM), 0o644)
        # A new CA invalidates the old server certificate.
        (directory / SERVER_CERT).unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_path} is not an EC private key")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    names = _names(hostnames)
    server_cert_path, server_key_path = directory / SERVER_CERT, directory / SERVER_KEY
    if not _server_cert_usable(server_cert_path, server_key_path, names):
        server_key = ec.generate_private_key(ec.SECP256R1())
        _write(server_key_path, _key_pem(server_key), 0o600)
        certificate = _make_server_cert(server_key, loaded, ca_cert, names)
        _write(server_cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    token_path = directory / TOKEN
    if not token_path.exists() or not token_path.read_text().strip():
        _write(token_path, secrets.token_urlsafe(32).encode() + b"\n", 0o600)
    return Credentials(ca_cert_path, server_cert_path, server_key_path, token_path.read_text().strip())


def server_ssl_context(directory: Path) -> ssl.SSLContext:
    """A server-side TLS context with the directory's certificate (made first when missing)."""
    return server_context(ensure_credentials(directory))


def _names(extra: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(IP addresses, DNS names) the server certificate must carry."""
    ips, dns = set(_DEFAULT_IPS), set(_DEFAULT_DNS)
    for name in (socket.gethostname().lower(), *extra):
        if not name:
            continue
        try:
            ips.add(str(ipaddress.ip_address(name)))
        except ValueError:
            dns.add(name)
    return frozenset(ips), frozenset(dns)


def _server_cert_usable(cert_path: Path, key_path: Path, names: tuple[frozenset[str], frozenset[str]]) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    dns = set(san.get_values_for_type(x509.DNSName))
    fresh = certificate.not_valid_after_utc - _now() > RENEW_BEFORE
    return fresh and names[0] <= ips and names[1] <= dns


def _make_ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "podrun-ca")])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_server_cert(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: tuple[frozenset[str], frozenset[str]],
) -> x509.Certificate:
    ips, dns = names
    alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in sorted(dns)]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted(ips)]
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "podrun-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically, with the mode set before any byte lands (no window where a key is world-readable)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def main(argv: list[str]) -> int:
    """`python -m podrun.api.tls DIRECTORY [HOSTNAME...]`: `ensure_credentials` for `podrun serve`."""
    if not argv:
        print("usage: python -m podrun.api.tls DIRECTORY [HOSTNAME...]", file=sys.stderr)
        return 2
    try:
        ensure_credentials(Path(argv[0]), hostnames=argv[1:])
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
