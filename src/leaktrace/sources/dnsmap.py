"""Addresses to names, learned from DNS answers seen earlier in the same traffic.

A flow with no Host header or SNI (a raw push channel, a QUIC flow) is still
named by the lookup that preceded it, which is how the app itself found it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leaktrace.protocols.dns import DnsPacket

_ADDRESS_TYPES = (1, 28)  # A, AAAA


class DnsMap:
    """A bounded address → name map; the most recent answer for an address wins."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._names: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries

    def learn(self, address: str, name: str) -> None:
        names = self._names
        if address in names:
            names.move_to_end(address)
        names[address] = name
        if len(names) > self._max:
            names.popitem(last=False)

    def learn_from(self, response: DnsPacket) -> None:
        """The addresses a response's A and AAAA answers give, each named by the
        question asked (the name the app looked up, not a CNAME's target)."""
        asked = response.questions[0].qname if response.questions else None
        for rec in response.answers:
            if rec.rtype in _ADDRESS_TYPES:
                self.learn(rec.value, asked or rec.name)

    def name_of(self, address: str) -> str | None:
        return self._names.get(address)

    def __len__(self) -> int:
        return len(self._names)
