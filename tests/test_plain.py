"""Every schema class has a plain class of the same name taking exactly its fields."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from types import ModuleType

import pytest
from pydantic import BaseModel

from leaktrace import declaration, declaration_schema, profile, profile_schema
from leaktrace.signatures import model, schema

PAIRS: list[tuple[ModuleType, ModuleType]] = [
    (schema, model),
    (declaration_schema, declaration),
    (profile_schema, profile),
]
CLASSES = [
    (cls, plain)
    for checked, plain in PAIRS
    for cls in vars(checked).values()
    if isinstance(cls, type)
    and issubclass(cls, BaseModel)
    and cls.__module__ == checked.__name__
    and not cls.__name__.startswith("_")
]


def test_every_schema_module_has_its_classes() -> None:
    assert len(CLASSES) == 10 + 8 + 2


@pytest.mark.parametrize(("cls", "plain"), CLASSES, ids=lambda c: getattr(c, "__name__", ""))
def test_a_plain_class_takes_exactly_the_schema_fields(
    cls: type[BaseModel], plain: ModuleType
) -> None:
    """A field added to one and not the other would be validated and then dropped,
    or never validated at all."""
    target = getattr(plain, cls.__name__)
    assert is_dataclass(target)
    assert {f.name for f in fields(target) if f.init} == set(cls.model_fields)
