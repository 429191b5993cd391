"""The fuzz targets as regression tests: every seed and every crash ever found replays clean.

Also guards the registry: a module added to the packages that read untrusted
bytes must be fuzzed (or exempted with a reason) before the suite passes.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import ROOT

FUZZ = ROOT / "fuzz"
sys.path.insert(0, str(FUZZ))

import registry  # noqa: E402


def target(name: str) -> ModuleType:
    return importlib.import_module(f"fuzz_{name}")


@pytest.mark.parametrize("name", sorted(registry.TARGETS))
def test_target_replays_its_corpus(name: str) -> None:
    module = target(name)
    seeds = sorted((FUZZ / "corpus" / name).iterdir())
    assert seeds, f"fuzz/corpus/{name} is empty"
    for seed in seeds:
        module.test_one_input(seed.read_bytes())
    rng = random.Random(name)
    for _ in range(40):
        data = bytearray(rng.choice(seeds).read_bytes())
        for _ in range(rng.randrange(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        module.test_one_input(bytes(data[: rng.randrange(len(data) + 1)]))


def _modules(package: str) -> set[str]:
    pkg = importlib.import_module(package)
    found = {package}
    for info in pkgutil.iter_modules(pkg.__path__, package + "."):
        found.add(info.name)
    return found


def test_every_input_module_is_fuzzed() -> None:
    modules = set().union(*(_modules(p) for p in registry.PACKAGES))
    unfuzzed = sorted(modules - set(registry.COVERED) - set(registry.EXEMPT))
    assert unfuzzed == [], (
        "modules that read untrusted input without a fuzz target: add a target to "
        "fuzz/registry.py TARGETS, or a line to PARSERS, and map the module in COVERED"
    )
    assert set(registry.COVERED.values()) <= set(registry.TARGETS)


def test_registry_names_real_files_and_functions() -> None:
    for name in registry.TARGETS:
        assert (FUZZ / f"fuzz_{name}.py").is_file(), name
    for parser in registry.PARSERS:
        module, _, attr = parser.call.partition(":")
        obj: object = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert callable(obj), parser.call


def test_fuzz_script_lists_the_registry() -> None:
    listed = subprocess.run(
        ["sh", str(ROOT / "bench" / "fuzz.sh"), "list"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert listed == list(registry.TARGETS)


def test_regression_yaml_self_alias_does_not_recurse(tmp_path: Path) -> None:
    """Found by the yaml_device target: ``x: &a [*a]`` recursed until RecursionError."""
    from leaktrace.profile import DeviceProfileError, load_device

    path = tmp_path / "device.yaml"
    path.write_text("imei: [1, 2]\nx: &a [*a]\n")
    with pytest.raises(DeviceProfileError, match="x: extra inputs"):
        load_device(path)


def test_regression_billion_laughs_yaml_is_linear(tmp_path: Path) -> None:
    """Aliases nine levels deep (10**9 leaves) used to take hours to check for duplicate keys."""
    from leaktrace.profile import DeviceProfileError, load_device

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = tmp_path / "device.yaml"
    path.write_text("\n".join([*lines, "imei: *a9", ""]))
    with pytest.raises(DeviceProfileError):
        load_device(path)


def test_regression_deep_yaml_does_not_kill_the_process(tmp_path: Path) -> None:
    """200,000 nested brackets overflowed libyaml's C stack (a segfault, not an exception)."""
    path = tmp_path / "device.yaml"
    path.write_text("imei: " + "[" * 200_000 + "]" * 200_000 + "\n")
    code = (
        "import sys; from pathlib import Path\n"
        "from leaktrace.profile import DeviceProfileError, load_device\n"
        "try:\n    load_device(Path(sys.argv[1]))\n"
        "except DeviceProfileError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "nested deeper than 64 levels" in proc.stdout


def test_regression_malformed_mitmproxy_flow_file(tmp_path: Path) -> None:
    """Found by the parsers target: a tnetstring that is not a flow raised AttributeError."""
    pytest.importorskip("mitmproxy")
    from leaktrace.sources.mitmfile import MitmSource

    path = tmp_path / "x.mitm"
    path.write_bytes(b"5:hello,")
    source = MitmSource(path)
    items = list(source)
    assert source.damage is not None and items == [source.damage]
