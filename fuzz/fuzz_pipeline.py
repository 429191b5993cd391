"""Detectors and attribution on fuzzed messages: the stages after decoding never raise."""

from __future__ import annotations

from _harness import Slicer, fuzz_main, instrumented

with instrumented():
    from leaktrace.detectors import DetectorSet
    from leaktrace.pipeline import Pipeline, PipelineConfig
    from leaktrace.profile import parse_device
    from leaktrace.testing import http_message
    from leaktrace.types import Field

_DEVICE = parse_device(
    {
        "imei": "868915034726190",
        "phone": "13867452109",
        "mac": "a4:5e:60:c1:22:9b",
        "location": {"lat": 39.908722, "lng": 116.397499},
    }
)
_PIPELINE = Pipeline(PipelineConfig.load(device=_DEVICE))
_DETECTORS: DetectorSet = _PIPELINE.detectors


def test_one_input(data: bytes) -> None:
    s = Slicer(data)
    host = s.sized(64).decode("latin-1")
    key = s.sized(32).decode("latin-1") or None
    value = s.rest()
    _DETECTORS.run([Field(where="fuzz", value=value, key=key)])
    msg = http_message(host, "/?" + value[:512].decode("latin-1"), value)
    for item in _PIPELINE.process(msg):
        # What the sinks write must be text they can encode (UTF-8 files, Parquet).
        for value in (getattr(item, name) for name in item.__slots__):
            for text in value if isinstance(value, tuple) else (value,):
                if isinstance(text, str):
                    text.encode("utf-8")


if __name__ == "__main__":
    fuzz_main(test_one_input)
