"""The API server's CA, server certificate and token: made once, reused, private, and good for a TLS handshake."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import stat
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from podrun.api import tls
from podrun.api.server import run_server
from podrun.api.tls import ensure_credentials, server_ssl_context

IN_CLUSTER_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _san(path: Path) -> tuple[set[str], set[str]]:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}, set(san.get_values_for_type(x509.DNSName))


def test_creates_private_files(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    credentials = ensure_credentials(directory)
    assert _mode(directory) == 0o700
    assert _mode(directory / tls.CA_KEY) == 0o600
    assert _mode(directory / tls.SERVER_KEY) == 0o600
    assert _mode(directory / tls.TOKEN) == 0o600
    assert len(credentials.token) >= 32
    assert credentials.ca_pem().startswith(b"-----BEGIN CERTIFICATE-----")
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [tls.CA_CERT, tls.CA_KEY, tls.SERVER_CERT, tls.SERVER_KEY, tls.TOKEN]
    )


def test_certificates(tmp_path: Path) -> None:
    credentials = ensure_credentials(tmp_path, hostnames=["podrun.example", "192.0.2.7"])
    ca = x509.load_pem_x509_certificate(credentials.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(credentials.server_cert.read_bytes())
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server.verify_directly_issued_by(ca)
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ips, dns = _san(credentials.server_cert)
    assert ips == {"127.0.0.1", "::1", "10.96.0.1", "192.0.2.7"}
    assert dns == {"localhost", socket.gethostname().lower(), "podrun.example", *IN_CLUSTER_NAMES}
    assert ipaddress.ip_address("::1")


def test_the_certificate_names_the_kubernetes_service_as_pods_dial_it(tmp_path: Path) -> None:
    ips, dns = _san(ensure_credentials(tmp_path).server_cert)
    assert "10.96.0.1" in ips
    assert set(IN_CLUSTER_NAMES) <= dns


def test_a_certificate_without_the_in_cluster_names_is_reissued(tmp_path: Path) -> None:
    ensure_credentials(tmp_path)
    ca_key = tmp_path / tls.CA_KEY
    ca = x509.load_pem_x509_certificate((tmp_path / tls.CA_CERT).read_bytes())
    loaded = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    server_key = ec.generate_private_key(ec.SECP256R1())
    old = tls._make_server_cert(server_key, loaded, ca, (frozenset({"127.0.0.1"}), frozenset({"localhost"})))
    (tmp_path / tls.SERVER_CERT).write_bytes(old.public_bytes(serialization.Encoding.PEM))
    ips, dns = _san(ensure_credentials(tmp_path).server_cert)
    assert "10.96.0.1" in ips and "kubernetes.default.svc" in dns


def test_reused_on_later_calls(tmp_path: Path) -> None:
    first = ensure_credentials(tmp_path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = ensure_credentials(tmp_path)
    assert second == first
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


def test_new_name_makes_a_new_server_certificate_from_the_same_ca(tmp_path: Path) -> None:
    ensure_credentials(tmp_path)
    ca, server, token = (tmp_path / name for name in (tls.CA_CERT, tls.SERVER_CERT, tls.TOKEN))
    before = (ca.read_bytes(), server.read_bytes(), token.read_bytes())
    ensure_credentials(tmp_path, hostnames=["other.example"])
    assert ca.read_bytes() == before[0] and token.read_bytes() == before[2]
    assert server.read_bytes() != before[1]
    assert "other.example" in _san(server)[1]


def test_expiring_server_certificate_is_renewed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "SERVER_VALIDITY", datetime.timedelta(days=10))
    ensure_credentials(tmp_path)
    expiring = (tmp_path / tls.SERVER_CERT).read_bytes()
    monkeypatch.setattr(tls, "SERVER_VALIDITY", datetime.timedelta(days=365))
    ensure_credentials(tmp_path)
    assert (tmp_path / tls.SERVER_CERT).read_bytes() != expiring


def test_lost_ca_key_makes_a_new_ca(tmp_path: Path) -> None:
    ensure_credentials(tmp_path)
    old_ca = (tmp_path / tls.CA_CERT).read_bytes()
    (tmp_path / tls.CA_KEY).unlink()
    credentials = ensure_credentials(tmp_path)
    assert credentials.ca_pem() != old_ca
    server = x509.load_pem_x509_certificate(credentials.server_cert.read_bytes())
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(credentials.ca_pem()))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_tls_handshake_verifies_against_the_ca(tmp_path: Path, host: str) -> None:
    credentials = ensure_credentials(tmp_path)
    app = web.Application()

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/", hello)
    runner = await run_server(app, "127.0.0.1", 0, server_ssl_context(tmp_path))
    try:
        port = runner.addresses[0][1]
        client_context = ssl.create_default_context(cafile=str(credentials.ca_cert))
        async with aiohttp.ClientSession() as session, session.get(f"https://{host}:{port}/", ssl=client_context) as r:
            assert await r.text() == "hello"
    finally:
        await runner.cleanup()
