"""NSS key log files: the secrets a client logged for each TLS connection.

The format (written by SSLKEYLOGFILE in browsers, curl, Python and OpenSSL,
by Frida scripts and by mitmproxy) is one ``LABEL <client_random hex>
<secret hex>`` per line; ``#`` starts a comment. Connections are found by
their ClientHello random, which the capture shows in the clear. The same
text can arrive as a file or inside a pcapng Decryption Secrets Block, so
parsing works on bytes and lines that cannot be read become diagnostics
rather than errors: one bad line must not lose the keys of every other
connection.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from leaktrace.types import Diagnostic

# Labels whose secrets decrypt traffic; other well-formed labels are kept but unused.
CLIENT_RANDOM: Final = "CLIENT_RANDOM"  # TLS 1.2 and below: the 48-byte master secret
CLIENT_HANDSHAKE: Final = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
SERVER_HANDSHAKE: Final = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
CLIENT_TRAFFIC_0: Final = "CLIENT_TRAFFIC_SECRET_0"
SERVER_TRAFFIC_0: Final = "SERVER_TRAFFIC_SECRET_0"
CLIENT_EARLY: Final = "CLIENT_EARLY_TRAFFIC_SECRET"

KNOWN_LABELS: Final = frozenset(
    {
        CLIENT_RANDOM,
        CLIENT_HANDSHAKE,
        SERVER_HANDSHAKE,
        CLIENT_TRAFFIC_0,
        SERVER_TRAFFIC_0,
        CLIENT_EARLY,
        "EXPORTER_SECRET",
        "EARLY_EXPORTER_SECRET",
        "EARLY_EXPORTER_MASTER_SECRET",
        "RSA",  # encrypted pre-master prefix: not used (needs the server's key exchange)
    }
)

PCAPNG_SECRETS_TLS: Final = 0x544C534B  # Decryption Secrets Block type "TLSK"
MAX_KEYLOG_BYTES: Final = 64 << 20
MAX_ENTRIES: Final = 1_000_000
_LINE: Final = re.compile(rb"([A-Z0-9_]{1,64}) +([0-9A-Fa-f]{2,256}) +([0-9A-Fa-f]{2,256})\s*")


class KeyLog:
    """Secrets by client random, then by label.

    Later lines for the same random and label replace earlier ones, as a
    reconnecting client may log again.
    """

    def __init__(self) -> None:
        self._secrets: dict[bytes, dict[str, bytes]] = {}
        self.entries = 0
        self.diagnostics: list[Diagnostic] = []

    def __len__(self) -> int:
        return len(self._secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def add(self, label: str, client_random: bytes, secret: bytes) -> None:
        if self.entries >= MAX_ENTRIES:
            if self.entries == MAX_ENTRIES:
                self._diag("keylog_limit", f"over {MAX_ENTRIES} entries; the rest are ignored")
                self.entries += 1
            return
        self.entries += 1
        self._secrets.setdefault(client_random, {})[label] = secret

    def get(self, client_random: bytes, label: str) -> bytes | None:
        entry = self._secrets.get(client_random)
        return entry.get(label) if entry is not None else None

    def labels(self, client_random: bytes) -> frozenset[str]:
        return frozenset(self._secrets.get(client_random, ()))

    def to_text(self) -> str:
        """The secrets back in key log format (for tools that read a key log file)."""
        lines = [
            f"{label} {client_random.hex()} {secret.hex()}\n"
            for client_random, entry in self._secrets.items()
            for label, secret in entry.items()
        ]
        return "".join(lines)

    def add_text(self, text: bytes, source: str = "keylog") -> int:
        """Read key log lines; returns how many were taken. Bad lines are counted, not raised."""
        taken = bad = 0
        first_bad: int | None = None
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(b"#"):
                continue
            match = _LINE.fullmatch(stripped)
            if match is None:
                bad += 1
                first_bad = first_bad or number
                continue
            label = match.group(1).decode("ascii")
            random_hex, secret_hex = match.group(2), match.group(3)
            if label not in KNOWN_LABELS or len(random_hex) % 2 or len(secret_hex) % 2:
                bad += 1
                first_bad = first_bad or number
                continue
            if label == "RSA":
                continue
            client_random = bytes.fromhex(random_hex.decode("ascii"))
            if len(client_random) != 32:
                bad += 1
                first_bad = first_bad or number
                continue
            self.add(label, client_random, bytes.fromhex(secret_hex.decode("ascii")))
            taken += 1
        if bad:
            self._diag(
                "keylog_bad_line", f"{source}: {bad} unreadable lines (first: line {first_bad})"
            )
        return taken

    def add_secrets_block(self, secrets_type: int, data: bytes) -> int:
        """A pcapng Decryption Secrets Block; only the TLS key log type is read."""
        if secrets_type != PCAPNG_SECRETS_TLS:
            self._diag("keylog_unsupported", f"decryption secrets type 0x{secrets_type:08x}")
            return 0
        return self.add_text(data, "pcapng decryption secrets")

    def _diag(self, name: str, detail: str) -> None:
        self.diagnostics.append(Diagnostic(name=name, detail=detail))


class KeyLogError(Exception):
    """The key log file cannot be read at all (missing, a directory, too large)."""


def load_keylog(paths: Iterable[str | os.PathLike[str]]) -> KeyLog:
    """Read one or more key log files into one ``KeyLog``; raises ``KeyLogError``."""
    keylog = KeyLog()
    for path in paths:
        file = Path(path)
        try:
            size = file.stat().st_size
            if size > MAX_KEYLOG_BYTES:
                raise KeyLogError(f"{file}: {size} bytes is over the {MAX_KEYLOG_BYTES} cap")
            data = file.read_bytes()
        except OSError as exc:
            raise KeyLogError(f"{file}: {exc.strerror or exc}") from exc
        keylog.add_text(data, file.name)
    return keylog
