"""Loader errors must name file, line and field; directories layer; the env var is honoured."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from leaktrace.detectors.engine import hyperscan_available
from leaktrace.pipeline import PipelineConfig
from leaktrace.signatures import (
    ENV_VAR,
    SignatureError,
    default_signature_dirs,
    load_signatures,
    with_user_dirs,
)
from leaktrace.signatures.loader import locate_line, read_yaml

IDENT = """\
id: {id}
names: {{en: Test}}
category: device_identifier
sensitive: false
source: "test ○"
patterns:
  - id: {id}.digits
    regex: '{regex}'
    validator: luhn
confidence: {{base: 0.5, with_key: 0.9}}
key_hints: [{id}]
examples:
  match: ["x"]
  no_match: ["y"]
"""

SDK = """\
id: {id}
name: Test SDK
vendor: {{name: Test}}
category: analytics
endpoints:
  - domain: {domain}
    source: "○"
examples:
  match: ["a.{domain}"]
  no_match: ["not{domain}"]
"""


def write(root: Path, kind: str, name: str, text: str) -> Path:
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(root: Path) -> str:
    with pytest.raises(SignatureError) as info:
        load_signatures([root])
    return str(info.value)


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    text = SDK.format(id="acme", domain="acme.example").replace(
        '  - domain: acme.example\n    source: "○"\n', '  - source: "○"\n'
    )
    write(tmp_path, "sdks", "acme", text)
    message = problems_of(tmp_path)
    # endpoints[0] starts on line 6.
    assert re.search(r"sdks/acme\.yaml:6: endpoints\[0\]: needs a domain", message), message


def test_required_field_reported_at_parent_line(tmp_path: Path) -> None:
    text = SDK.format(id="acme", domain="acme.example").replace('    source: "○"\n', "")
    write(tmp_path, "sdks", "acme", text)
    message = problems_of(tmp_path)
    assert re.search(r"sdks/acme\.yaml:6: endpoints\[0\]\.source: field required", message)


def test_wrong_type_points_at_the_value_line(tmp_path: Path) -> None:
    text = IDENT.format(id="tid", regex="[0-9]{4}").replace("sensitive: false", "sensitive: [1, 2]")
    write(tmp_path, "identifiers", "tid", text)
    assert re.search(r"identifiers/tid\.yaml:4: sensitive: ", problems_of(tmp_path))


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "sdks", "broken", "id: broken\nname: [unclosed\nvendor: {name: x}\n")
    message = problems_of(tmp_path)
    assert re.search(r"sdks/broken\.yaml:\d+: invalid YAML", message), message


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    text = SDK.format(id="acme", domain="acme.example") + "homepage: https://x\n"
    write(tmp_path, "sdks", "acme", text)
    assert "sdks/acme.yaml:11: homepage: extra inputs are not permitted" in problems_of(tmp_path)


def test_duplicate_domain_across_sdks_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "sdks", "one", SDK.format(id="one", domain="shared.example"))
    write(tmp_path, "sdks", "two", SDK.format(id="two", domain="shared.example"))
    message = problems_of(tmp_path)
    assert "sdks/two.yaml:6: endpoints[0]" in message
    assert "already used by sdk 'one'" in message


def test_same_domain_with_a_path_is_not_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "sdks", "one", SDK.format(id="one", domain="shared.example"))
    narrowed = SDK.format(id="two", domain="shared.example").replace(
        '    source: "○"\n', "    path: '^/collect'\n    source: \"○\"\n", 1
    )
    write(tmp_path, "sdks", "two", narrowed)
    sigs = load_signatures([tmp_path])
    assert set(sigs.sdks) == {"one", "two"}


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    text = SDK.format(id="acme", domain="acme.example") + "name: Again\n"
    write(tmp_path, "sdks", "acme", text)
    assert "sdks/acme.yaml:11: duplicate key 'name'" in problems_of(tmp_path)


def test_id_must_match_file_name(tmp_path: Path) -> None:
    write(tmp_path, "sdks", "other", SDK.format(id="acme", domain="acme.example"))
    assert "sdks/other.yaml:1: id: id 'acme' does not match the file name" in problems_of(tmp_path)


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("[0-9", "regex does not compile"),
        ("[0-9]*", "regex matches the empty string"),
    ],
)
def test_bad_regex(tmp_path: Path, regex: str, message: str) -> None:
    write(tmp_path, "identifiers", "tid", IDENT.format(id="tid", regex=regex))
    found = problems_of(tmp_path)
    assert "identifiers/tid.yaml:8: patterns[0].regex: " in found
    assert message in found


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")
def test_regex_hyperscan_cannot_compile(tmp_path: Path) -> None:
    # Python accepts an end anchor in the middle; hyperscan does not.
    write(tmp_path, "identifiers", "tid", IDENT.format(id="tid", regex=r"x\Zy"))
    assert "identifiers/tid.yaml:8: patterns[0].regex: does not compile in hyperscan" in (
        problems_of(tmp_path)
    )


def test_unknown_validator(tmp_path: Path) -> None:
    text = IDENT.format(id="tid", regex="[0-9]{4}").replace("validator: luhn", "validator: nope")
    write(tmp_path, "identifiers", "tid", text)
    assert "identifiers/tid.yaml:9: patterns[0].validator: unknown validator 'nope'" in (
        problems_of(tmp_path)
    )


def test_pattern_id_must_belong_to_the_identifier(tmp_path: Path) -> None:
    text = IDENT.format(id="tid", regex="[0-9]{4}").replace("id: tid.digits", "id: other.digits")
    write(tmp_path, "identifiers", "tid", text)
    assert "must start with 'tid.'" in problems_of(tmp_path)


def test_unknown_collected_type(tmp_path: Path) -> None:
    text = SDK.format(id="acme", domain="acme.example") + "collects: [imei]\n"
    write(tmp_path, "sdks", "acme", text)
    assert "sdks/acme.yaml:11: collects[0]: unknown identifier type 'imei'" in problems_of(tmp_path)


@pytest.mark.parametrize("domain", ["com", "Umeng.com", "umeng.com/x", "1.2.3.4", "-a.com"])
def test_bad_domains(tmp_path: Path, domain: str) -> None:
    write(tmp_path, "sdks", "acme", SDK.format(id="acme", domain=domain))
    assert "sdks/acme.yaml:6: endpoints[0]" in problems_of(tmp_path)


def test_all_problems_are_listed(tmp_path: Path) -> None:
    write(tmp_path, "sdks", "one", "id: one\n")
    write(tmp_path, "sdks", "two", "id: two\n")
    with pytest.raises(SignatureError) as info:
        load_signatures([tmp_path])
    files = {p.split(":", 1)[0] for p in info.value.problems}
    assert any(f.endswith("one.yaml") for f in files)
    assert any(f.endswith("two.yaml") for f in files)


def test_later_directory_overrides_same_id(tmp_path: Path, signatures_dir: Path) -> None:
    write(tmp_path, "sdks", "umeng", SDK.format(id="umeng", domain="umeng.example"))
    sigs = load_signatures([signatures_dir, tmp_path])
    assert [e.domain for e in sigs.sdks["umeng"].endpoints] == ["umeng.example"]
    assert sigs.origins["sdks/umeng"] == tmp_path / "sdks" / "umeng.yaml"
    assert "imei" in sigs.identifiers


def test_override_can_create_a_cross_sdk_duplicate(tmp_path: Path, signatures_dir: Path) -> None:
    write(tmp_path, "sdks", "acme", SDK.format(id="acme", domain="umeng.com"))
    with pytest.raises(SignatureError, match="already used by sdk"):
        load_signatures([signatures_dir, tmp_path])


def test_env_var_adds_to_the_bundled_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signatures_dir: Path
) -> None:
    write(tmp_path, "sdks", "acme", SDK.format(id="acme", domain="acme.example"))
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert default_signature_dirs() == [signatures_dir, tmp_path]
    sigs = load_signatures()
    assert "acme" in sigs.sdks and "umeng" in sigs.sdks


def test_precedence_bundled_then_env_then_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signatures_dir: Path
) -> None:
    env_a, env_b, option = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write(env_a, "sdks", "umeng", SDK.format(id="umeng", domain="from-a.example"))
    write(env_b, "sdks", "umeng", SDK.format(id="umeng", domain="from-b.example"))
    write(option, "sdks", "acme", SDK.format(id="acme", domain="acme.example"))
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(env_a), str(env_b)]))
    assert with_user_dirs([option]) == [signatures_dir, env_a, env_b, option]
    sigs = load_signatures(with_user_dirs([option]))
    assert [e.domain for e in sigs.sdks["umeng"].endpoints] == ["from-b.example"]
    write(option, "sdks", "umeng", SDK.format(id="umeng", domain="from-c.example"))
    sigs = load_signatures(with_user_dirs([option]))
    assert [e.domain for e in sigs.sdks["umeng"].endpoints] == ["from-c.example"]


def test_pipeline_config_layers_user_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    write(tmp_path, "sdks", "acme", SDK.format(id="acme", domain="acme.example"))
    config = PipelineConfig.load(signature_dirs=[tmp_path])
    assert "acme" in config.signatures.sdks and "umeng" in config.signatures.sdks


def test_a_directory_named_twice_keeps_its_last_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signatures_dir: Path
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert with_user_dirs([tmp_path, signatures_dir]) == [tmp_path, signatures_dir]


def test_host_regex_rule(tmp_path: Path) -> None:
    text = SDK.format(id="acme", domain="acme.example").replace(
        "  - domain: acme.example\n", "  - host_regex: '^pinpoint\\.[a-z0-9-]+\\.acme\\.example$'\n"
    )
    write(
        tmp_path,
        "sdks",
        "acme",
        text.replace('["a.acme.example"]', '["pinpoint.eu-1.acme.example"]'),
    )
    sigs = load_signatures([tmp_path])
    assert sigs.sdks["acme"].endpoints[0].host_regex is not None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("host_regex: '.*'", "matches hosts of any name"),
        ("host_regex: 'a'", "matches hosts of any name"),
        ("host_regex: '[x'", "regex does not compile"),
        (
            "host_regex: 'x\\.example'\n    domain: x.example",
            "only one of domain, host and host_regex",
        ),
    ],
)
def test_bad_host_regex(tmp_path: Path, rule: str, message: str) -> None:
    text = SDK.format(id="acme", domain="acme.example").replace("domain: acme.example", rule)
    write(tmp_path, "sdks", "acme", text)
    found = problems_of(tmp_path)
    assert "sdks/acme.yaml:6: endpoints[0]" in found and message in found, found


def test_default_is_the_repository_directory_alone(
    monkeypatch: pytest.MonkeyPatch, signatures_dir: Path
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_signature_dirs() == [signatures_dir]


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="not a directory"):
        load_signatures([tmp_path / "absent"])


def test_locate_line_walks_mappings_and_sequences(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  b:\n    - 1\n    - c: 2\n", encoding="utf-8")
    doc = read_yaml(path)
    assert locate_line(doc.node, ("a", "b", 1, "c")) == 4
    assert locate_line(doc.node, ("a", "b", 0)) == 3
    assert locate_line(doc.node, ("a", "missing")) == 2
    assert locate_line(None, ("a",)) == 1


@pytest.fixture
def signatures_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "signatures"
