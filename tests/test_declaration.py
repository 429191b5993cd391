from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from leaktrace.declaration import (
    ConsentAt,
    ConsentEvent,
    ConsentUrl,
    DeclarationError,
    load_declaration,
    parse_declaration,
)

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_declaration_loads() -> None:
    decl = load_declaration(ROOT / "captures" / "app.yaml")
    assert decl.app.id == "com.example.demoshop"
    assert decl.first_party == ["example.com"]
    assert decl.collected_types == {"phone", "android_id"}
    assert decl.consent is None and decl.allowed_device_ids is None


def test_unknown_field_is_named_with_its_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "app: {id: x}\nshares:\n  - {party: umeng, typez: [imei]}\n")
    with pytest.raises(DeclarationError, match=r"app.yaml:3: shares\[0\]\.typez"):
        load_declaration(bad)


def test_missing_app_id_is_named(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match=r"app.yaml:1: app\.id: field required"):
        load_declaration(write(tmp_path, "app: {name: x}\n"))


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="invalid YAML"):
        load_declaration(write(tmp_path, "app: [\n"))
    with pytest.raises(DeclarationError, match="mapping"):
        load_declaration(write(tmp_path, "- 1\n"))
    with pytest.raises(DeclarationError, match="cannot read"):
        load_declaration(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("text", "form", "value"),
    [
        ("{event: consent}", ConsentEvent, "consent"),
        ('{url: "/privacy/agree"}', ConsentUrl, "/privacy/agree"),
        ("{at: 1795461941.5}", ConsentAt, 1795461941.5),
        ('{at: "2026-11-23T19:25:41+00:00"}', ConsentAt, 1795461941.0),
    ],
)
def test_consent_forms(tmp_path: Path, text: str, form: type, value: object) -> None:
    decl = load_declaration(write(tmp_path, f"app: {{id: x}}\nconsent: {text}\n"))
    assert isinstance(decl.consent, form)
    got = decl.consent.ts if isinstance(decl.consent, ConsentAt) else None
    if isinstance(decl.consent, ConsentEvent):
        got = decl.consent.event
    elif isinstance(decl.consent, ConsentUrl):
        got = decl.consent.url
    assert got == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{foo: 1}", r":2: consent: expected one of \{event"),
        ("{event: a, url: b}", r":2: consent: expected one of"),
        ('{url: "("}', r":2: consent\.url: regex does not compile"),
        ('{at: "2026-11-23T19:25:41"}', r":2: consent\.at: .*UTC offset"),
    ],
)
@pytest.mark.parametrize("field", ["consent", "withdrawal"])
def test_bad_consent_is_located(tmp_path: Path, text: str, message: str, field: str) -> None:
    """A withdrawal takes the forms of consent, and its errors are located alike."""
    with pytest.raises(DeclarationError, match=message.replace("consent", field)):
        load_declaration(write(tmp_path, f"app: {{id: x}}\n{field}: {text}\n"))


def test_a_withdrawal_is_declared_like_consent(tmp_path: Path) -> None:
    text = "app: {id: x}\nconsent: {event: agree}\nwithdrawal: {url: /privacy/revoke}\n"
    decl = load_declaration(write(tmp_path, text))
    assert decl.withdrawal == ConsentUrl("/privacy/revoke")


def test_device_ids_scope(tmp_path: Path) -> None:
    decl = load_declaration(write(tmp_path, "app: {id: x}\nneeds_device_ids: false\n"))
    assert decl.allowed_device_ids == frozenset()
    decl = load_declaration(write(tmp_path, "app: {id: x}\nneeds_device_ids: [mac]\n"))
    assert decl.allowed_device_ids == {"mac"}
    with pytest.raises(DeclarationError, match=r"needs_device_ids: android_id not a device"):
        load_declaration(write(tmp_path, "app: {id: x}\nneeds_device_ids: [android_id]\n"))


def test_device_id_listed_although_ruled_out_names_the_line(tmp_path: Path) -> None:
    text = (
        "app: {id: x}\nneeds_device_ids: [mac]\n"
        "shares:\n  - party: umeng\n    types:\n      - mac\n      - imei\n"
    )
    with pytest.raises(DeclarationError, match=r"app.yaml:7: shares\[0\]\.types\[1\]: imei"):
        load_declaration(write(tmp_path, text))


def test_frequency_limits(tmp_path: Path) -> None:
    text = "app: {id: x}\nfrequency:\n  - {type: location, max: 1, per_s: 60, state: background}\n"
    decl = load_declaration(write(tmp_path, text))
    assert decl.frequency is not None and decl.frequency[0].state == "background"
    with pytest.raises(DeclarationError, match=r":3: frequency\[0\]\.max"):
        load_declaration(write(tmp_path, text.replace("max: 1", "max: 0")))


def test_share_party_is_folded() -> None:
    decl = parse_declaration(
        {"app": {"id": "x"}, "shares": [{"party": "*.Umeng.COM.", "types": ["imei"]}]}
    )
    assert decl.shares[0].party == "umeng.com"


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
keys = st.sampled_from(
    ["app", "first_party", "collects", "shares", "consent", "needs_device_ids", "frequency", "x"]
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, yaml_values, max_size=6))
def test_any_document_loads_or_fails_with_a_located_error(doc: dict[str, object]) -> None:
    """Whatever a user writes, the loader answers with a declaration or a DeclarationError."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        try:
            decl = load_declaration(path)
        except DeclarationError as exc:
            assert str(exc).startswith(str(path)) or "app.yaml:" in str(exc)
        else:
            assert decl.app.id


def test_the_example_in_the_rules_document_is_a_valid_declaration() -> None:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    block = text.split("## Declaration fields the rules read", 1)[1]
    example = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    decl = parse_declaration(yaml.safe_load(example))
    assert decl.withdrawal is not None and decl.shares[0].separate_consent is True
