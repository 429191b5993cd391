from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.tls.keylog import PCAPNG_SECRETS_TLS, KeyLog, KeyLogError, load_keylog

RANDOM = "a1" * 32


def test_lines_by_random_and_label() -> None:
    log = KeyLog()
    text = (
        "# comment\n\n"
        f"CLIENT_RANDOM {RANDOM} {'bb' * 48}\n"
        f"CLIENT_TRAFFIC_SECRET_0 {RANDOM.upper()} {'cc' * 32}\r\n"
    )
    assert log.add_text(text.encode()) == 2
    cr = bytes.fromhex(RANDOM)
    assert log.get(cr, "CLIENT_RANDOM") == b"\xbb" * 48
    assert log.get(cr, "CLIENT_TRAFFIC_SECRET_0") == b"\xcc" * 32
    assert log.labels(cr) == {"CLIENT_RANDOM", "CLIENT_TRAFFIC_SECRET_0"}
    assert log.get(bytes(32), "CLIENT_RANDOM") is None
    assert not log.diagnostics


def test_bad_lines_are_counted_and_good_ones_kept() -> None:
    log = KeyLog()
    text = f"garbage\nCLIENT_RANDOM {RANDOM[:-2]} {'bb' * 48}\nCLIENT_RANDOM {RANDOM} {'bb' * 48}\n"
    assert log.add_text(text.encode(), "k.txt") == 1
    assert [(d.name, d.detail) for d in log.diagnostics] == [
        ("keylog_bad_line", "k.txt: 2 unreadable lines (first: line 1)")
    ]


def test_round_trip_through_text() -> None:
    log = KeyLog()
    log.add("SERVER_TRAFFIC_SECRET_0", bytes(range(32)), b"\x05" * 48)
    again = KeyLog()
    again.add_text(log.to_text().encode())
    assert again.get(bytes(range(32)), "SERVER_TRAFFIC_SECRET_0") == b"\x05" * 48


def test_secrets_block_of_another_kind_is_reported() -> None:
    log = KeyLog()
    assert log.add_secrets_block(0x57474B4C, b"wireguard") == 0  # WireGuard key log
    assert log.diagnostics[0].name == "keylog_unsupported"
    assert log.add_secrets_block(PCAPNG_SECRETS_TLS, f"CLIENT_RANDOM {RANDOM} {'bb' * 48}".encode())


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyLogError, match=r"missing\.keys"):
        load_keylog([tmp_path / "missing.keys"])
    good = tmp_path / "a.keys"
    good.write_text(f"CLIENT_RANDOM {RANDOM} {'bb' * 48}\n")
    assert len(load_keylog([good])) == 1


@given(st.binary(max_size=500))
def test_any_bytes_never_raise(data: bytes) -> None:
    KeyLog().add_text(data)
