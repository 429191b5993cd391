"""Text that is not valid UTF-8 in traffic never stops an output from being written."""

from __future__ import annotations

import json
from pathlib import Path

from . import capgen
from .conftest import run_cli


def _capture(tmp_path: Path) -> Path:
    """Two flows: a JSON body whose key is invalid UTF-8 (and one that is a lone
    surrogate escape), each holding an IMEI; then an ordinary request."""
    body = (
        b'{"\xff\xfeimei": "' + capgen.imei(1).encode() + b'", '
        b'"k\\ud800": {"imei": "' + capgen.imei(2).encode() + b'"}}'
    )
    request = (
        b"POST /up HTTP/1.1\r\nHost: t1.example\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    frames = capgen.Frames()
    capgen.http_flow(frames, 1, request)
    capgen.http_flow(frames, 3)
    path = tmp_path / "odd.pcap"
    path.write_bytes(capgen.pcap(frames)[0])
    return path


def test_jsonl_and_the_corpus_store_take_paths_of_invalid_utf8_keys(tmp_path: Path) -> None:
    capture = _capture(tmp_path)
    out = tmp_path / "f.jsonl"
    done = run_cli("analyze", capture, "--format", "jsonl", "--out", out, "--quiet", "--reveal")
    assert done.returncode == 0, done.stderr
    found = {json.loads(line)["value"]: json.loads(line)["where"] for line in out.open()}
    assert found == {
        capgen.imei(1): 'body>json:$["\\udcff\\udcfeimei"]',
        capgen.imei(2): 'body>json:$["k\\ud800"].imei',
        capgen.imei(3): "query:imei",
    }
    store = tmp_path / "store"
    done = run_cli("corpus", capture, "--out", store, "-j", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = run_cli("query", store, "SELECT count(*) AS n FROM findings", "--format", "json")
    assert json.loads(rows.stdout.splitlines()[0]) == {"n": 3}
