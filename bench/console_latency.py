"""Produce -> DOM latency of the web console in a real Chromium, per stage, and the console's CPU per 1,000 alerts/s.

Grid: the generator produces 10,000 readings/s with 0.3 % anomalies into a running grid job; the latency of an alert
is the moment its row is in the page's DOM (a MutationObserver, the page's own clock, epoch) minus the moment the
generator created its reading (gridpipe-produced-at header). Rocket: this script produces telemetry stamped with its
produce time, each message firing one rule. Stages of each alert:

  detect   reading created -> the job raised the alert (AnomalyEvent.detected_at; grid only)
  kafka    -> the console's consumer had it (alert sink, broker, fetch); for the rocket, detect + kafka together
  console  -> its WebSocket send (validation, dedup, fan-out, queue)
  browser  -> its row in the DOM (WebSocket receive, JSON, batching into the next frame, layout), split into
              send -> the page's WebSocket handler, -> the DOM, and -> the end of the frame that rendered the row

All clocks are this machine's. Bars (issue 14): grid p99 < 250 ms (SC-002), aim < 150 ms; rocket < 500 ms from
detection (PRD). CPU: the console process's user+system CPU seconds while it takes about 1,000 alerts/s for
--cpu-seconds, per 1,000 alerts.

Run with the dev stack up and nothing else busy:  uv run python bench/console_latency.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chromium_trace
import fastavro
from common import latency_summary as summary
from common import percentile, record
from paced_load import encode_ahead, replay_paced
from page_stamps import ROW_STAMPS
from pipelines import cpu_seconds, cpu_snapshot, quiet_cluster, remove_bench_data, start, stat_cpu_seconds, unique

from consoletesting import CHROMIUM_ARGS, ConsoleProcess, chromium, produce, telemetry, wait_until, write_pipeline
from gridpipe_generator.records import PRODUCED_AT_HEADER
from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_jobs import flinkrest
from gridpipe_schemas.catalog import parsed_avro
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from jobtesting import grid_document, rocket_document

# Before any page script: the timing each alert message carried and when the page's handler got it, then the rows'
# DOM and rendered stamps.
OBSERVER = (
    """
window.__bench = {timing: {}};
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (event) => {
      const pageAt = performance.timeOrigin + performance.now();
      const m = JSON.parse(event.data);
      if (m.kind === 'alert') window.__bench.timing[m.alert.id] = {
        kafkaAt: m.kafkaAt, sentAt: m.sentAt, receivedAt: m.alert.receivedAt, detectedAt: m.alert.detectedAt,
        time: m.alert.time, sensor: m.alert.sensor, original: m.alert.original, pageAt };
    });
  }
};
"""
    + ROW_STAMPS
)


def _iso_ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1000)


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _page_metrics(cdp: Any) -> dict[str, float]:
    """Chromium's cumulative main-thread timings of the page (seconds), from the DevTools protocol."""
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _services_cpu(console: ConsoleProcess) -> dict[str, float]:
    assert console.process is not None
    return {
        **cpu_snapshot(),
        "console": stat_cpu_seconds(Path(f"/proc/{console.process.pid}/stat")),
        "chromium": cpu_seconds("chromium"),
    }


def renice_chromium(niceness: int) -> int:
    """Set every thread of every Chromium process to ``niceness``; return how many threads were changed."""
    found = subprocess.run(["pgrep", "-f", "chromium"], capture_output=True, text=True).stdout.split()
    changed = 0
    for pid in found:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
                changed += 1
    return changed


