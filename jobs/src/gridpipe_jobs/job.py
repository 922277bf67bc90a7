"""Build and submit a pipeline's Flink job. The same code runs under `gridctl run` and under Flink's PythonDriver."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridpipe_jobs.functions_jar import functions_jar
from gridpipe_jobs.sinks import InfluxEndpoint
from gridpipe_jobs.sql.common import JobSql, Wiring
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_schemas import resources
from gridpipe_schemas.catalog import avro
from gridpipe_schemas.pipeline import (
    GridPipeline,
    PipelineInvalid,
    load_pipeline,
    parse_pipeline,
    restored_reads,
    with_env_thresholds,
)

# What the rocket detector's README documents for the Kafka brokers; a --bootstrap-servers option wins over it.
BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"


@dataclass(frozen=True)
class Endpoints:
    """Where the job connects. InfluxDB URL/org as the command line found them (unset: read on the TaskManager); the
    token is never passed: the TaskManager's InfluxDB writer reads it from its own environment."""

    bootstrap: str
    registry_url: str
    influxdb: InfluxEndpoint = field(default_factory=InfluxEndpoint)
    archive_root: str | None = None


def bootstrap_servers(option: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The Kafka brokers: the command-line option if given, else KAFKA_BOOTSTRAP_SERVERS if set and not empty."""
    source = os.environ if env is None else env
    return option or source.get(BOOTSTRAP_ENV) or None


def job_name(pipeline: GridPipeline) -> str:
    return f"gridpipe-{pipeline.metadata.name}"


def register_schemas(pipeline: GridPipeline, registry_url: str) -> dict[str, int]:
    """Register every subject the pipeline uses (idempotent); return subject -> schema id."""
    return {r.subject: r.schema_id for r in resources.register_schemas(pipeline, registry_url, timeout=10.0)}


def wiring(pipeline: GridPipeline, endpoints: Endpoints) -> Wiring:
    """The job's wiring, with the schema ids the registry gives (every subject is registered first)."""
    return wiring_with_ids(pipeline, endpoints, register_schemas(pipeline, endpoints.registry_url))


def wiring_with_ids(pipeline: GridPipeline, endpoints: Endpoints, ids: Mapping[str, int]) -> Wiring:
    """The job's wiring for the schema ids given (subject -> id); the dead-letter subject must have one."""
    return Wiring(
        bootstrap=endpoints.bootstrap,
        registry_url=endpoints.registry_url,
        reading_schema=avro("SensorReading").text,
        anomaly_schema_id=ids.get(f"{pipeline.spec.outputs.anomalies_topic}-value", 0),
        anomaly_schema=avro("AnomalyEvent").text,
        dead_letter_schema_id=ids[f"{pipeline.spec.outputs.dead_letter_topic}-value"],
        dead_letter_schema=avro("DeadLetter").text,
        telemetry_schema=avro("TelemetryMessage").text,
        influxdb=endpoints.influxdb,
        archive_root=endpoints.archive_root,
        made_at_ms=int(time.time() * 1000),
    )


def offline_wiring(pipeline: GridPipeline, endpoints: Endpoints) -> Wiring:
    """The job's wiring without a registry: every schema id 0, as `gridctl pipeline sql` prints it."""
    spec = pipeline.spec
    subjects = (f"{spec.outputs.anomalies_topic}-value", f"{spec.outputs.dead_letter_topic}-value")
    return wiring_with_ids(pipeline, endpoints, dict.fromkeys(subjects, 0))


def checkpoint_timeout_ms(interval_ms: int) -> int:
    """Six intervals, within 30 s..10 min: a checkpoint stuck longer (S3 away: its client retries for minutes)
    expires, and the next one is tried."""
    return min(600_000, max(30_000, 6 * interval_ms))


# Checkpoints that fail or expire never fail the job over. Only the archive's part of the job can stall one (an S3
# outage), and a global restart would stop the alert path with it; the archive's own tasks still restart alone
# (region failover) when their writes fail. GridpipeCheckpointsFailing reports the stall (docs/performance.md).
TOLERABLE_FAILED_CHECKPOINTS = 1_000_000


READ_PARAMETER = "gridpipe.read."


def reads_parameter(pipeline: GridPipeline) -> str:
    """``pipeline.global-job-parameters`` naming the topic of each restored read (Kafka topic names hold no ``:``
    or ``,``)."""
    reads = restored_reads(pipeline)
    return ",".join(f"{READ_PARAMETER}{read.replace(' ', '-')}:{topic}" for read, topic in reads.items())


def reads_of(parameters: dict[str, str]) -> dict[str, str] | None:
    """The restored reads a running job's global job parameters name; None for a job that names none (one made
    before gridpipe recorded them)."""
    reads = {
        key.removeprefix(READ_PARAMETER).replace("-", " "): topic
        for key, topic in parameters.items()
        if key.startswith(READ_PARAMETER)
    }
    return reads or None


def job_config(pipeline: GridPipeline, jar: Path) -> dict[str, str]:
    flink = pipeline.spec.flink
    interval_ms = flink.checkpoint_interval.ms
    return {
        "pipeline.name": job_name(pipeline),
        "pipeline.jars": jar.resolve().as_uri(),
        "parallelism.default": str(flink.parallelism),
        "execution.checkpointing.interval": f"{interval_ms} ms",
        "execution.checkpointing.timeout": f"{checkpoint_timeout_ms(interval_ms)} ms",
        "execution.checkpointing.min-pause": "1 s",
        "execution.checkpointing.tolerable-failed-checkpoints": str(TOLERABLE_FAILED_CHECKPOINTS),
        # A savepoint of the pipeline as it was restores into the pipeline as it is when a spec change (or an
        # upgrade) removed operators: a z-score field or a sink turned off, the archive's detection (docs/operator.md).
        "execution.state-recovery.ignore-unclaimed-state": "true",
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": f"{flink.max_restart_backoff.ms} ms",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff": "100000",
        # Alerts must leave within milliseconds: do not let network buffers wait the default 100 ms to fill.
        "execution.buffer-timeout.interval": "5 ms",
        # Which topics the job's restored reads follow, so that `gridctl run --replace` can tell whether the job of a
        # changed spec may restore this one's state (gridpipe_schemas.pipeline.moved_reads).
        "pipeline.global-job-parameters": reads_parameter(pipeline),
        "table.local-time-zone": "UTC",
        # SQL operators never keep a reference to a record they passed on, so records need not be copied between them.
        "pipeline.object-reuse": "true",
        "table.exec.source.idle-timeout": "5 s",
        # Each INSERT expands the views anew, so without this every sink branch got its own DECODE_READING of each
        # record (three with both sinks on); with it the decoded view is one shared block, decoded once.
        "table.optimizer.reuse-optimize-block-with-digest-enabled": "true",
    }


def build_statements(pipeline: GridPipeline, endpoints: Endpoints) -> JobSql:
    return job_sql(pipeline, wiring(pipeline, endpoints))


@dataclass(frozen=True)
class PreparedJob:
    """A pipeline's job declared in a PyFlink table environment and ready to execute. Declaring it (the client JVM's
    start, the DDL, parsing the INSERTs) takes most of a submit; `gridctl run --replace` does it, and `warm`s the
    planner, while the job it replaces still runs, so that the pipeline is without a job only while this one is
    planned and deployed."""

    name: str
    config: Any
    statement_set: Any

    def warm(self) -> None:
        """Plan the job once without running it, so that `execute` plans it again with the planner's code compiled and
        its caches filled: a replace of the grid example is without a job for 6.7 s instead of 9.7 s (medians)."""
        self.statement_set.explain()

    def execute(self, extra_config: Mapping[str, str] | None = None) -> str:
        """Submit the job (detached), with ``extra_config`` added to its configuration; return its Flink job id."""
        for key, value in (extra_config or {}).items():
            self.config.set(key, value)
        client = self.statement_set.execute().get_job_client()
        if client is None:
            raise RuntimeError(f"Flink accepted {self.name} but returned no job client")
        return str(client.get_job_id())


def prepare(pipeline: GridPipeline, endpoints: Endpoints, extra_config: dict[str, str] | None = None) -> PreparedJob:
    """Declare the pipeline's job in a new PyFlink table environment (its JVM starts here)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment  # starts a JVM: only when needed

    statements = build_statements(pipeline, endpoints)
    env: Any = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().build())
    config = env.get_config()
    for key, value in {**job_config(pipeline, functions_jar()), **(extra_config or {})}.items():
        config.set(key, value)
    for statement in statements.ddl:
        env.execute_sql(statement)
    statement_set = env.create_statement_set()
    for insert in statements.inserts:
        statement_set.add_insert_sql(insert)
    return PreparedJob(job_name(pipeline), config, statement_set)


def submit(pipeline: GridPipeline, endpoints: Endpoints, extra_config: dict[str, str] | None = None) -> str:
    """Submit the pipeline's job (detached) and return its Flink job id."""
    return prepare(pipeline, endpoints, extra_config).execute()


def _pipeline_from_args(file: Path | None, document: str | None) -> GridPipeline:
    if file is not None:
        return load_pipeline(file)
    try:
        parsed = json.loads(document or "")
    except json.JSONDecodeError as error:
        raise PipelineInvalid(
            "--pipeline-json", [f"not JSON ({error}); pass the document as one JSON object"]
        ) from error
    if not isinstance(parsed, dict):
        raise PipelineInvalid("--pipeline-json", ["not a JSON object; pass the GridPipeline document"])
    return parse_pipeline(parsed, "--pipeline-json")


def parse_args(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> argparse.Namespace:
    """The entry point's arguments, with ``bootstrap_servers`` resolved (option, then KAFKA_BOOTSTRAP_SERVERS)."""
    parser = argparse.ArgumentParser(prog="gridpipe_jobs.job", description=main.__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pipeline", type=Path, help="GridPipeline YAML file")
    source.add_argument("--pipeline-json", help="GridPipeline document as JSON (what the operator renders)")
    parser.add_argument("--bootstrap-servers", help=f"Kafka brokers (default: ${BOOTSTRAP_ENV})")
    parser.add_argument("--schema-registry-url", required=True)
    args = parser.parse_args(argv)
    args.bootstrap_servers = bootstrap_servers(args.bootstrap_servers, env)
    if args.bootstrap_servers is None:
        parser.error(f"no Kafka brokers: pass --bootstrap-servers HOST:PORT or set {BOOTSTRAP_ENV}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point for Flink's PythonDriver: `flink run -pym gridpipe_jobs.job (--pipeline F | --pipeline-json J)`."""
    args = parse_args(argv)
    try:
        pipeline = with_env_thresholds(_pipeline_from_args(args.pipeline, args.pipeline_json), os.environ)
    except PipelineInvalid as invalid:
        print(f"error: {invalid}", file=sys.stderr)
        raise SystemExit(2) from invalid
    job_id = submit(
        pipeline,
        Endpoints(args.bootstrap_servers, args.schema_registry_url, InfluxEndpoint.from_env(os.environ)),
    )
    print(f"submitted {job_name(pipeline)} as Flink job {job_id}", file=sys.stderr)


if __name__ == "__main__":
    main()
