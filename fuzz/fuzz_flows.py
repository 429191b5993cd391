"""Flow table and per-flow sessions: packets in, bounded state, messages and diagnostics out."""

from __future__ import annotations

from _harness import Slicer, check, fuzz_main, instrumented

with instrumented():
    from leaktrace.sources.dnsmap import DnsMap
    from leaktrace.sources.flows import FlowClosed, FlowData, FlowTable
    from leaktrace.sources.packets import Packet
    from leaktrace.sources.sessions import FlowSession
    from leaktrace.types import Diagnostic, Message

_HOSTS = ("10.0.0.1", "10.0.0.2", "93.184.216.34", "2001:db8::1")
_PORTS = (53, 80, 443, 5353, 8080, 40000, 40001, 51000)
_MAX_FLOWS = 4


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    table = FlowTable(idle_timeout=5.0, max_flows=_MAX_FLOWS, max_buffer=2048, sweep_every=4)
    dns = DnsMap()
    sessions: dict[int, FlowSession] = {}
    ts = 0.0
    frame = 0
    out: list[Message | Diagnostic] = []
    while s.remaining:
        ts += s.below(4)
        frame += 1
        pkt = Packet(
            src=s.pick(_HOSTS),
            dst=s.pick(_HOSTS),
            proto=s.pick((6, 6, 17)),
            sport=s.pick(_PORTS),
            dport=s.pick(_PORTS),
            flags=s.uint(1),
            seq=s.uint(4),
            ack=s.uint(4),
            payload=s.take(s.below(300)),
        )
        for event in table.feed(pkt, ts, frame):
            _dispatch(event, sessions, dns, out)
        check(len(table) <= _MAX_FLOWS, "the flow table stays under max_flows")
    for event in table.close_all():
        _dispatch(event, sessions, dns, out)
    check(len(table) == 0, "close_all empties the table")


def _dispatch(
    event: FlowData | FlowClosed | Diagnostic,
    sessions: dict[int, FlowSession],
    dns: DnsMap,
    out: list[Message | Diagnostic],
) -> None:
    if isinstance(event, Diagnostic):
        out.append(event)
        return
    flow = event.flow
    session = sessions.get(id(flow))
    if session is None:
        session = sessions[id(flow)] = FlowSession(flow, "fuzz", dns)
    if isinstance(event, FlowData):
        out.extend(session.on_data(event))
    else:
        out.extend(session.on_close(flow.last_ts))
        session.outcome()
        del sessions[id(flow)]


if __name__ == "__main__":
    fuzz_main(test_one_input)
