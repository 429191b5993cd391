"""The pipeline's signature records against the schema that validates them."""

from __future__ import annotations

import pickle
from dataclasses import fields, is_dataclass

import pytest
from pydantic import BaseModel

from leaktrace.signatures import model, schema
from leaktrace.signatures.loader import SignatureSet

SCHEMA_CLASSES = [
    cls
    for cls in vars(schema).values()
    if isinstance(cls, type) and issubclass(cls, schema._Strict) and cls is not schema._Strict
]


def test_every_schema_class_has_its_model() -> None:
    assert len(SCHEMA_CLASSES) == 10
    for cls in SCHEMA_CLASSES:
        assert is_dataclass(getattr(model, cls.__name__)), cls.__name__


@pytest.mark.parametrize("cls", SCHEMA_CLASSES, ids=lambda c: c.__name__)
def test_a_model_class_takes_exactly_the_schema_fields(cls: type[BaseModel]) -> None:
    """A field added to one and not the other would be validated and then dropped,
    or never validated at all."""
    plain = getattr(model, cls.__name__)
    assert {f.name for f in fields(plain) if f.init} == set(cls.model_fields)


def _walk(value: object) -> list[object]:
    found = [value]
    if is_dataclass(value):
        for f in fields(value):
            found += _walk(getattr(value, f.name))
    elif isinstance(value, list | tuple):
        for item in value:
            found += _walk(item)
    return found


def test_the_loaded_set_holds_no_pydantic_object(signatures: SignatureSet) -> None:
    records = [*signatures.identifiers.values(), *signatures.sdks.values()]
    everything = [v for record in records for v in _walk(record)]
    assert not [v for v in everything if isinstance(v, BaseModel)]
    assert sum(isinstance(v, model.Endpoint) for v in everything) > 100


def test_to_model_keeps_every_value_and_what_is_derived_from_it() -> None:
    validated = schema.IdentifierSig.model_validate(
        {
            "id": "demo",
            "names": {"en": "Demo"},
            "category": "identity",
            "sensitive": True,
            "source": "test",
            "patterns": [{"id": "demo.x", "regex": "ab+c", "caseless": True, "requires_key": True}],
            "confidence": {"base": 0.5, "with_key": 0.9},
            "key_hints": ["Demo-ID"],
            "examples": {"match": ["abc"], "no_match": ["ac"]},
        }
    )
    plain = schema.to_model(validated)
    assert isinstance(plain, model.IdentifierSig)
    assert plain.names == model.Names("Demo")
    assert plain.confidence == model.Confidence(0.5, 0.9)
    assert plain.hints == frozenset({"demoid"})
    (pattern,) = plain.patterns
    assert pattern.compiled.search(b"xABBCx") is not None  # caseless
    again = pickle.loads(pickle.dumps(plain))
    assert again == plain and again.hints == plain.hints
    assert again.patterns[0].compiled.pattern == pattern.compiled.pattern
