"""Prometheus's rules (dashboards/rules): promtool's checks and unit tests pass, every rule is tested and documented,
and the platform chart's copies are current."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridpipe_dashboards import rules
from gridpipe_stack.provision import ensure_debian_package

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "dashboards" / "rules"
RULE_FILES = sorted(RULES.glob("*.yml"))
TEST_FILES = sorted((RULES / "tests").glob("*.yml"))
RUNBOOK = "https://github.com/gridpipe/gridpipe/blob/main/docs/observability.md#"
RUNBOOK_PAGES = (ROOT / "docs" / "observability.md",)


@pytest.fixture(scope="module")
def promtool() -> Path:
    # Debian's prometheus package ships promtool; the stack installs it anyway.
    return ensure_debian_package("prometheus", "promtool", lambda _: None, "checking the alert rules")


def _promtool(promtool: Path, *args: str) -> None:
    done = subprocess.run([str(promtool), *args], cwd=RULES, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


def _rules() -> list[dict[str, Any]]:
    groups = [group for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]]
    return [rule for group in groups for rule in group["rules"]]


def _tests() -> list[dict[str, Any]]:
    return [test for path in TEST_FILES for test in yaml.safe_load(path.read_text())["tests"]]


def test_promtool_checks_every_rule_file(promtool: Path) -> None:
    _promtool(promtool, "check", "rules", *(p.name for p in RULE_FILES))


def test_promtool_unit_tests_pass(promtool: Path) -> None:
    assert TEST_FILES
    _promtool(promtool, "test", "rules", *(str(p.relative_to(RULES)) for p in TEST_FILES))


def test_every_recorded_series_is_checked_by_a_promql_test() -> None:
    tested = {case["expr"] for test in _tests() for case in test.get("promql_expr_test", [])}
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    assert recorded - tested == set()


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [case for test in _tests() for case in test.get("alert_rule_test", [])]
    for alert in (rule["alert"] for rule in _rules() if "alert" in rule):
        outcomes = {bool(case.get("exp_alerts")) for case in cases if case["alertname"] == alert}
        assert outcomes == {True, False}, f"{alert}: needs a case where it fires and one where it does not"


def test_every_alert_has_severity_summary_description_and_a_runbook_section() -> None:
    anchors = {_anchor(heading) for heading in re.findall(r"^#+ (.+)$", _runbook_text(), flags=re.MULTILINE)}
    for rule in (rule for rule in _rules() if "alert" in rule):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        assert annotations["runbook_url"] == RUNBOOK + rule["alert"].lower(), rule["alert"]
        assert rule["alert"].lower() in anchors, f"{rule['alert']}: no section for it in {RUNBOOK_PAGES}"


def test_every_recorded_series_is_documented() -> None:
    text = _runbook_text()
    for name in {rule["record"] for rule in _rules() if "record" in rule}:
        assert f"`{name}`" in text, f"{name} is not described in {RUNBOOK_PAGES}"


def test_the_chart_ships_the_current_rules() -> None:
    assert rules.differences(ROOT) == [], "the chart's copies differ from dashboards/rules: run `make rules`"


def test_rules_command_writes_and_removes_copies(tmp_path: Path) -> None:
    (tmp_path / rules.SOURCE).mkdir(parents=True)
    (tmp_path / rules.SOURCE / "a.yml").write_text("groups: []\n")
    (tmp_path / rules.CHART_COPY).mkdir(parents=True)
    (tmp_path / rules.CHART_COPY / "gone.yml").write_text("groups: []\n")
    assert rules.write(tmp_path) == [rules.CHART_COPY / "a.yml", rules.CHART_COPY / "gone.yml"]
    assert [p.name for p in (tmp_path / rules.CHART_COPY).iterdir()] == ["a.yml"]
    assert rules.differences(tmp_path) == []


def _runbook_text() -> str:
    return "\n".join(page.read_text() for page in RUNBOOK_PAGES if page.is_file())


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
