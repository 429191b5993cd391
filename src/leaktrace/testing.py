"""Builders of pipeline records for tests: of this project, and of harnesses that use it.

Records are frozen dataclasses with many fields; building them by hand in
every test hides what a test is about behind the fields it does not care about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from leaktrace.flowid import community_id
from leaktrace.types import Finding, FlowKey, HttpRequest, Message, MessageKind, Transport

DEVICE_ADDR = "192.168.1.5"
SERVER_ADDR = "203.0.113.7"


def flow_key(resp_p: int = 80, proto: int = 6, orig_p: int = 40000) -> FlowKey:
    return FlowKey(DEVICE_ADDR, orig_p, SERVER_ADDR, resp_p, proto)


def http_message(
    host: str,
    target: str = "/",
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
    *,
    method: str = "POST",
    transport: Transport = "http",
    ts: float = 100.0,
    flow: FlowKey | None = None,
) -> Message:
    """An HTTP request as a source would hand it to the pipeline, Host header first."""
    key = flow or flow_key(443 if transport == "https" else 80)
    request = HttpRequest(method, target, "HTTP/1.1", (("Host", host), *headers), body)
    return Message(
        ts=ts,
        flow=key,
        community_id=community_id(key.orig_h, key.orig_p, key.resp_h, key.resp_p, key.proto),
        transport=transport,
        kind=MessageKind.HTTP,
        host=host,
        host_basis="header",
        origin="test",
        http=request,
    )


_FINDING = Finding(
    ts=100.0,
    flow="1:wCb3OG7yAFWelaUydu0D+125CLM=",
    src=f"{DEVICE_ADDR}:40000",
    dst=f"{SERVER_ADDR}:80",
    host="ulogs.umeng.com",
    transport="http",
    party="third",
    sdk="umeng",
    type="imei",
    method="pattern",
    confidence=0.95,
    where="query:imei",
    form="plain",
    value="86**********190",
    origin="test",
    trans_depth=1,
    evidence=("luhn_ok", "key:imei"),
)


def finding(**changes: Any) -> Finding:
    """An IMEI sent to Umeng over plain HTTP, with any field changed."""
    return replace(_FINDING, **changes)


def self_signed_cert(
    folder: Path, names: Sequence[str], stem: str = "upstream"
) -> tuple[Path, Path]:
    """A certificate (also usable as its own CA) and key for ``names``, for a test
    server on loopback that a client or the proxy is told to trust; valid for a day."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
