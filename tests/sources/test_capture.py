"""CaptureSource: the shortcuts for download and foreign frames change nothing but speed.

Three ways through every committed capture give the same items, coverage and
frame count: the native record walk (``skim.NATIVE``), the Python shortcut for
download segments (``_response_segment``), and the full decode of every frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capbuild import ether, tcp4, udp4, write_pcap

import leaktrace.sources.capture as capture
from leaktrace.sources import skim
from leaktrace.sources.capture import CaptureSource
from leaktrace.sources.packets import Packet
from leaktrace.types import Message

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = sorted(
    [ROOT / "captures" / "demo.pcap", *(ROOT / "tests" / "data").glob("*.pcap*")],
    key=lambda p: p.name,
)
NATIVE = pytest.mark.skipif(skim.NATIVE is None, reason="built without the C module")


def _run(path: Path, partition: tuple[int, int] | None = None) -> tuple[object, ...]:
    source = CaptureSource(path, partition=partition)
    items = list(source)
    return items, source.coverage, source.frames


class CountingWalk:
    """The native module, counting the frames it takes."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.taken = 0

    def pcap(self, *args: object) -> tuple[int, int, int, int, int]:
        result: tuple[int, int, int, int, int] = self.real.pcap(*args)  # type: ignore[attr-defined]
        self.taken += result[1] - args[2]  # type: ignore[operator]
        return result

    def pcapng(self, *args: object) -> tuple[int, int, float, int, int]:
        result: tuple[int, int, float, int, int] = self.real.pcapng(*args)  # type: ignore[attr-defined]
        self.taken += result[1] - args[2]  # type: ignore[operator]
        return result


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_download_shortcut_gives_the_same_messages(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skim, "NATIVE", None)
    taken: list[int] = []
    real = capture._response_segment

    def counting(*args: object) -> object:
        result = real(*args)  # type: ignore[arg-type]
        if result is not None:
            taken.append(1)
        return result

    monkeypatch.setattr(capture, "_response_segment", counting)
    fast = _run(path)
    monkeypatch.setattr(capture, "_response_segment", lambda *args: None)
    slow = _run(path)
    assert fast == slow
    if path.name == "demo.pcap":
        assert taken, "the demo capture has server-to-client segments to take the shortcut"


@NATIVE
@pytest.mark.parametrize("partition", [None, (0, 2), (1, 2)], ids=["whole", "0of2", "1of2"])
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_native_skim_gives_the_same_messages(
    path: Path, partition: tuple[int, int] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    walk = CountingWalk(skim.NATIVE)
    monkeypatch.setattr(skim, "NATIVE", walk)
    native = _run(path, partition)
    monkeypatch.setattr(skim, "NATIVE", None)
    python = _run(path, partition)
    assert native == python
    if path.name in ("demo.pcap", "multi_if.pcapng"):
        assert walk.taken > 0, "this capture has frames for the native walk to take"


@NATIVE
@pytest.mark.parametrize("partition", [(0, 2), (1, 2)])
def test_frames_the_native_walk_judged_are_not_judged_again(
    partition: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a partitioned read the walk says whether the frame it stopped at is this
    worker's; only frames it could not judge (not plain IPv4 TCP/UDP, or cut off by
    a buffer end or a progress report) take the Python check. The demo capture's
    frames are all plain IPv4."""
    judged: list[int] = []
    real = capture._Owners.of_frame

    def counting(self: capture._Owners, linktype: int, data: bytes | memoryview) -> str:
        judged.append(1)
        return real(self, linktype, data)

    monkeypatch.setattr(capture._Owners, "of_frame", counting)
    messages = [m for m in CaptureSource(ROOT / "captures" / "demo.pcap", partition=partition)]
    assert messages
    assert judged == []


def test_flows_that_never_carried_data_count_as_flows_and_nothing_else(tmp_path: Path) -> None:
    """SYNs never answered and a refused connection close without a session being
    made for them; coverage counts them as flows, neither decoded nor opaque, in a
    whole read and over the partitions of a split one."""
    request = b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
    server = {"src": "93.184.216.34", "dst": "10.0.0.2", "sport": 80}
    frames = [ether(tcp4(sport=41000 + i, flags="S", seq=7)) for i in range(5)]
    frames += [
        ether(tcp4(sport=42000, flags="S", seq=9)),
        ether(tcp4(**server, dport=42000, flags="RA")),
        ether(tcp4(sport=43000, flags="S", seq=99)),
        ether(tcp4(**server, dport=43000, flags="SA", ack=100)),
        ether(tcp4(sport=43000, flags="PA", seq=100, ack=1, payload=request)),
    ]
    path = tmp_path / "refused.pcap"
    write_pcap(path, [(1_700_000_000 + i, 0, f) for i, f in enumerate(frames)])
    whole = CaptureSource(path)
    messages = [m for m in whole if isinstance(m, Message)]
    assert len(messages) == 1
    cov = whole.coverage
    assert (cov.flows, cov.flows_decoded, cov.flows_opaque, cov.bytes_outbound) == (
        7,
        1,
        0,
        len(request),
    )
    parts = [CaptureSource(path, partition=(i, 2)) for i in range(2)]
    for part in parts:
        list(part)
    assert sum(p.coverage.flows for p in parts) == 7
    assert sum(p.coverage.flows_decoded for p in parts) == 1


def test_another_workers_lookups_teach_their_names_without_entering_the_flow_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker learns every answer's names (they may name its flows), but only its
    own lookups' datagrams reach its flow table; a lookup between two server ports,
    whose client only the table can tell, still goes through it everywhere."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR

    frames = []
    lookups = [(f"10.0.0.{2 + i % 3}", 30000 + i, f"n{i}.example.net") for i in range(40)]
    lookups.append(("10.0.0.9", 123, "server.example.net"))  # both ports below 1024
    for i, (client, port, name) in enumerate(lookups):
        query = bytes(DNS(id=i, qd=DNSQR(qname=name)))
        answer = bytes(
            DNS(id=i, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=f"93.184.1.{i}"))
        )
        frames.append(ether(udp4(src=client, dst="10.0.0.53", sport=port, payload=query)))
        frames.append(ether(udp4("10.0.0.53", client, 53, port, payload=answer)))
    path = tmp_path / "lookups.pcap"
    write_pcap(path, [(1_700_000_000 + i, 0, f) for i, f in enumerate(frames)])

    fed: list[tuple[int, int]] = []
    real_feed = capture.FlowTable.feed

    def counting(self: capture.FlowTable, pkt: Packet, ts: float, frame: int) -> object:
        fed.append((pkt.sport, pkt.dport))
        return real_feed(self, pkt, ts, frame)

    monkeypatch.setattr(capture.FlowTable, "feed", counting)
    whole = CaptureSource(path)
    asked = [m.host for m in whole if isinstance(m, Message)]
    assert len(asked) == 41 and len(fed) == 82
    names = dict(whole.dns_map._names)
    assert names["93.184.1.7"] == "n7.example.net" and len(names) == 41
    owned, foreign_fed = [], 0
    for index in range(2):
        fed.clear()
        part = CaptureSource(path, partition=(index, 2))
        owned += [m.host for m in part if isinstance(m, Message)]
        assert dict(part.dns_map._names) == names
        assert (123, 53) in fed and (53, 123) in fed
        foreign_fed += len(fed) - 2 * part.coverage.flows  # datagrams of others' lookups
    assert sorted(owned) == sorted(asked)
    assert foreign_fed == 2  # the server-port lookup, in the worker that does not own it
