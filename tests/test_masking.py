from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leaktrace.masking import mask_value


@pytest.mark.parametrize(
    ("id_type", "value", "masked"),
    [
        ("imei", "869677023945285", "86**********285"),
        ("phone", "13812345678", "13******678"),
        ("android_id", "3f8a9c2e71b4d605", "3f***********605"),
        ("email", "alice@example.com", "a***@example.com"),
        ("location", "39.915115,116.403963", "39.9*,116.4*"),
        ("serial", "AB12CD", "A****D"),
        ("ssid", "home", "****"),
    ],
)
def test_mask_examples(id_type: str, value: str, masked: str) -> None:
    assert mask_value(id_type, value) == masked


@given(st.text(min_size=6, max_size=64))
def test_mask_never_returns_the_value(value: str) -> None:
    masked = mask_value("imei", value)
    assert masked != value
    assert len(masked) == len(value)
