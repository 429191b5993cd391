"""``leaktrace signatures …`` through the real root app."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leaktrace.cli import app
from leaktrace.signatures import ENV_VAR

BUNDLED = Path(__file__).resolve().parents[2] / "signatures"
FIXTURE = Path(__file__).parent / "data" / "exodus_sample.json"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_lint_passes_on_the_bundled_catalogue(runner: CliRunner) -> None:
    result = runner.invoke(app, ["signatures", "lint"])
    assert result.exit_code == 0, result.output
    assert re.search(r"ok: \d+ identifier types and \d+ SDKs", result.output)


def test_lint_names_file_line_and_field_of_a_broken_copy(runner: CliRunner, tmp_path: Path) -> None:
    copy = tmp_path / "sigs"
    shutil.copytree(BUNDLED, copy)
    umeng = copy / "sdks" / "umeng.yaml"
    lines = umeng.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("category:"))
    lines[index] = "category: telemetry"
    umeng.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imei = copy / "identifiers" / "imei.yaml"
    imei.write_text(imei.read_text(encoding="utf-8").replace("validator: imei", "validator: nope"))

    result = runner.invoke(app, ["signatures", "lint", str(copy), "--alone"])
    assert result.exit_code == 1
    assert re.search(
        rf"sigs/sdks/umeng\.yaml:{index + 1}: category: input should be", result.output
    )
    assert re.search(
        r"sigs/identifiers/imei\.yaml:\d+: patterns\[0\]\.validator: unknown", result.output
    )
    # Layered on the bundled set, the same copy still fails the same way.
    layered = runner.invoke(app, ["signatures", "lint", str(copy)])
    assert layered.exit_code == 1 and "umeng.yaml" in layered.output


def test_list_counts(runner: CliRunner) -> None:
    result = runner.invoke(app, ["signatures", "list"])
    assert result.exit_code == 0, result.output
    m = re.search(r"(\d+) SDKs in (\d+) categories, (\d+) with Chinese vendors", result.output)
    assert m is not None, result.output
    sdks, categories, chinese = map(int, m.groups())
    assert sdks >= 200 and categories >= 8 and chinese >= 60
    assert "umeng" in result.output and "友盟" in result.output


def test_list_filters(runner: CliRunner) -> None:
    result = runner.invoke(app, ["signatures", "list", "--category", "push", "--vendor-zh"])
    m = re.search(r"(\d+) SDKs in (\d+) categories, (\d+) with Chinese vendors", result.output)
    assert m is not None
    count, categories, chinese = map(int, m.groups())
    assert count == chinese > 3 and categories == 1
    assert "jpush" in result.output and "onesignal" not in result.output


def test_list_identifiers(runner: CliRunner) -> None:
    result = runner.invoke(app, ["signatures", "list", "--identifiers"])
    assert result.exit_code == 0
    assert "installed_apps" in result.output and "基站小区标识" in result.output
    assert re.search(r"\d+ identifier types, \d+ sensitive", result.output)


@pytest.mark.parametrize("entry", ["umeng", "cell_id"])
def test_show_prints_the_yaml(runner: CliRunner, entry: str) -> None:
    result = runner.invoke(app, ["signatures", "show", entry])
    assert result.exit_code == 0
    first, _, body = result.output.partition("\n")
    assert first.startswith("# ") and first.endswith(f"/{entry}.yaml")
    assert yaml.safe_load(body)["id"] == entry


def test_show_unknown(runner: CliRunner) -> None:
    result = runner.invoke(app, ["signatures", "show", "no_such_thing"])
    assert result.exit_code == 2


def test_match_explains_rule_and_basis(runner: CliRunner) -> None:
    result = runner.invoke(app, ["signatures", "match", "a.b.umeng.com"])
    assert result.exit_code == 0
    out = result.output
    assert re.search(r"sdk\s+umeng: ", out)
    assert re.search(r"rule\s+domain:umeng\.com", out)
    assert re.search(r"basis\s+✅", out)
    assert re.search(r"registrable domain\s+umeng\.com", out)
    assert "first_party: [umeng.com] would make this host first party" in out


def test_match_shared_host_path(runner: CliRunner) -> None:
    hit = runner.invoke(app, ["signatures", "match", "https://is.snssdk.com/api/ad/union/sdk/x"])
    assert re.search(r"sdk\s+pangle", hit.output)
    miss = runner.invoke(app, ["signatures", "match", "is.snssdk.com/service/2/app_log/"])
    assert "sdk                 none" in miss.output
    assert re.search(r"not matched\s+pangle host:is\.snssdk\.com\+path:", miss.output)


def test_match_with_app_declaration(runner: CliRunner, tmp_path: Path) -> None:
    decl = tmp_path / "app.yaml"
    decl.write_text("app: {id: com.example.shop, name: Shop}\nfirst_party: [umeng.com]\n")
    result = runner.invoke(app, ["signatures", "match", "ulogs.umeng.com", "--app", str(decl)])
    assert re.search(r"party\s+first \(first_party: umeng\.com\)", result.output)
    nothing = runner.invoke(app, ["signatures", "match", "notumeng.com", "--first-party", "x.com"])
    assert re.search(r"sdk\s+none", nothing.output)
    assert re.search(r"party\s+third", nothing.output)


def test_import_exodus_writes_usable_signatures(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "exo"
    result = runner.invoke(app, ["signatures", "import-exodus", str(FIXTURE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = sorted(p.stem for p in (out / "sdks").glob("*.yaml"))
    assert written == ["acme_metrics", "beta_ads", "gamma_crash", "umeng_exodus"]
    assert "skipped Umeng: already covered by bundled sdk umeng" in result.output
    assert "skipped No Network: no network signature" in result.output
    assert "google\\.com: shared domain" in result.output
    text = (out / "sdks" / "acme_metrics.yaml").read_text(encoding="utf-8")
    assert "Open Database License (ODbL)" in text
    assert 'source: "exodus import: exodus_sample.json"' in text

    lint = runner.invoke(app, ["signatures", "lint", str(out)])
    assert lint.exit_code == 0, lint.output
    match = runner.invoke(
        app, ["signatures", "match", "ads7.beta-ads.test", "--signatures", str(out)]
    )
    assert re.search(r"rule\s+host_regex:ads\[0-9\]\+", match.output), match.output
    assert re.search(r"basis\s+exodus import: exodus_sample\.json", match.output)


def test_import_exodus_rejects_other_json(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"apps": []}')
    result = runner.invoke(app, ["signatures", "import-exodus", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "trackers" in result.output
