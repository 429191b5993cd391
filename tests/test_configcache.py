"""Device and declaration files: validated once, then read back from the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaktrace import cache, configcache, declaration, profile
from leaktrace.declaration import DeclarationError, load_declaration, parse_declaration
from leaktrace.profile import DeviceProfile, DeviceProfileError, load_device, parse_device

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every device or declaration file that was parsed and validated (a cache miss)."""
    seen: list[Path] = []
    for module in (profile, declaration):
        real = module._validate_file

        def spy(path: Path, real: object = real) -> object:
            seen.append(path)
            return real(path)  # type: ignore[operator]

        monkeypatch.setattr(module, "_validate_file", spy)
    return seen


def _copy(name: str, folder: Path) -> Path:
    target = folder / name
    target.write_bytes((CAPTURES / name).read_bytes())
    return target


def test_a_file_read_again_comes_from_the_cache(
    cache_dir: Path, validations: list[Path], tmp_path: Path
) -> None:
    device, app = _copy("device.yaml", tmp_path), _copy("app.yaml", tmp_path)
    first = (load_device(device), load_declaration(app))
    assert validations == [device, app]
    again = (load_device(device), load_declaration(app))
    assert validations == [device, app]
    assert again == first and again[0] is not first[0]
    assert first[0].imei and first[1].first_party
    assert sorted(p.name.split("-")[0] for p in cache_dir.glob("*.bin")) == [
        "declaration",
        "device",
    ]


def test_the_same_bytes_anywhere_are_one_entry_and_an_edit_is_a_miss(
    cache_dir: Path, validations: list[Path], tmp_path: Path
) -> None:
    one = _copy("device.yaml", tmp_path)
    (tmp_path / "b").mkdir()
    other = _copy("device.yaml", tmp_path / "b")
    assert load_device(one) == load_device(other)
    assert validations == [one]
    other.write_text("imei: '356938035643809'\n", encoding="utf-8")
    assert load_device(other).imei == ["356938035643809"]
    assert validations == [one, other]


def test_the_files_of_more_apps_than_other_kinds_keep_stay_cached(
    cache_dir: Path, validations: list[Path], tmp_path: Path
) -> None:
    """A lab's loop over many apps: every app file validated once, not once per run."""
    apps = []
    for index in range(cache.KEEP_PER_KIND + 4):
        app = tmp_path / f"app{index}.yaml"
        app.write_text(f"app: {{id: com.example.app{index}}}\n", encoding="utf-8")
        apps.append(app)
    first = [load_declaration(app) for app in apps]
    assert [load_declaration(app) for app in apps] == first
    assert validations == apps
    assert configcache.KEEP_FILES > cache.KEEP_PER_KIND


def test_a_bad_file_is_never_stored_and_fails_alike_every_time(
    cache_dir: Path, validations: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "device.yaml"
    bad.write_text("imei: ['']\nlocation: {lat: 91, lng: 0}\n", encoding="utf-8")
    messages = []
    for _ in range(2):
        with pytest.raises(DeviceProfileError) as caught:
            load_device(bad)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "device.yaml:1: imei: values must not be empty" in messages[0]
    assert "device.yaml:2: location.lat" in messages[0]
    assert len(validations) == 2 and not list(cache_dir.glob("*.bin"))


def test_a_corrupt_entry_is_a_miss(
    cache_dir: Path, validations: list[Path], tmp_path: Path
) -> None:
    app = _copy("app.yaml", tmp_path)
    first = load_declaration(app)
    (entry,) = cache_dir.glob("declaration-*.bin")
    entry.write_bytes(entry.read_bytes()[:-5] + b"xxxxx")
    assert load_declaration(app) == first
    assert len(validations) == 2


def test_a_file_edited_while_it_was_validated_is_not_stored(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = _copy("device.yaml", tmp_path)
    real = profile._validate_file

    def edit_then_validate(path: Path) -> DeviceProfile:
        result = real(path)
        path.write_text("imei: '356938035643809'\n", encoding="utf-8")
        return result

    monkeypatch.setattr(profile, "_validate_file", edit_then_validate)
    load_device(device)
    assert not list(cache_dir.glob("device-*.bin"))


def test_without_a_cache_files_are_validated_every_time(
    tmp_path: Path, validations: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.ENV_VAR, "off")
    device = _copy("device.yaml", tmp_path)
    assert load_device(device) == load_device(device)
    assert validations == [device, device]


def test_a_missing_file_is_reported_by_validation(cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="cannot read"):
        load_declaration(tmp_path / "absent.yaml")


def test_mappings_built_in_code_are_validated_the_same_way() -> None:
    assert parse_device({"imei": 356938035643809}).imei == ["356938035643809"]
    with pytest.raises(DeviceProfileError, match="imei: values must not be empty"):
        parse_device({"imei": [" "]})
    decl = parse_declaration({"app": {"id": "x"}, "consent": {"event": "consent"}})
    assert isinstance(decl.consent, declaration.ConsentEvent)
    with pytest.raises(DeclarationError, match="needs_device_ids rules out"):
        parse_declaration(
            {"app": {"id": "x"}, "needs_device_ids": False, "collects": [{"type": "imei"}]}
        )
