"""Detection quality on generator-labelled streams: precision and recall per anomaly type.

Grid: a deterministic backlog (2,000 meters, 10 minutes of event time) through two pipelines judging voltage,
current and temperature, at the default threshold k = 2.5 and at k = 4.0. A reading counts toward recall once its
meter's window has warmed up (min_samples readings). Rocket: generated flights through the PRD rule table; every
labelled rule must alert (recall 1.0) and nothing else (precision 1.0), critical ones above all.

Run with the dev stack up:  uv run python bench/detection_quality.py
"""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter, defaultdict
from typing import Any

import fastavro
from common import record
from detection_latency import _drain
from pipelines import grid_pipeline, quiet_cluster, start, unique

from gridpipe_generator.records import parse_label
from gridpipe_generator.run import Generator, GeneratorConfig, build_stream
from gridpipe_jobs import flinkrest
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.catalog import parsed_avro
from gridpipe_schemas.pipeline import parse_pipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from jobtesting import decode_avro, rocket_document

FIELD_OF = {"VOLTAGE": "voltage", "CURRENT": "current", "TEMPERATURE": "temperature"}
MIN_SAMPLES = 30


def _alerts(stack: StackConfig, topic: str) -> list[dict[str, Any]]:
    return decode_avro(stack, _drain(stack, topic))


def _scores(
    truth: dict[tuple[str, int], set[str]], warm: set[tuple[str, int]], alerts: list[dict[str, Any]]
) -> dict[str, dict[str, float]]:
    found: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for alert in alerts:
        reading = alert["original_event"]
        found[alert["anomaly_type"]].add((reading["meter_id"], int(reading["timestamp"].timestamp() * 1000)))
    kinds = sorted({k for kinds in truth.values() for k in kinds} | set(found))
    scores = {}
    for kind in kinds:
        labelled = {key for key, ks in truth.items() if kind in ks}
        judged = labelled & warm if kind != "EQUIPMENT_FAILURE" else labelled
        true_positive = len(found[kind] & labelled)
        scores[kind] = {
            "alerts": len(found[kind]),
            "labelled": len(labelled),
            "precision": round(true_positive / len(found[kind]), 4) if found[kind] else 1.0,
            "recall_after_warm_up": round(len(found[kind] & judged) / len(judged), 4) if judged else 1.0,
        }
    return scores


def grid(stack: StackConfig) -> dict[str, Any]:
    name = unique("bench-quality")
    low = grid_pipeline(f"{name}-k25", threshold=2.5, fields=["voltage", "current", "temperature"])
    high = parse_pipeline(
        {**low.model_dump(by_alias=True, exclude_none=True, mode="json"), "metadata": {"name": f"{name}-k40"}}
    )
    spec = high.model_dump(by_alias=True, exclude_none=True, mode="json")
    spec["spec"]["detection"]["zscore"]["threshold"] = 4.0
    spec["spec"]["outputs"] = {"anomaliesTopic": f"{name}-k40-anomalies", "deadLetterTopic": f"{name}-k40-dlq"}
    high = parse_pipeline(spec)
    cfg = GeneratorConfig(
        PipelineKind.GRID,
        stack.kafka_bootstrap,
        stack.registry_url,
        low.spec.source.topic,
        event_rate=0,
        count=1_200_000,
        meters=2000,
        anomaly_rate=0.002,
        seed=17,
        start_ms=1_767_225_600_000,
        partitions=3,
    )
    ensure_topics(low, stack.kafka_bootstrap)
    Generator(cfg, progress=lambda line: print(line, flush=True)).run()
    jobs = [start(stack, low), start(stack, high)]

    schema = parsed_avro("SensorReading")
    truth: dict[tuple[str, int], set[str]] = {}
    warm: set[tuple[str, int]] = set()
    seen: Counter[str] = Counter()
    for generated in itertools.islice(build_stream(cfg, 1, 0), cfg.count):
        reading: Any = fastavro.schemaless_reader(io.BytesIO(generated.value[5:]), schema, None)
        key = (reading["meter_id"], int(reading["timestamp"].timestamp() * 1000))
        seen[key[0]] += 1
        if seen[key[0]] > MIN_SAMPLES:
            warm.add(key)
        category, kinds = parse_label(generated.label)
        if category == "anomaly":
            truth[key] = set(kinds)
    print("waiting for both pipelines to finish the backlog…", flush=True)
    results = {}
    for pipeline, job_id in zip((low, high), jobs, strict=True):
        results[f"k={pipeline.spec.detection.zscore.threshold}"] = _scores(  # type: ignore[union-attr]
            truth, warm, _alerts(stack, pipeline.spec.outputs.anomalies_topic)
        )
        flinkrest.cancel(stack.flink_url, job_id)
    return {"readings": cfg.count, "meters": cfg.meters, "by_threshold": results}


def rocket(stack: StackConfig) -> dict[str, Any]:
    pipeline = parse_pipeline(rocket_document(unique("bench-rocket")))
    job_id = start(stack, pipeline)
    cfg = GeneratorConfig(
        PipelineKind.ROCKET,
        stack.kafka_bootstrap,
        stack.registry_url,
        pipeline.spec.source.topic,
        event_rate=0,
        count=50_000,
        rockets=5,
        anomaly_rate=0.02,
        seed=9,
        start_ms=1_767_225_600_000,
        partitions=1,
    )
    Generator(cfg, progress=lambda line: print(line, flush=True)).run()
    wanted = {
        (json.loads(r.value)["rocketId"], json.loads(r.value)["missionTime"], kind)
        for r in itertools.islice(build_stream(cfg), cfg.count)
        if r.label.startswith("anomaly:")
        for kind in parse_label(r.label)[1]
    }
    got = {
        (a["rocketId"], a["missionTime"], a["affectedParameter"])
        for a in (json.loads(m.value()) for m in _drain(stack, pipeline.spec.outputs.anomalies_topic))
    }
    flinkrest.cancel(stack.flink_url, job_id)
    per_rule = {}
    for parameter in sorted({w[2] for w in wanted}):
        labelled = {w for w in wanted if w[2] == parameter}
        alerted = {g for g in got if g[2] == parameter}
        per_rule[parameter] = {
            "labelled": len(labelled),
            "alerts": len(alerted),
            "precision": round(len(alerted & labelled) / len(alerted), 4) if alerted else 1.0,
            "recall": round(len(alerted & labelled) / len(labelled), 4) if labelled else 1.0,
        }
    critical_missed = len({w for w in wanted if w[2] == "thrust"} - got)
    return {"messages": cfg.count, "per_rule": per_rule, "critical_false_negatives": critical_missed}


def main() -> None:
    stack = StackConfig.from_env()
    quiet_cluster(stack)
    record("detection-quality", {"grid": grid(stack), "rocket": rocket(stack)})


if __name__ == "__main__":
    main()
