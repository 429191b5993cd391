from __future__ import annotations

import itertools
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from leaktrace.sources.tcp import StreamReassembler

M = 1 << 32


def _s(isn: int, off: int) -> int:
    """Sequence number of stream byte ``off`` when the SYN had ``isn``."""
    return (isn + 1 + off) % M


def test_in_order_after_syn() -> None:
    r = StreamReassembler()
    r.add(100, b"", syn=True)
    r.add(101, b"hello ")
    assert r.read() == b"hello "
    r.add(107, b"world")
    assert r.read() == b"world"
    assert r.read() == b""
    assert r.flush() == (b"", 0)


def test_out_of_order_waits_for_the_missing_piece() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(6, b"world")
    assert r.read() == b""
    assert r.buffered == 5
    r.add(1, b"hello")
    assert r.read() == b"helloworld"
    assert r.buffered == 0


def test_retransmission_is_dropped() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(1, b"abc")
    r.add(1, b"abc")
    r.add(4, b"def")
    r.add(1, b"abcdef")
    assert r.read() == b"abcdef"
    assert r.flush() == (b"", 0)


def test_overlap_first_seen_bytes_win() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(5, b"EFGH")  # buffered: offsets 4..8
    r.add(1, b"abcdXXXXij")  # offsets 0..10; 4..8 already held
    assert r.read() == b"abcdEFGHij"
    r.add(9, b"YYzz")  # offsets 8..12: 8..10 already delivered
    assert r.read() == b"zz"


def test_overlap_inside_buffer_keeps_first() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(11, b"KLMN")  # 10..14
    r.add(4, b"defghijklmnop")  # 3..16, around and over the first
    r.add(1, b"ab")  # 0..2, hole at 2
    assert r.read() == b"ab"
    r.add(3, b"c")
    assert r.read() == b"cdefghijKLMNop"


def test_missing_syn_lower_segment_arriving_later_is_placed() -> None:
    r = StreamReassembler()
    r.add(5000, b"world")
    assert r.read() == b""  # held: the start of the stream is not settled yet
    r.add(4995, b"hello")
    assert r.read() == b""
    r.add(5005, b"!")  # follows the run: order is evident now
    assert r.read() == b"helloworld!"
    assert r.gaps == 0


def test_missing_syn_settled_by_empty_segment() -> None:
    r = StreamReassembler()
    r.add(7, b"data")
    assert r.holding
    r.add(11, b"")  # a pure ACK from the same sender carries the next sequence number
    assert not r.holding
    assert r.read() == b"data"


def test_missing_syn_settled_by_peer_ack() -> None:
    r = StreamReassembler()
    r.add(7, b"data")
    r.acked(9)  # the peer has not got it all yet: keep holding
    assert r.read() == b""
    r.acked(11)
    assert r.read() == b"data"


def test_missing_syn_flush_delivers_held_data() -> None:
    r = StreamReassembler()
    r.add(7, b"data")
    assert r.flush() == (b"data", 0)


def test_syn_after_held_data_sets_the_start() -> None:
    r = StreamReassembler()
    r.add(1006, b"world")
    r.add(1000, b"", syn=True)
    r.add(1001, b"hello")
    assert r.read() == b"helloworld"


def test_sequence_wraparound() -> None:
    isn = M - 3
    r = StreamReassembler()
    r.add(isn, b"", syn=True)
    r.add(_s(isn, 4), b"efgh")  # crosses 2**32 out of order
    r.add(_s(isn, 0), b"abcd")
    r.add(_s(isn, 8), b"ijkl")
    assert r.read() == b"abcdefghijkl"
    assert _s(isn, 8) < 10


def test_wraparound_without_syn() -> None:
    r = StreamReassembler()
    r.add(0, b"cd")
    r.add(M - 2, b"ab")
    r.add(2, b"e")
    assert r.read() == b"abcde"


def test_buffer_bound_skips_the_hole_and_counts_it() -> None:
    r = StreamReassembler(max_buffer=100)
    r.add(0, b"", syn=True)
    r.add(1, b"a" * 10)
    assert r.read() == b"a" * 10
    # Offsets 10..20 are lost; later segments pile up until the bound is hit.
    for i in range(20, 140, 10):
        r.add(1 + i, b"b" * 10)
    assert r.gaps == 10
    parts = r.read_parts()
    assert parts[0] == 10
    assert parts[1:] == [b"b" * 120]
    # The lost segment turning up late changes nothing.
    r.add(11, b"L" * 10)
    assert r.read() == b""


def test_peer_ack_past_a_hole_skips_it() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(1, b"abc")
    r.add(7, b"ghi")
    assert r.read() == b"abc"
    r.acked(4)  # the peer has not seen past the hole: it may still be retransmitted
    assert r.read() == b""
    r.acked(10)
    assert r.read_parts() == [3, b"ghi"]
    assert r.gaps == 3


