"""The generated Grafana JSON: committed files up to date (dashboards/grafana and the chart's copy), the Grafana
model each dashboard becomes, the provisioning files that go with it, and the generator's command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridpipe_dashboards import generate
from gridpipe_dashboards.grafana import INFLUXDB_UID, PROMETHEUS_UID, grafana_json, panel_datasource
from gridpipe_dashboards.model import Panel, Query
from gridpipe_dashboards.panels import DASHBOARDS, PIPELINE_HEALTH

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "dashboards" / "provisioning"


def grafana(name: str) -> dict[str, Any]:
    loaded = json.loads((ROOT / "dashboards" / "grafana" / f"{name}.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_committed_dashboards_are_what_the_definitions_generate() -> None:
    """The drift check: dashboards/grafana/*.json and charts/gridpipe/files/dashboards/*.json as generated now."""
    for path, text in generate.rendered().items():
        committed = ROOT / path
        assert committed.is_file(), f"{path} is missing: run `make dashboards`"
        assert committed.read_text() == text, f"{path} is out of date: run `make dashboards`"
    assert not generate.stale(ROOT), f"{generate.stale(ROOT)} no longer generated: run `make dashboards`"


def test_generator_writes_changed_files_and_removes_stale_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "charts/gridpipe").mkdir(parents=True)
    (tmp_path / "charts/gridpipe/Chart.yaml").write_text("name: gridpipe\n")
    (tmp_path / "dashboards/grafana").mkdir(parents=True)
    (tmp_path / "dashboards/grafana/retired.json").write_text("{}")
    generate.main(["--root", str(tmp_path)])
    assert "removed dashboards/grafana/retired.json" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "dashboards/grafana").iterdir()} == {f"{d.name}.json" for d in DASHBOARDS}
    generate.main(["--root", str(tmp_path)])
    assert "3 dashboards, 0 file(s) changed" in capsys.readouterr().out


def test_generator_refuses_a_directory_that_is_not_the_repository(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not the gridpipe repository root"):
        generate.main(["--root", str(tmp_path)])


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.name)
def test_every_panel_and_query_reads_a_datasource_variable_of_the_dashboard(dashboard: Any) -> None:
    model = grafana(dashboard.name)
    assert model["uid"] == dashboard.uid
    variables = {v["name"]: v for v in model["templating"]["list"]}
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert len(panels) == len(dashboard.panels)
    for panel in panels:
        for ref in (panel["datasource"], *(t["datasource"] for t in panel["targets"])):
            variable = variables[ref["uid"].strip("${}")]
            assert variable["type"] == "datasource" and variable["query"] == ref["type"], panel["title"]
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))


def test_pipeline_health_refreshes_every_5s_and_selects_pipeline_and_namespace() -> None:
    model = grafana(PIPELINE_HEALTH.name)
    assert model["refresh"] == "5s"
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["pipeline"]["query"] == "label_values(gridpipe:source_records:rate1m, pipeline)"
    assert variables["namespace"]["includeAll"] is True
    assert variables["namespace"]["allValue"] == ".*"
    assert variables["datasource"]["current"]["value"] == PROMETHEUS_UID


def test_flux_panels_send_their_query_to_the_influxdb_datasource() -> None:
    model = grafana("detection")
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["influxdb"]["current"]["value"] == INFLUXDB_UID
    assert variables["bucket"]["query"] == "gridpipe"
    top = next(p for p in model["panels"] if p["title"] == "Top sensors by alerts")
    assert top["type"] == "table"
    (target,) = top["targets"]
    assert target["datasource"] == {"type": "influxdb", "uid": "${influxdb}"}
    assert target["query"].startswith('from(bucket: "${bucket}")')


def test_a_panel_mixing_datasources_is_refused() -> None:
    mixed = Panel("m", "Mixed.", "short", "timeseries", (Query("prometheus", "up"), Query("flux", "buckets()")))
    with pytest.raises(ValueError, match="mixes datasources"):
        panel_datasource(mixed)


def test_rendering_is_deterministic() -> None:
    assert [grafana_json(d) for d in DASHBOARDS] == [grafana_json(d) for d in DASHBOARDS]


def test_provisioned_datasources_have_the_uids_the_dashboards_default_to() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "gridpipe.yaml").read_text())
    by_uid = {d["uid"]: d for d in provisioned["datasources"]}
    assert set(by_uid) == {PROMETHEUS_UID, INFLUXDB_UID}
    assert by_uid[PROMETHEUS_UID]["type"] == "prometheus"
    influx = by_uid[INFLUXDB_UID]
    assert influx["type"] == "influxdb"
    assert influx["jsonData"]["version"] == "Flux"
    assert influx["secureJsonData"]["token"] == "${GRIDPIPE_INFLUXDB_TOKEN}", "no token in the file itself"


def test_dashboard_provider_loads_files_from_one_folder() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "dashboards" / "gridpipe.yaml").read_text())
    (provider,) = provisioned["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/gridpipe"
    assert provider["allowUiUpdates"] is False, "the files are generated: edits belong in dashboards/src"
