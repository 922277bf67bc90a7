"""What the console's page costs the browser: Chromium's CPU, the page's frames and its own latency, at an alert rate.

The page is the real one, served by a console on the dev stack, in Debian's headless Chromium. Its WebSocket is
replaced, before any page script, by one that delivers synthetic grid alerts at --rate per second (every
--critical-every-th one critical, which sounds and flashes), and /api/telemetry answers with --meters grid meters in
alert. Nothing upstream runs, so the figures are the page's alone:

  chromium_cores        CPU of Chromium's processes (and busiest threads) per second of wall time, from /proc
  page_per_second       layouts and style recalculations per second (Chromium's own counters)
  handler_to_dom        the page's WebSocket handler -> the alert's row in the DOM
  handler_to_rendered   -> the end of the frame that rendered it

With --trace, a Chromium trace of the run is summarised (bench/chromium_trace.py): where the main thread's time goes.

Run with the dev stack up and nothing else busy:  uv run python bench/console_page_cost.py
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chromium_trace
from common import latency_summary, record
from page_stamps import ROW_STAMPS
from pipelines import stat_cpu_seconds, unique

from consoletesting import CHROMIUM_ARGS, ConsoleProcess, chromium, write_pipeline
from gridpipe_stack.config import StackConfig
from jobtesting import grid_document

# A WebSocket that answers the page's subscription and then sends alerts at RATE a second.
FAKE_SOCKET = """
const RATE = %(rate)f, CRITICAL_EVERY = %(critical_every)d, PIPELINE = %(pipeline)s;
window.__bench = {handled: {}};
class SyntheticSocket extends EventTarget {
  static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
  constructor() {
    super();
    this.readyState = 0;
    setTimeout(() => {
      this.readyState = 1;
      this.dispatchEvent(new Event('open'));
      this.emit({kind: 'hello', pipelines: [PIPELINE], maxLiveRate: 100000});
    }, 10);
  }
  emit(message) { this.dispatchEvent(new MessageEvent('message', {data: JSON.stringify(message)})); }
  send(text) {
    const message = JSON.parse(text);
    if (message.kind !== 'subscribe' || this.timer) return;
    this.emit({kind: 'subscribed', pipelines: [], minLevel: 'low'});
    let n = 0;
    this.timer = setInterval(() => {
      n += 1;
      const critical = CRITICAL_EVERY > 0 && n %% CRITICAL_EVERY === 0;
      const level = critical ? 'critical' : (n %% 3 === 0 ? 'high' : 'medium');
      const severity = {medium: 'WARNING', high: 'ERROR', critical: 'CRITICAL'}[level];
      const now = new Date().toISOString();
      const alert = {
        id: `synthetic-${n}`, pipeline: PIPELINE, profile: 'grid', time: now, severity, level, type: 'zscore',
        sensor: `meter-${(n * 7919) %% 10000}`, quantity: 'voltage', value: 250.5 + (n %% 7),
        description: 'voltage z-score 3.1 over 5m', expected: '230 +/- 2.5 sigma', detectedAt: now,
        receivedAt: Date.now() / 1000,
        original: {meter_id: `meter-${n}`, voltage: 250.5, timestamp: now},
      };
      window.__bench.handled[alert.id] = performance.timeOrigin + performance.now();
      this.emit({kind: 'alert', alert, kafkaAt: Date.now() / 1000, sentAt: Date.now() / 1000});
    }, 1000 / RATE);
  }
  close() { clearInterval(this.timer); }
}
window.WebSocket = SyntheticSocket;
"""


def _chromium_cpu_seconds() -> dict[str, float]:
    """CPU seconds of every Chromium process (keyed 'type') and thread (keyed 'type:thread') since it started."""
    seconds: dict[str, float] = collections.defaultdict(float)
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").split()
            if not command or not command[0].endswith(b"chromium"):
                continue
            kind = next((a.decode().split("=", 1)[1] for a in command if a.startswith(b"--type=")), "browser")
            seconds[kind] += stat_cpu_seconds(proc / "stat")
            for task in (proc / "task").iterdir():
                seconds[f"{kind}:{(task / 'comm').read_text().strip()}"] += stat_cpu_seconds(task / "stat")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return seconds


def _meters(pipeline: str, count: int) -> dict[str, Any]:
    return {
        "rockets": [],
        "meters": [
            {
                "pipeline": pipeline,
                "meterId": f"meter-{i}",
                "level": "medium",
                "severity": "WARNING",
                "type": "zscore",
                "quantity": "voltage",
                "value": 250.1 + i % 5,
                "count": i % 9 + 1,
                "lastTime": "2026-12-02T05:00:00Z",
            }
            for i in range(count)
        ],
    }


def measure(page: Any, browser: Any, args: argparse.Namespace) -> dict[str, Any]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def metrics() -> dict[str, float]:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    time.sleep(args.settle)
    if args.trace:
        browser.start_tracing(page=page, categories=chromium_trace.CATEGORIES)
    cpu_before, page_before, started = _chromium_cpu_seconds(), metrics(), time.monotonic()
    time.sleep(args.seconds)
    cpu_after, page_after, elapsed = _chromium_cpu_seconds(), metrics(), time.monotonic() - started
    trace = json.loads(browser.stop_tracing()) if args.trace else None
    bench = page.evaluate("() => window.__bench")

    cores = {name: (cpu_after[name] - cpu_before.get(name, 0.0)) / elapsed for name in cpu_after}
    processes = {name: round(v, 3) for name, v in cores.items() if ":" not in name and v >= 0.001}
    threads = sorted(((v, name) for name, v in cores.items() if ":" in name and v >= 0.01), reverse=True)
    page_seconds = max(1e-9, page_after["Timestamp"] - page_before["Timestamp"])
    handled = bench["handled"]
    result: dict[str, Any] = {
        "alerts_shown": len(bench["dom"]),
        "chromium_cores": {"total": round(sum(processes.values()), 3), **processes},
        "busiest_threads_cores": {name: round(v, 3) for v, name in threads[:6]},
        "page_per_second": {
            name: round((page_after[name] - page_before[name]) / page_seconds, 1)
            for name in ("LayoutCount", "RecalcStyleCount")
        },
        "handler_to_dom": latency_summary([bench["dom"][i] - t for i, t in handled.items() if i in bench["dom"]]),
        "handler_to_rendered": latency_summary(
            [bench["rendered"][i] - t for i, t in handled.items() if i in bench["rendered"]]
        ),
    }
    if trace is not None:
        result["chromium_trace"] = chromium_trace.summarize(trace)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rate", type=float, default=120.0, help="alerts per second (SC-002's load, 10,000 readings/s, gives 115-145)"
    )
    parser.add_argument("--critical-every", type=int, default=7, help="every N-th alert is critical; 0 for none")
    parser.add_argument("--meters", type=int, default=300, help="grid meters in alert on the telemetry panel")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to measure")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of alerts before measuring")
    parser.add_argument("--trace", action="store_true", help="record and summarise a Chromium trace")
    parser.add_argument("--label", default="", help="appended to the result's file name")
    args = parser.parse_args()

    stack = StackConfig.from_env()
    directory = Path(tempfile.mkdtemp(prefix="bench-console-page-"))
    document = grid_document(unique("bench-page"), fields=["voltage"], threshold=2.5)
    name = document["metadata"]["name"]
    console = ConsoleProcess(stack, [write_pipeline(directory, document)], directory / "console.log")
    console.start()
    try:
        with chromium() as browser:
            page = browser.new_page()
            page.route(
                "**/api/telemetry",
                lambda route: route.fulfill(
                    status=200, content_type="application/json", body=json.dumps(_meters(name, args.meters))
                ),
            )
            options = {"rate": args.rate, "critical_every": args.critical_every, "pipeline": json.dumps(name)}
            page.add_init_script(FAKE_SOCKET % options + ROW_STAMPS)
            page.goto(console.url + "/")
            page.evaluate("() => window.gridpipeConsole.ready")
            print(f"the console's page at {args.rate:g} alerts/s for {args.seconds:g} s…", flush=True)
            result = measure(page, browser, args)
    finally:
        console.stop()
    record(
        "console-page-cost" + (f"-{args.label}" if args.label else ""),
        {
            **result,
            "alerts_per_second": args.rate,
            "critical_every": args.critical_every,
            "meters_in_alert": args.meters,
            "seconds": args.seconds,
            "browser": f"Debian chromium, headless ({' '.join(CHROMIUM_ARGS)}), Playwright's default 1280x720 page",
            "python": sys.version.split()[0],
            "command": " ".join(["bench/console_page_cost.py", *sys.argv[1:]]),
        },
    )


if __name__ == "__main__":
    main()