def test_ack_seen_before_the_out_of_order_data() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.acked(10)
    r.add(7, b"ghi")
    assert r.read_parts() == [6, b"ghi"]


def test_flush_skips_holes() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(11, b"klm")
    r.add(4, b"def")
    assert r.read() == b""
    data, gap = r.flush()
    assert data == b"defklm"
    assert gap == 3 + 4
    assert r.gaps == 7


def test_flush_counts_lost_tail_before_fin() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(1, b"abc")
    r.add(10, b"", fin=True)  # FIN at offset 9: offsets 3..9 never seen
    assert r.read() == b"abc"
    assert r.flush() == (b"", 6)


def test_data_after_fin_is_ignored() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(1, b"abc", fin=True)
    r.add(4, b"junk")
    assert r.read() == b"abc"
    assert r.finished
    assert r.flush() == (b"", 0)


def test_syn_with_data() -> None:
    r = StreamReassembler()
    r.add(50, b"early", syn=True)
    assert r.read() == b"early"


def test_memoryview_payload() -> None:
    r = StreamReassembler()
    r.add(0, b"", syn=True)
    r.add(1, memoryview(b"abc"))
    assert r.read() == b"abc"


# -- properties ---------------------------------------------------------------------


@st.composite
def _arrivals(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[int, bytes]]]:
    """A stream, an ISN, and segments covering it in any order with duplicates and overlaps."""
    stream = draw(st.binary(min_size=1, max_size=3000))
    isn = draw(st.one_of(st.integers(0, M - 1), st.integers(M - 4000, M - 1)))
    cuts = (
        sorted(set(draw(st.lists(st.integers(1, len(stream) - 1), max_size=40))))
        if len(stream) > 1
        else []
    )
    bounds = [0, *cuts, len(stream)]
    segs = [(a, stream[a:b]) for a, b in itertools.pairwise(bounds)]
    extras = draw(
        st.lists(st.tuples(st.integers(0, len(stream) - 1), st.integers(1, 600)), max_size=10)
    )
    for start, size in extras:
        segs.append((start, stream[start : start + size]))  # consistent overlap or duplicate
    segs.extend(draw(st.lists(st.sampled_from(segs), max_size=5)))  # exact retransmissions
    rnd = draw(st.randoms(use_true_random=False))
    rnd.shuffle(segs)
    return stream, isn, segs


@settings(max_examples=400, deadline=None)
@given(_arrivals())
def test_any_order_reassembles_exactly(case: tuple[bytes, int, list[tuple[int, bytes]]]) -> None:
    stream, isn, segs = case
    r = StreamReassembler(max_buffer=1 << 20)
    r.add(isn, b"", syn=True)
    out = []
    for off, data in segs:
        r.add(_s(isn, off), data)
        out.append(r.read())
    tail, gap = r.flush()
    assert b"".join(out) + tail == stream
    assert gap == 0 and r.gaps == 0


@settings(max_examples=300, deadline=None)
@given(_arrivals(), st.integers(0, 10))
def test_missing_syn_with_early_reordering(
    case: tuple[bytes, int, list[tuple[int, bytes]]], lead: int
) -> None:
    """Without a SYN, segments arriving in falling order before the first byte still fit."""
    stream, isn, segs = case
    starts = sorted({off for off, _ in segs if off > 0})[:lead]
    first = [(off, stream[off : off + 50]) for off in reversed(starts)]
    first.append((0, stream[:50]))
    r = StreamReassembler(max_buffer=1 << 20)
    out = []
    for off, data in first + segs:
        r.add(_s(isn, off), data)
        out.append(r.read())
    tail, gap = r.flush()
    assert b"".join(out) + tail == stream
    assert gap == 0


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=2, max_size=2000),
    st.integers(0, M - 1),
    st.lists(st.integers(1, 1999), max_size=30),
    st.randoms(use_true_random=False),
)
def test_lost_segments_become_counted_gaps(
    stream: bytes, isn: int, cut_list: list[int], rnd: random.Random
) -> None:
    cuts = sorted({c for c in cut_list if c < len(stream)})
    bounds = [0, *cuts, len(stream)]
    segs = [(a, stream[a:b]) for a, b in itertools.pairwise(bounds)]
    kept = [s for s in segs if rnd.random() < 0.7]
    assume(kept)
    rnd.shuffle(kept)
    r = StreamReassembler()
    r.add(isn, b"", syn=True)
    out = []
    for off, data in kept:
        r.add(_s(isn, off), data)
        out.append(r.read())
    tail, gap = r.flush()
    kept.sort()
    assert b"".join(out) + tail == b"".join(d for _, d in kept)
    last_end = kept[-1][0] + len(kept[-1][1])
    assert gap == r.gaps == last_end - sum(len(d) for _, d in kept)
