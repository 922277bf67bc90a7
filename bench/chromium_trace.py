"""Where a Chromium page's time goes, from a trace recorded with Playwright's ``browser.start_tracing``.

``summarize`` reads the trace's complete ("X") events and reports, per process and thread, how busy it was (its
top-level tasks), and for the page's main thread how long the frame steps and scripts took, how many frames it
rendered and how long its longest tasks were. Step times are CPU time (the trace's thread time); nested events are
counted inclusively: "Paint" inside a task counts in both.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

CATEGORIES = [
    "toplevel",
    "devtools.timeline",
    "disabled-by-default-devtools.timeline.frame",
    "blink",
    "v8",
]
TOP_LEVEL_TASKS = {"ThreadControllerImpl::RunTask", "RunTask"}
MAIN_THREAD_STEPS = (
    "FireAnimationFrame",
    "FunctionCall",
    "EventDispatch",
    "TimerFire",
    "UpdateLayoutTree",
    "Layout",
    "PrePaint",
    "Paint",
    "Layerize",
    "HitTest",
    "MinorGC",
    "MajorGC",
    "V8.GC_SCAVENGER",
    "V8.GC_MARK_COMPACTOR",
    "ParseHTML",
    "v8.compile",
    "ProxyMain::BeginMainFrame",
)


def _names(events: list[dict[str, Any]]) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    processes: dict[int, str] = {}
    threads: dict[tuple[int, int], str] = {}
    for e in events:
        if e.get("ph") != "M":
            continue
        if e.get("name") == "process_name":
            processes[e["pid"]] = e["args"]["name"]
        elif e.get("name") == "thread_name":
            threads[(e["pid"], e["tid"])] = e["args"]["name"]
    return processes, threads


def summarize(trace: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    processes, threads = _names(events)
    complete = [e for e in events if e.get("ph") == "X" and "dur" in e]
    if not complete:
        return {"error": "the trace has no complete events"}
    start = min(e["ts"] for e in complete)
    end = max(e["ts"] + e["dur"] for e in complete)
    seconds = max(1e-6, (end - start) / 1e6)

    busy: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    for e in complete:
        if e["name"] in TOP_LEVEL_TASKS:
            thread = f"{processes.get(e['pid'], e['pid'])} / {threads.get((e['pid'], e['tid']), str(e['tid']))}"
            busy[thread] += e["dur"] / 1e3
            cpu[thread] += e.get("tdur", e["dur"]) / 1e3

    # The page's main thread: the renderer's CrRendererMain with the most task time.
    mains = [key for key, name in threads.items() if name == "CrRendererMain"]
    main = max(
        mains,
        key=lambda k: sum(e["dur"] for e in complete if (e["pid"], e["tid"]) == k and e["name"] in TOP_LEVEL_TASKS),
        default=None,
    )
    page: dict[str, Any] = {}
    if main is not None:
        on_main = [e for e in complete if (e["pid"], e["tid"]) == main]
        steps: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for e in on_main:
            if e["name"] in MAIN_THREAD_STEPS:
                steps[e["name"]] += e.get("tdur", e["dur"]) / 1e3
                counts[e["name"]] += 1
        tasks = sorted((e["dur"] / 1e3 for e in on_main if e["name"] in TOP_LEVEL_TASKS), reverse=True)
        page = {
            "cpu_ms_per_second": {
                name: round(ms / seconds, 1) for name, ms in sorted(steps.items(), key=lambda i: -i[1])
            },
            "per_second": {name: round(n / seconds, 1) for name, n in sorted(counts.items())},
            "tasks_per_second": round(len(tasks) / seconds, 1),
            "longest_tasks_ms": [round(ms, 1) for ms in tasks[:5]],
            "tasks_over_50ms": sum(1 for ms in tasks if ms > 50),
        }
    return {
        "seconds": round(seconds, 1),
        # Wall time in tasks (includes waiting for a core) and CPU time, per second of trace.
        "busy_ms_per_second_by_thread": {
            name: round(ms / seconds, 1) for name, ms in sorted(busy.items(), key=lambda i: -i[1]) if ms / seconds >= 1
        },
        "cpu_ms_per_second_by_thread": {
            name: round(ms / seconds, 1) for name, ms in sorted(cpu.items(), key=lambda i: -i[1]) if ms / seconds >= 1
        },
        "page_main_thread": page,
    }
