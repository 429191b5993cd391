"""The pipeline's signature records: plain copies of what the schema validated
(tests/test_plain.py checks that both have the same fields)."""

from __future__ import annotations

import pickle
from dataclasses import fields, is_dataclass

from pydantic import BaseModel

from leaktrace.signatures import model, schema
from leaktrace.signatures.loader import SignatureSet


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
