"""A pipeline's job as Flink SQL, generated in one pass from its validated GridPipeline. Pure: no Flink, no network.

Grid:   records -> DECODE_READING -> rejected: dead-letter sink
                                  -> readings: ZSCORE per field, equipment status -> alerts -> anomalies topic,
                                                                                             InfluxDB
Rocket: records -> DECODE_TELEMETRY -> rejected: dead-letter sink
                                    -> telemetry: one row per rule that fires -> alerts -> anomalies topic (JSON),
                                                                                          InfluxDB
The archive (when on) reads the records again into a branch of its own (``Branch`` in common.py), not connected to the
alert path: it archives the events, and the alerts (grid: read back from the anomalies topic, each alert id once;
rocket: from its own copy of the rules). The JVM functions the statements call are registered first
(docs/performance.md).
"""

from __future__ import annotations

from gridpipe_jobs.sql.common import Connectors, JobSql, ProductionConnectors, Wiring, with_functions
from gridpipe_jobs.sql.grid import grid_topology
from gridpipe_jobs.sql.rocket import rocket_topology
from gridpipe_schemas.pipeline import GridPipeline


def job_sql(pipeline: GridPipeline, wiring: Wiring, connect: Connectors | None = None) -> JobSql:
    """The job's statements; its tables are the production ones (Kafka, InfluxDB, S3) unless ``connect`` says else."""
    tables = connect or ProductionConnectors(pipeline, wiring)
    topology = grid_topology if pipeline.spec.profile == "grid" else rocket_topology
    return with_functions(topology(pipeline, wiring, tables))
