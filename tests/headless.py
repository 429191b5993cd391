"""Headless Chromium for the tests that need a real browser (Debian's ``chromium``)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_S = 60

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian chromium is not installed (make tools, or scripts/install-tools.sh)",
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run it once with a fresh profile under ``profile``, quiet about its own services."""
    assert CHROMIUM is not None
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile / 'profile'}",
        *args,
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=True, cwd=profile
    )


def spki_pin(cert: Path) -> str:
    """The base64 SHA-256 of a certificate's public key, as Chromium's
    ``--ignore-certificate-errors-spki-list`` takes it: pinning a test CA's key
    makes Chromium trust what it signs without touching any trust store."""
    public = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()
