"""The console's pure logic: alert shapes, deduplication, flood control, bounded queues, filters, Flux, settings,
and the token and Origin checks (on a bare Starlette app, no services)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from gridpipe_console.alerts import InvalidAlert, from_grid_event, from_influx_row, from_rocket_message
from gridpipe_console.history import HistoryQuery, alerts_flux, flux_string, parse_csv, severities_at_least
from gridpipe_console.hub import Browser, Hub, parse_subscription
from gridpipe_console.security import SecurityMiddleware
from gridpipe_console.settings import PipelineView, pipelines_from, retention_hours
from gridpipe_schemas.catalog import example
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.pipeline import PRD_RULES, parse_pipeline

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 1, 5, 0, 0, 123000, tzinfo=UTC)


def grid_event(**changes: Any) -> dict[str, Any]:
    return {
        "alert_id": "a-1",
        "pipeline": "grid-demo",
        "anomaly_type": "VOLTAGE_SURGE",
        "severity": "WARNING",
        "field": "voltage",
        "observed_value": 262.5,
        "threshold_used": 2.5,
        "deviation": 3.1,
        "window": {"mean": 230.0, "stddev": 10.0, "count": 120, "length_ms": 300000},
        "original_event": {"meter_id": "MTR-1", "timestamp": T0, "voltage": 262.5, "status": "OK"},
        "detected_at": T0,
        "description": "voltage 3.1 sigma above the mean",
        **changes,
    }


def rocket_alert(**changes: Any) -> dict[str, Any]:
    alert = example("AnomalyAlert") | changes
    return alert


def alert(id_: str, pipeline: str = "p", level: str = "medium", sensor: str = "s") -> dict[str, Any]:
    return {
        "id": id_,
        "pipeline": pipeline,
        "profile": "grid",
        "level": level,
        "severity": "WARNING",
        "type": "VOLTAGE_SURGE",
        "sensor": sensor,
    }


def test_grid_event_becomes_one_alert_shape() -> None:
    shown = from_grid_event(grid_event())
    assert shown["level"] == "medium" and shown["sensor"] == "MTR-1" and shown["time"] == "2026-12-01T05:00:00.123Z"
    assert shown["window"] == {"mean": 230.0, "stddev": 10.0, "count": 120, "lengthMs": 300000}
    assert shown["original"]["timestamp"] == "2026-12-01T05:00:00.123Z" and shown["expected"] == "|z| \u2264 2.5\u03c3"
    json.dumps(shown)  # everything the browser gets is JSON


@pytest.mark.parametrize(
    ("changes", "kind"),
    [({"alert_id": ""}, "missing-field"), ({"severity": "LOUD"}, "unknown-severity")],
)
def test_grid_event_without_its_essentials_is_invalid(changes: dict[str, Any], kind: str) -> None:
    with pytest.raises(InvalidAlert) as invalid:
        from_grid_event(grid_event(**changes))
    assert invalid.value.kind == kind


def test_rocket_alert_is_validated_against_its_json_schema() -> None:
    shown = from_rocket_message(json.dumps(rocket_alert()).encode(), "rocket-demo")
    assert shown["pipeline"] == "rocket-demo" and shown["level"] == shown["severity"]
    assert shown["original"] == example("AnomalyAlert")["originalTelemetry"]
    for value, kind in [(b"{not json", "not-json"), (b"[1]", "not-an-object")]:
        with pytest.raises(InvalidAlert) as invalid:
            from_rocket_message(value, "r")
        assert invalid.value.kind == kind
    with pytest.raises(InvalidAlert) as invalid:
        from_rocket_message(json.dumps(rocket_alert(severity="apocalyptic")).encode(), "r")
    assert invalid.value.kind == "schema:severity"


def test_influx_point_becomes_the_same_alert_shape() -> None:
    row = {
        "_time": "2026-12-01T05:00:00.123Z",
        "_measurement": "grid_anomaly",
        "pipeline": "grid-demo",
        "sensor_id": "MTR-1",
        "anomaly_type": "VOLTAGE_SURGE",
        "severity": "ERROR",
        "field": "voltage",
        "value": "262.5",
        "threshold": "2.5",
        "deviation": "3.1",
        "window_mean": "230",
        "window_stddev": "10",
        "window_samples": "120",
        "window_ms": "300000",
        "alert_id": "a-1",
        "original_event": '{"meter_id": "MTR-1"}',
    }
    shown = from_influx_row(row)
    assert shown["level"] == "high" and shown["value"] == 262.5 and shown["original"] == {"meter_id": "MTR-1"}
    assert shown["window"] == {"mean": 230.0, "stddev": 10.0, "count": 120.0, "lengthMs": 300000.0}


def test_a_rocket_alert_from_history_has_the_description_the_job_wrote() -> None:
    live = from_rocket_message(json.dumps(example("AnomalyAlert")).encode(), "rocket-demo")
    row = {
        "_time": "2026-12-01T05:00:00.123Z",
        "_measurement": "rocket_anomaly",
        "pipeline": "rocket-demo",
        "sensor_id": live["sensor"],
        "anomaly_type": live["type"],
        "severity": live["severity"],
        "parameter": live["quantity"],
        "value": "1",
        "alert_id": "a-2",
    }
    assert from_influx_row(row)["description"] == live["description"]


def collect(hub: Hub) -> tuple[Browser, Callable[[], list[dict[str, Any]]]]:
    browser = hub.connect()

    def drain() -> list[dict[str, Any]]:
        out = []
        while not browser.queue.empty():
            out.append(json.loads(browser.queue.get_nowait()[0]))
        return out

    return browser, drain


def test_duplicates_are_dropped_and_a_flood_is_summarised_per_second() -> None:
    async def scenario() -> list[dict[str, Any]]:
        hub = Hub(max_live_rate=3, queue_size=100)
        _, drain = collect(hub)
        for i in range(10):
            hub.publish(alert(f"a{i}", sensor=f"m{i % 4}"), now=100.2)
        hub.publish(alert("a0"), now=100.5)  # a replay
        hub.tick(now=101.0)
        return drain()

    got = asyncio.run(scenario())
    assert [m["alert"]["id"] for m in got if m["kind"] == "alert"] == ["a0", "a1", "a2"]
    (summary,) = [m for m in got if m["kind"] == "summary"]
    assert summary["count"] == 7 and summary["text"] == "+7 WARNING VOLTAGE_SURGE alerts on 4 meters"


def test_a_slow_browser_gets_a_skipped_marker_and_never_more_than_its_queue() -> None:
    async def scenario() -> tuple[int, list[dict[str, Any]]]:
        hub = Hub(max_live_rate=10_000, queue_size=5)
        browser, drain = collect(hub)
        for i in range(20):
            hub.publish(alert(f"a{i}"), now=100.0)
        size = browser.queue.qsize()
        drain()
        hub.publish(alert("late"), now=100.0)
        return size, drain()

    size, after = asyncio.run(scenario())
    assert size == 5
    assert after[0] == {"kind": "skipped", "count": 15, "text": "15 alerts skipped, reload history"}
    assert after[1]["alert"]["id"] == "late"


def test_filters_choose_pipelines_and_minimum_level() -> None:
    async def scenario() -> list[str]:
        hub = Hub(max_live_rate=100, queue_size=100)
        browser, drain = collect(hub)
        browser.subscription, _ = parse_subscription(
            json.dumps({"kind": "subscribe", "pipelines": ["a"], "minLevel": "high"}), {"a", "b"}
        )
        hub.publish(alert("1", "a", "medium"), now=1.0)
        hub.publish(alert("2", "a", "critical"), now=1.0)
        hub.publish(alert("3", "b", "critical"), now=1.0)
        return [m["alert"]["id"] for m in drain()]

    assert asyncio.run(scenario()) == ["2"]


def test_a_browser_that_subscribes_late_gets_the_recent_alerts_it_wants() -> None:
    async def scenario() -> list[str]:
        hub = Hub(max_live_rate=100, queue_size=100)
        hub.publish(alert("1", "a", "low"), now=1.0)
        hub.publish(alert("2", "a", "critical"), now=1.0)
        hub.publish(alert("3", "b", "critical"), now=1.0)
        browser, drain = collect(hub)
        browser.subscription, _ = parse_subscription('{"kind": "subscribe", "pipelines": ["a"]}', {"a", "b"})
        hub.replay(browser)
        return [m["alert"]["id"] for m in drain()]

    assert asyncio.run(scenario()) == ["1", "2"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{oops", "not JSON"),
        ('{"kind": "shout"}', "unknown message"),
        ('{"kind": "subscribe", "minLevel": "loud"}', "minLevel must be one of"),
        ('{"kind": "subscribe", "pipelines": ["nope"]}', "no such pipeline: nope"),
        ('{"kind": "subscribe", "pipelines": "a"}', "must be a list"),
    ],
)
def test_bad_subscriptions_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_subscription(text, {"a"})


def test_flux_keeps_user_input_in_strings() -> None:
    assert flux_string('a"b\\c${x}') == '"a\\"b\\\\c\\${x}"'
    view = PipelineView(name="p", profile="grid", topic="t", influx_bucket="gridpipe")
    flux = alerts_flux("gridpipe", HistoryQuery((view,), min_level="high", sensor='x") |> drop()'), retention(24))
    assert 'r.sensor_id == "x\\") |> drop()"' in flux and "limit(n: 100)" in flux
    assert set(severities_at_least("high")) == {"ERROR", "CRITICAL", "high", "critical"}
    assert parse_csv(",result,table,a\r\n,_result,0,1\r\n\r\n,result,table,b\r\n,_result,1,2\r\n") == [
        {"": "", "result": "_result", "table": "0", "a": "1"},
        {"": "", "result": "_result", "table": "1", "b": "2"},
    ]


def test_flux_filters_are_ones_influxdb_pushes_down_to_its_index() -> None:
    views = tuple(PipelineView(name=n, profile="grid", topic="t", influx_bucket="b") for n in ("p2", "p1"))
    paris = datetime(2026, 12, 1, 6, 0, tzinfo=datetime.fromisoformat("2026-12-01T06:00:00+01:00").tzinfo)
    flux = alerts_flux("b", HistoryQuery(views, min_level="critical", until=paris), retention(24))
    assert "contains(" not in flux
    assert '(r.pipeline == "p1" or r.pipeline == "p2")' in flux
    assert '(r.severity == "CRITICAL" or r.severity == "critical")' in flux
    assert "stop: 2026-12-01T05:00:00.000000Z" in flux  # an offset time is asked in UTC


def retention(hours: float) -> Any:
    from datetime import timedelta

    return timedelta(hours=hours)


def test_a_rocket_pipeline_without_rules_shows_the_prd_table() -> None:
    document = {
        "apiVersion": "gridpipe.io/v1alpha1",
        "kind": "GridPipeline",
        "metadata": {"name": "r"},
        "spec": {
            "profile": "rocket",
            "source": {"topic": "t"},
            "outputs": {"anomaliesTopic": "a", "deadLetterTopic": "d"},
            "detection": {},
        },
    }
    view = PipelineView.of(parse_pipeline(document))
    assert view.rules == PRD_RULES and view.describe()["rules"][5]["expectedRange"] == "outside 3400-4000"


def test_single_topic_mode_and_retention_from_the_environment() -> None:
    (only,) = pipelines_from([], {"KAFKA_ANOMALIES_TOPIC": "rocket-anomalies"})
    assert only.topic == "rocket-anomalies" and only.profile == "rocket" and only.rules == PRD_RULES
    with pytest.raises(GridpipeError, match="no pipeline to show"):
        pipelines_from([], {})
    assert retention_hours({}) == 24.0 and retention_hours({"ANOMALY_ALERT_RETENTION_HOURS": "6"}) == 6.0
    with pytest.raises(GridpipeError, match="ANOMALY_ALERT_RETENTION_HOURS=soon"):
        retention_hours({"ANOMALY_ALERT_RETENTION_HOURS": "soon"})


TOKEN = "0123456789abcdef0123"


def guarded_app() -> Starlette:
    async def page(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("page")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app = Starlette(routes=[Route("/", page), Route("/api/x", page), WebSocketRoute("/ws", socket)])
    app.add_middleware(SecurityMiddleware, token=TOKEN)
    return app


def test_token_guards_page_api_and_websocket() -> None:
    client = TestClient(guarded_app(), base_url="http://console.test")
    refused = client.get("/api/x")
    assert refused.status_code == 401 and "Authorization: Bearer" in refused.json()["error"]
    assert client.get("/").status_code == 401
    assert "content-security-policy" in refused.headers
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_text()
    assert client.get("/api/x", headers={"Authorization": f"Bearer {TOKEN}"}).text == "page"
    opened = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert opened.status_code == 303 and "HttpOnly" in opened.headers["set-cookie"]
    assert client.get("/").text == "page"  # the cookie now carries the token
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with client.websocket_connect("/ws", headers={**bearer, "Origin": "http://testserver"}) as ws:
        assert ws.receive_text() == "hi"
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/ws", headers={**bearer, "Origin": "http://evil.test"}) as ws,
    ):
        ws.receive_text()