def _drain_produced(stack: StackConfig, topic: str) -> dict[tuple[str, int], float]:
    """(meter, event time ms) -> the generator's creation time (epoch ms) of every reading on ``topic``."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": stack.kafka_bootstrap, "group.id": unique("bench"), "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    schema = parsed_avro("SensorReading")
    produced: dict[tuple[str, int], float] = {}
    idle = 0
    while idle < 5:
        batch = consumer.consume(10_000, timeout=1.0)
        idle = idle + 1 if not batch else 0
        for message in batch:
            value = message.value()
            if message.error() or not value or value[0] != 0:
                continue
            reading: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
            stamp = reading["timestamp"]
            millis = int(stamp.timestamp() * 1000) if isinstance(stamp, datetime) else int(stamp)
            headers: dict[str, Any] = dict(message.headers() or [])
            produced[(reading["meter_id"], millis)] = int(headers[PRODUCED_AT_HEADER]) / 1000.0
    consumer.close()
    return produced


def _stages(page: Any, created: dict[str, float]) -> dict[str, Any]:
    """Per-stage latencies of the alerts whose creation time is known (``created``: alert id -> epoch ms)."""
    bench = page.evaluate("() => window.__bench")
    total, to_send, detect, kafka, console, browser = [], [], [], [], [], []
    # The browser stage in three: send -> the page's WebSocket handler, -> the row in the DOM, -> that frame rendered.
    page_receive, to_dom, frame, to_rendered = [], [], [], []
    for alert_id, dom in bench["dom"].items():
        timing = bench["timing"].get(alert_id)
        if alert_id not in created or not timing or timing.get("sentAt") is None:
            continue
        born, received, sent = created[alert_id], timing["receivedAt"] * 1000, timing["sentAt"] * 1000
        total.append(dom - born)
        to_send.append(sent - born)
        if timing.get("detectedAt"):
            detected = _iso_ms(timing["detectedAt"])
            detect.append(detected - born)
            kafka.append(received - detected)
        else:
            kafka.append(received - born)
        console.append(sent - received)
        browser.append(dom - sent)
        if timing.get("pageAt") is not None:
            page_receive.append(timing["pageAt"] - sent)
            to_dom.append(dom - timing["pageAt"])
        rendered = bench["rendered"].get(alert_id)
        if rendered is not None:
            frame.append(rendered - dom)
            to_rendered.append(rendered - born)
    shares = {
        name: round(statistics.fmean(values) / statistics.fmean(total), 3)
        for name, values in (("detect", detect), ("kafka", kafka), ("console", console), ("browser", browser))
        if values and total
    }
    stages = (("detect", detect), ("kafka", kafka), ("console", console), ("browser", browser))
    return {
        "alerts_measured": len(total),
        **summary(total),
        "mean_ms": round(statistics.fmean(total), 1) if total else None,
        # Everything before the browser: what a page on another machine would wait for, less the network.
        "to_websocket_send": summary(to_send),
        "stage_p50_ms": {name: round(percentile(values, 0.5), 1) for name, values in stages if values},
        "stage_p99_ms": {name: round(percentile(values, 0.99), 1) for name, values in stages if values},
        "stage_share_of_mean": shares,
        "browser_stage": {
            "send_to_page_handler": summary(page_receive),
            "page_handler_to_dom": summary(to_dom),
            "dom_to_frame_rendered": summary(frame),
        },
        # To the end of the frame that rendered the row (the bar is measured to the DOM, as the issue defines it).
        "to_frame_rendered": summary(to_rendered),
    }


@contextlib.contextmanager
def watched_pipeline(
    stack: StackConfig, browser: Any, directory: Path, document: dict[str, Any], console_flags: list[str]
) -> Iterator[tuple[GridPipeline, ConsoleProcess, Any]]:
    """The pipeline's job running, a console for it, and a page of that console with the OBSERVER installed."""
    document["spec"]["source"]["startFrom"] = "latest"
    document["spec"]["flink"] = {}
    pipeline = parse_pipeline(document)
    job_id = start(stack, pipeline)
    name = pipeline.metadata.name
    console = ConsoleProcess(stack, [write_pipeline(directory, document)], directory / f"{name}.log")
    console.extra = console_flags
    console.start()
    try:
        wait_until(lambda: console.api("/api/status")["pipelines"][0]["lag"] is not None, 60, "console assigned")
        page = browser.new_page()
        page.add_init_script(OBSERVER)
        page.goto(console.url + "/")
        page.evaluate("() => window.gridpipeConsole.ready")
        yield pipeline, console, page
        page.close()
    finally:
        console.stop()
        flinkrest.cancel(stack.flink_url, job_id)
        remove_bench_data(stack, [pipeline])


