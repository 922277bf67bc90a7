"""The console's ASGI app (Starlette): the page, its JSON API, the alert WebSocket and /metrics.

Starlette rather than FastAPI: the API is five read-only endpoints and a WebSocket, so request models and generated
OpenAPI would add dependencies without removing code. uvicorn serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from gridpipe_console import metrics
from gridpipe_console.alerts import LEVELS, Alert, iso
from gridpipe_console.consumer import AlertConsumer, Telemetry, TelemetryConsumer
from gridpipe_console.history import History, HistoryQuery, HistoryUnavailable, level_counts
from gridpipe_console.hub import Hub, parse_subscription
from gridpipe_console.kubernetes import PipelineWatch
from gridpipe_console.pipeline_health import PanelQueries, PanelRequest, PrometheusUnavailable, dashboard
from gridpipe_console.security import SecurityMiddleware
from gridpipe_console.settings import ConsoleSettings, PipelineView

STATIC = Path(__file__).parent / "static"
TICK_SECONDS = 0.2
METERS_IN_ALERT_FOR = timedelta(minutes=5)
MAX_METERS_SHOWN = 200
MAX_BROWSER_MESSAGE = 4096
log = logging.getLogger("gridpipe.console")


class BadRequest(Exception):
    pass


class MetersInAlert:
    """Grid meters with an alert in the last few minutes: the compact grid view."""

    def __init__(self) -> None:
        self.meters: dict[tuple[str, str], dict[str, Any]] = {}

    def note(self, alert: Alert) -> None:
        if alert["profile"] != "grid":
            return
        key = (alert["pipeline"], alert["sensor"])
        known = self.meters.pop(key, None)
        count = known["count"] + 1 if known else 1
        self.meters[key] = {
            "pipeline": alert["pipeline"],
            "meterId": alert["sensor"],
            "level": alert["level"],
            "severity": alert["severity"],
            "type": alert["type"],
            "quantity": alert["quantity"],
            "value": alert["value"],
            "count": count,
            "lastTime": alert["time"],
            "seen": time.monotonic(),
        }
        while len(self.meters) > 10 * MAX_METERS_SHOWN:
            self.meters.pop(next(iter(self.meters)))

    def current(self) -> list[dict[str, Any]]:
        horizon = time.monotonic() - METERS_IN_ALERT_FOR.total_seconds()
        recent = [m for m in reversed(self.meters.values()) if m["seen"] >= horizon][:MAX_METERS_SHOWN]
        return [{k: v for k, v in m.items() if k != "seen"} for m in recent]


class Console:
    """Everything one running console holds."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.hub = Hub(settings.max_live_rate, settings.queue_size)
        self.meters = MetersInAlert()
        self.hub.listeners.append(self.meters.note)
        self.telemetry = Telemetry()
        self.alerts: AlertConsumer | None = None
        self.telemetry_consumer: TelemetryConsumer | None = None
        self.client: httpx.AsyncClient | None = None
        self.history: History | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        self.client = httpx.AsyncClient()
        self.history = History(self.settings.influxdb, self.settings.retention_hours, self.client)

        def deliver(alert: Alert, kafka_time: float | None) -> None:
            loop.call_soon_threadsafe(self.hub.publish, alert, kafka_time)

        self.alerts = AlertConsumer(self.settings, deliver)
        self.telemetry_consumer = TelemetryConsumer(self.settings, self.telemetry)
        self.alerts.start()
        self.telemetry_consumer.start()
        watch = self._watch_kubernetes()
        ticker = asyncio.create_task(self._tick())
        try:
            yield
        finally:
            ticker.cancel()
            if watch is not None:
                watch.stopping.set()
            self.alerts.stopping.set()
            self.telemetry_consumer.stopping.set()
            await asyncio.to_thread(self.alerts.join, 5)
            await asyncio.to_thread(self.telemetry_consumer.join, 5)
            await self.client.aclose()

    def _watch_kubernetes(self) -> PipelineWatch | None:
        source = self.settings.kubernetes
        if source is None:
            return None
        watch = PipelineWatch(self.settings.pipelines, source.namespace, source.kubeconfig)
        watch.start()
        return watch

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.hub.tick()

    # -- HTTP -----------------------------------------------------------------------------------------------------

    async def page(self, _request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def pipelines(self, _request: Request) -> Response:
        return JSONResponse({"pipelines": [p.describe() for p in self.settings.pipelines.all()]})

    def _chosen(self, request: Request) -> tuple[PipelineView, ...]:
        names = request.query_params.getlist("pipeline")
        pipelines = self.settings.pipelines.all()
        unknown = [n for n in names if self.settings.pipelines.get(n) is None]
        if unknown:
            known = ", ".join(p.name for p in pipelines)
            raise BadRequest(f"no such pipeline: {', '.join(unknown)}; the console knows {known}")
        return tuple(p for p in pipelines if not names or p.name in names)

    async def history_page(self, request: Request) -> Response:
        params = request.query_params
        query = HistoryQuery(
            pipelines=self._chosen(request),
            min_level=_level(params.get("minLevel", "low")),
            anomaly_type=params.get("type") or None,
            sensor=params.get("sensor") or None,
            since=_moment(params.get("since"), "since"),
            until=_moment(params.get("until"), "until"),
            limit=_limit(params.get("limit", "100")),
        )
        assert self.history is not None
        alerts, until = await self.history.alerts(query)
        return JSONResponse({"alerts": alerts, "next": {"until": iso(until)} if until else None})

    async def counts(self, _request: Request) -> Response:
        assert self.history is not None
        counts = await self.history.counts(self.settings.pipelines.all())
        return JSONResponse(
            {"hours": self.settings.retention_hours, "byPipeline": counts, "byLevel": level_counts(counts)}
        )

    async def status(self, _request: Request) -> Response:
        assert self.alerts is not None and self.client is not None
        health = self.alerts.health
        jobs = await self._job_states()
        influx: dict[str, Any] = {"reachable": False, "error": "no InfluxDB is configured"}
        if self.settings.influxdb is not None:
            try:
                ping = await self.client.get(f"{self.settings.influxdb.url}/ping", timeout=2.0)
                influx = {"reachable": ping.status_code < 300, "error": None if ping.status_code < 300 else ping.text}
            except httpx.HTTPError as failed:
                influx = {"reachable": False, "error": str(failed)}
        return JSONResponse(
            {
                "kafka": {"reachable": health.reachable, "error": health.error},
                "influxdb": influx,
                "pipelines": [
                    {
                        "name": p.name,
                        "profile": p.profile,
                        "topic": p.topic,
                        "job": self._job_state(p, jobs),
                        "lag": health.lag.get(p.name),
                        "consumed": health.consumed.get(p.name, 0),
                    }
                    for p in self.settings.pipelines.all()
                ],
            }
        )

    def _job_state(self, view: PipelineView, flink_jobs: dict[str, str] | None) -> str:
        """From the GridPipeline's status on Kubernetes, else from Flink's REST API."""
        reported = self.settings.pipelines.job_state(view.name)
        if reported is not None:
            return reported
        if flink_jobs is None:
            return "unknown"
        return flink_jobs.get(view.job or "", "not running")

    async def _job_states(self) -> dict[str, str] | None:
        """Each Flink job's newest state by name, or None when Flink cannot be asked."""
        if not self.settings.flink_url:
            return None
        assert self.client is not None
        try:
            response = await self.client.get(f"{self.settings.flink_url}/jobs/overview", timeout=2.0)
            jobs = sorted(response.json()["jobs"], key=lambda j: j.get("start-time", 0))
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        return {j["name"]: j["state"] for j in jobs}

    async def telemetry_panel(self, _request: Request) -> Response:
        rockets = []
        for (pipeline, rocket), message in sorted(self.telemetry.latest.items()):
            view = self.settings.pipelines.get(pipeline)
            rules = view.rules if view else ()
            values = {k: v for k, v in message.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            rockets.append(
                {
                    "pipeline": pipeline,
                    "rocketId": rocket,
                    "time": message.get("timestamp"),
                    "values": values,
                    "rules": [
                        {"parameter": r.parameter, "min": r.min, "max": r.max, "expectedRange": r.expected_range}
                        for r in rules
                    ],
                    "firing": sorted(
                        {r.parameter for r in rules if r.parameter in values and r.fires(float(values[r.parameter]))}
                    ),
                }
            )
        return JSONResponse({"rockets": rockets, "meters": self.meters.current()})

    async def metrics_page(self, _request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def pipeline_health_page(self, _request: Request) -> Response:
        return FileResponse(STATIC / "pipeline-health.html", headers={"Cache-Control": "no-store"})

    async def pipeline_health(self, _request: Request) -> Response:
        return JSONResponse({**dashboard(), "prometheus": self.settings.prometheus_url})

    async def pipeline_health_panel(self, request: Request) -> Response:
        params = request.query_params
        pipeline = params.get("pipeline", "")
        if self.settings.pipelines.get(pipeline) is None:
            known = ", ".join(p.name for p in self.settings.pipelines.all())
            raise BadRequest(f"no such pipeline: {pipeline!r}; the console knows {known}")
        minutes = params.get("minutes", "15")
        if not minutes.isdigit():
            raise BadRequest(f"minutes={minutes!r} must be a whole number")
        try:
            panel = PanelRequest(int(request.path_params["index"]), pipeline, minutes=int(minutes))
        except ValueError as bad:
            raise BadRequest(str(bad)) from bad
        assert self.client is not None
        return JSONResponse(await PanelQueries(self.client, self.settings.prometheus_url).panel(panel))

    # -- WebSocket ------------------------------------------------------------------------------------------------

    async def socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        browser = self.hub.connect()
        known = {p.name for p in self.settings.pipelines.all()}
        browser.offer({"kind": "hello", "pipelines": sorted(known), "maxLiveRate": self.settings.max_live_rate})
        sender = asyncio.create_task(_send_queued(websocket, browser.queue))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None or len(text) > MAX_BROWSER_MESSAGE:
                    metrics.BAD_MESSAGES.inc()
                    browser.offer({"kind": "error", "message": "send one JSON subscribe message as text, under 4 KiB"})
                    continue
                known = {p.name for p in self.settings.pipelines.all()}
                try:
                    subscription, unknown = parse_subscription(text, known)
                except ValueError as bad:
                    metrics.BAD_MESSAGES.inc()
                    browser.offer({"kind": "error", "message": str(bad)})
                    continue
                browser.subscription = subscription
                if unknown:
                    metrics.BAD_MESSAGES.inc()
                    browser.offer({"kind": "error", "message": f"no such pipeline: {', '.join(unknown)} (ignored)"})
                browser.offer(
                    {
                        "kind": "subscribed",
                        "pipelines": sorted(subscription.pipelines),
                        "minLevel": subscription.min_level,
                    }
                )
                self.hub.replay(browser)
        finally:
            self.hub.disconnect(browser)
            sender.cancel()


async def _send_queued(websocket: WebSocket, queue: asyncio.Queue[tuple[str, float | None]]) -> None:
    with contextlib.suppress(Exception):  # the receiving side notices the disconnect and cleans up
        while True:
            text, kafka_time = await queue.get()
            if kafka_time is None:
                await websocket.send_text(text)
                continue
            # An alert carries when Kafka appended it and when it left here (epoch seconds): the stages of its delay.
            sent = time.time()
            await websocket.send_text(f'{text[:-1]},"kafkaAt":{kafka_time:.6f},"sentAt":{sent:.6f}}}')
            metrics.PUSHED.inc()
            metrics.DELAY.observe(max(0.0, sent - kafka_time))


def _level(text: str) -> str:
    if text not in LEVELS:
        raise BadRequest(f"minLevel must be one of {', '.join(LEVELS)}, not {text!r}")
    return text


def _moment(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as bad:
        raise BadRequest(f"{name}={text!r} is not an ISO-8601 time; use e.g. 2026-12-01T05:00:00Z") from bad
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise BadRequest(f"limit={text!r} must be a whole number from 1 to 1000")
    return int(text)


async def _bad_request(_request: Request, error: Exception) -> Response:
    return JSONResponse({"error": str(error)}, status_code=400)


async def _history_unavailable(_request: Request, error: Exception) -> Response:
    return JSONResponse({"error": f"history is unavailable: {error}"}, status_code=503)


async def _prometheus_unavailable(_request: Request, error: Exception) -> Response:
    return JSONResponse({"error": str(error)}, status_code=503)


def create_app(settings: ConsoleSettings) -> Starlette:
    console = Console(settings)
    app = Starlette(
        routes=[
            Route("/", console.page),
            Route("/api/pipelines", console.pipelines),
            Route("/api/alerts", console.history_page),
            Route("/api/counts", console.counts),
            Route("/api/status", console.status),
            Route("/api/telemetry", console.telemetry_panel),
            Route("/metrics", console.metrics_page),
            Route("/healthz", console.health),
            Route("/pipeline-health", console.pipeline_health_page),
            Route("/api/pipeline-health", console.pipeline_health),
            Route("/api/pipeline-health/{index:int}", console.pipeline_health_panel),
            WebSocketRoute("/ws", console.socket),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={
            BadRequest: _bad_request,
            HistoryUnavailable: _history_unavailable,
            PrometheusUnavailable: _prometheus_unavailable,
        },
        lifespan=console.lifespan,
    )
    app.state.console = console
    app.add_middleware(SecurityMiddleware, token=settings.token, allowed_origins=settings.allowed_origins)
    return app
