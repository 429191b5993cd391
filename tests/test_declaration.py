from __future__ import annotations

from pathlib import Path

import pytest

from leaktrace.declaration import DeclarationError, load_declaration

ROOT = Path(__file__).resolve().parents[1]


def test_demo_declaration_loads() -> None:
    decl = load_declaration(ROOT / "captures" / "app.yaml")
    assert decl.app.id == "com.example.demoshop"
    assert decl.first_party == ["example.com"]
    assert any(item.type == "phone" for item in decl.collects)


def test_unknown_field_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "app.yaml"
    bad.write_text("app: {id: x}\nshares:\n  - {party: umeng, typez: [imei]}\n")
    with pytest.raises(DeclarationError, match=r"app.yaml: shares.0.typez"):
        load_declaration(bad)


def test_missing_app_id_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "app.yaml"
    bad.write_text("app: {name: x}\n")
    with pytest.raises(DeclarationError, match=r"app.id"):
        load_declaration(bad)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "app.yaml"
    bad.write_text("app: [\n")
    with pytest.raises(DeclarationError, match="not valid YAML"):
        load_declaration(bad)
    bad.write_text("- 1\n")
    with pytest.raises(DeclarationError, match="mapping"):
        load_declaration(bad)