def measure_grid(stack: StackConfig, browser: Any, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    document = grid_document(unique("bench-console-grid"), fields=["voltage"], threshold=2.5)
    document["spec"]["source"]["partitions"] = 3
    # 115-145 alerts/s (2.5 sigma also flags ~1.2 % of normal readings): every one goes out live, none summarised
    flags = ["--max-live-rate", "1000"]
    with watched_pipeline(stack, browser, directory, document, flags) as (pipeline, console, page):
        cfg = GeneratorConfig(
            PipelineKind.GRID,
            stack.kafka_bootstrap,
            stack.registry_url,
            pipeline.spec.source.topic,
            event_rate=args.rate,
            duration=args.seconds,
            anomaly_rate=args.anomaly_rate,
            seed=11,
            meters=10_000,
            partitions=3,
        )
        print(f"grid: {args.rate:,} readings/s for {args.seconds:.0f} s into a running job, the console open…")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page_before = _page_metrics(cdp)
        busy_before, total_before = _cpu_times()
        if args.live_generator:
            steady_from_ms = (time.time() + args.warmup) * 1000
            achieved = (
                Generator(cfg, progress=lambda line: print(line, flush=True)).run(threading.Event()).achieved_rate
            )
        else:
            load = encode_ahead(cfg)
            busy_before, total_before = _cpu_times()
            page_before = _page_metrics(cdp)
            steady_from_ms = (load.first_event_at + args.warmup) * 1000
            if args.trace:
                browser.start_tracing(page=page, categories=chromium_trace.CATEGORIES)
            if args.browser_nice is not None:
                print(f"Chromium at niceness {args.browser_nice}: {renice_chromium(args.browser_nice)} threads")
            services_before, load_began = _services_cpu(console), time.monotonic()
            achieved = replay_paced(load, start_at=load.first_event_at)
            services_after, load_seconds = _services_cpu(console), time.monotonic() - load_began
        busy_after, total_after = _cpu_times()
        page_after = _page_metrics(cdp)
        trace = json.loads(browser.stop_tracing()) if args.trace and not args.live_generator else None
        if trace is not None:
            (directory / "chromium-trace.json").write_text(json.dumps(trace))
            print(f"Chromium trace: {directory / 'chromium-trace.json'}", flush=True)
        time.sleep(5)
        print("matching alerts to readings…", flush=True)
        created_at = _drain_produced(stack, pipeline.spec.source.topic)
        timings = page.evaluate("() => window.__bench.timing")
        created = {}
        for alert_id, timing in timings.items():
            original = timing.get("original") or {}
            key = (original.get("meter_id"), _iso_ms(original["timestamp"])) if original.get("timestamp") else None
            if key in created_at and created_at[key] >= steady_from_ms:
                created[alert_id] = created_at[key]
        result = _stages(page, created)
        result["achieved_events_per_second"] = round(achieved)
        seconds = max(1e-9, page_after["Timestamp"] - page_before["Timestamp"])
        result["page_main_thread_share"] = {
            name: round((page_after[name] - page_before[name]) / seconds, 3)
            for name in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
        }
        # How often the page laid out (about once per animation frame that inserted rows) and restyled.
        result["page_per_second"] = {
            name: round((page_after[name] - page_before[name]) / seconds, 1)
            for name in ("LayoutCount", "RecalcStyleCount")
        }
        result["machine_cpu_busy_share"] = round((busy_after - busy_before) / max(1, total_after - total_before), 3)
        result["load"] = "the generator, live" if args.live_generator else "pre-encoded readings, paced"
        if not args.live_generator:
            # Cores each process used while the load ran: on 2 shared cores the browser competes with the pipeline.
            result["cpu_cores_during_load"] = {
                name: round((services_after[name] - services_before[name]) / load_seconds, 2) for name in services_after
            }
        result["browser_niceness"] = args.browser_nice if args.browser_nice is not None else 0
        if trace is not None:
            result["chromium_trace"] = chromium_trace.summarize(trace)
        return result


def measure_rocket(stack: StackConfig, browser: Any, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    document = rocket_document(unique("bench-console-rocket"))
    with watched_pipeline(stack, browser, directory, document, []) as (pipeline, console, page):
        print(f"rocket: {args.rocket_alerts} telemetry messages at 10/s, each firing one rule…", flush=True)
        sent_at: dict[tuple[str, int], float] = {}
        for i in range(args.rocket_alerts):
            now = time.time()
            rocket, stamp = f"Bench-{i % 3}", _stamp(now)
            # fuelLeakRate 60 fires one rule, fuel_leak (medium)
            message = telemetry(rocket, float(i), timestamp=stamp, fuelLeakRate=60.0)
            produce(stack.kafka_bootstrap, pipeline.spec.source.topic, [message])
            sent_at[(rocket, _iso_ms(stamp))] = now * 1000
            time.sleep(0.1)
        time.sleep(3)
        timings = page.evaluate("() => window.__bench.timing")
        created = {
            alert_id: sent_at[(t["sensor"], _iso_ms(t["time"]))]
            for alert_id, t in timings.items()
            if (t["sensor"], _iso_ms(t["time"])) in sent_at
        }
        result = _stages(page, created)

        print(f"console CPU: about 1,000 alerts/s for {args.cpu_seconds:.0f} s…", flush=True)
        assert console.process is not None
        before_cpu, before_alerts = (
            stat_cpu_seconds(Path(f"/proc/{console.process.pid}/stat")),
            console.metric("gridpipe_console_alerts_consumed_total"),
        )
        flood = [
            {**message, "rocketId": f"Cpu-{i % 5}", "missionTime": 1e6 + i, "timestamp": message["timestamp"]}
            for i in range(int(1000 * args.cpu_seconds))
        ]
        for i, m in enumerate(flood):  # distinct event times, so no two alerts share an InfluxDB point
            m["timestamp"] = (
                datetime.fromtimestamp(time.time() + i / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            )
        started = time.monotonic()
        produce(stack.kafka_bootstrap, pipeline.spec.source.topic, flood, per_second=1000)
        wait_until(
            lambda: console.metric("gridpipe_console_alerts_consumed_total") - before_alerts >= len(flood),
            120,
            "flood consumed",
        )
        elapsed = time.monotonic() - started
        cpu = stat_cpu_seconds(Path(f"/proc/{console.process.pid}/stat")) - before_cpu
        consumed = console.metric("gridpipe_console_alerts_consumed_total") - before_alerts
        result["cpu"] = {
            "alerts": int(consumed),
            "seconds": round(elapsed, 1),
            "alerts_per_second": round(consumed / elapsed),
            "cpu_seconds": round(cpu, 2),
            "cpu_seconds_per_1000_alerts": round(cpu / consumed * 1000, 3),
            "share_of_one_core_at_1000_alerts_per_second": round(cpu / consumed * 1000, 3),
        }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=10_000, help="grid readings per second")
    parser.add_argument("--seconds", type=float, default=90.0, help="how long the grid load runs")
    parser.add_argument("--anomaly-rate", type=float, default=0.003)
    parser.add_argument(
        "--warmup", type=float, default=20.0, help="grid alerts on readings of the first N seconds are not measured"
    )
    parser.add_argument("--rocket-alerts", type=int, default=300)
    parser.add_argument("--cpu-seconds", type=float, default=10.0)
    parser.add_argument("--rocket-only", action="store_true", help="skip the grid run (recorded apart)")
    parser.add_argument(
        "--live-generator",
        action="store_true",
        help="generate readings while producing (the generator then competes with the measured pipeline for CPU); "
        "by default they are encoded ahead and only produced during the run",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="record a Chromium trace during the grid load and summarise where the page's threads spent their time "
        "(costs some CPU itself)",
    )
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=None,
        help="run Chromium's threads at this niceness during the grid load (e.g. -10: the browser is not kept waiting "
        "for a core by the pipeline, as on an operator's own machine; the pipeline still shares its cores with it)",
    )
    parser.add_argument("--label", default="", help="appended to the result's file name, so runs do not overwrite")
    args = parser.parse_args()
    stack = StackConfig.from_env()
    cancelled = quiet_cluster(stack)
    directory = Path(tempfile.mkdtemp(prefix="bench-console-"))
    with chromium() as browser:
        grid = {} if args.rocket_only else measure_grid(stack, browser, directory, args)
        print(json.dumps(grid, indent=2), flush=True)
        rocket = measure_rocket(stack, browser, directory, args)
    if args.rocket_only:
        name = "console-latency-rocket"
    else:
        name = "console-latency" if args.rate == 10_000 else f"console-latency-grid-{args.rate}"
        name += "-live-generator" if args.live_generator else ""
    record(
        name + (f"-{args.label}" if args.label else ""),
        {
            "grid": {
                **grid,
                "target_events_per_second": args.rate,
                "warmup_seconds_not_measured": args.warmup,
                "anomaly_rate": args.anomaly_rate,
                "bar_p99_ms": 250,
                "aim_p99_ms": 150,
            },
            "rocket": {**rocket, "bar_ms_from_detection": 500},
            "measured_from": "the reading's creation (grid: gridpipe-produced-at; rocket: produce time) to the row in "
            "the DOM (MutationObserver); stages from AnomalyEvent.detected_at, the console's receive and send stamps",
            "browser": f"Debian chromium, headless ({' '.join(CHROMIUM_ARGS)})",
            "jobs_cancelled_first": cancelled,
            "python": sys.version.split()[0],
            "command": " ".join(["bench/console_latency.py", *sys.argv[1:]]),
        },
    )


if __name__ == "__main__":
    main()
