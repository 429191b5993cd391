"""Validated configuration copied into plain records.

pydantic checks each file a user writes (signatures, ``device.yaml``,
``app.yaml``); the pipeline holds plain frozen dataclasses instead, which
the per-user cache stores and every later run reads back without importing
pydantic, whose import and validators cost more than the rest of a run's
start-up (docs/scaling.md, start-up). Each schema class has a plain class of
the same name with the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from pydantic import BaseModel


def to_plain(value: Any, classes: Mapping[str, Any]) -> Any:
    """``value`` with every pydantic model in it replaced by the class of the same name
    in ``classes``, built from the same fields; lists are copied, anything else kept.
    Only the schema modules call it: they import pydantic anyway."""
    if isinstance(value, BaseModel):
        cls: Any = classes[type(value).__name__]  # fields() refuses anything but a dataclass
        values = {f.name: to_plain(getattr(value, f.name), classes) for f in fields(cls) if f.init}
        return cls(**values)
    if isinstance(value, list):
        return [to_plain(item, classes) for item in value]
    return value
