from __future__ import annotations

from leaktrace.sources.dnsmap import DnsMap


def test_latest_answer_wins_and_size_is_bounded() -> None:
    names = DnsMap(max_entries=3)
    names.learn("10.0.0.1", "a.example.com")
    names.learn("10.0.0.1", "b.example.com")
    assert names.name_of("10.0.0.1") == "b.example.com"
    for i in range(2, 6):
        names.learn(f"10.0.0.{i}", f"h{i}.example.com")
    assert len(names) == 3
    assert names.name_of("10.0.0.1") is None
    assert names.name_of("10.0.0.5") == "h5.example.com"
