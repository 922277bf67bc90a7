"""`gridctl archive query`: DuckDB over a pipeline's Parquet archive on S3.

DuckDB reads S3 through its httpfs extension, which it downloads at run time -- impossible without the internet.
pyarrow's S3FileSystem (in the pyarrow wheel) lists and reads the archive instead; DuckDB scans the Arrow datasets,
pushing filters and projections down into the Parquet reads. See docs/sinks.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gridpipe_jobs.sinks import PARTITION_COLUMNS, dataset_root

if TYPE_CHECKING:
    import duckdb
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

ENDPOINT_ENV = "GRIDPIPE_S3_ENDPOINT"
DATASETS = ("readings", "telemetry", "anomalies")
SENSOR_COLUMNS = ("meter_id", "rocketId")
QUESTIONS = {
    "counts-per-day": "SELECT year, month, day, count(*) AS events FROM events GROUP BY ALL ORDER BY ALL",
    "anomalies-per-meter": "SELECT {sensor} AS sensor_id, count(*) AS anomalies FROM anomalies GROUP BY ALL"
    " ORDER BY anomalies DESC, sensor_id",
    "anomalies-per-type": "SELECT {type} AS anomaly_type, count(*) AS anomalies FROM anomalies GROUP BY ALL"
    " ORDER BY anomalies DESC",
}


class ArchiveError(RuntimeError):
    """The archive cannot be read; ``str()`` names the problem and the fix."""


@dataclass(frozen=True)
class S3Access:
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"

    @classmethod
    def resolve(cls) -> S3Access:
        """GRIDPIPE_S3_ENDPOINT with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when set, else gridctl's endpoints."""
        endpoint = os.environ.get(ENDPOINT_ENV)
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if endpoint and key and secret:
            return cls(endpoint, key, secret, os.environ.get("AWS_REGION", "us-east-1"))
        from gridpipe_schemas.endpoints import resolve_endpoints

        found = resolve_endpoints().s3
        return cls(found.endpoint, found.access_key, found.secret_key, found.region)

    def filesystem(self) -> pafs.S3FileSystem:
        from pyarrow import fs as pafs

        scheme, _, host = self.endpoint.partition("://")
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            endpoint_override=host or scheme,
            scheme=scheme if host else "http",
            connect_timeout=5,
            request_timeout=30,
        )


def open_dataset(filesystem: pafs.FileSystem, root: str) -> ds.Dataset | None:
    """The committed Parquet files under ``root`` (Hive partitions year/month/day); None when there are none.

    In-progress files start with '.', partition markers with '_': pyarrow's default ignore_prefixes skips both.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import fs as pafs

    info = filesystem.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        return None
    partitioning = ds.partitioning(pa.schema([(p, pa.string()) for p in PARTITION_COLUMNS]), flavor="hive")
    return ds.dataset(root, filesystem=filesystem, format="parquet", partitioning=partitioning)


@contextmanager
def connect(
    filesystem: pafs.FileSystem, bucket: str, prefix: str, pipeline: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the pipeline's datasets as views; ``events`` is readings or telemetry."""
    import duckdb

    connection = duckdb.connect()
    try:
        found = {}
        for name in DATASETS:
            dataset = open_dataset(filesystem, dataset_root(bucket, prefix, pipeline, name))
            if dataset is not None:
                connection.register(name, dataset)
                found[name] = dataset
        if not found:
            raise ArchiveError(
                f"no archive of pipeline {pipeline} under s3://{dataset_root(bucket, prefix, pipeline, '')} -- fix: "
                "check the pipeline name, --bucket and --prefix, and that spec.sinks.archive.enabled is true"
            )
        events = "readings" if "readings" in found else "telemetry" if "telemetry" in found else None
        if events:
            connection.execute(f"CREATE VIEW events AS SELECT * FROM {events}")  # noqa: S608 -- a constant name
        yield connection
    finally:
        connection.close()


def question_sql(question: str, connection: duckdb.DuckDBPyConnection) -> str:
    template = QUESTIONS[question]
    tables = {
        row[0]
        for row in connection.execute(
            "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()"
        ).fetchall()
    }
    needed = "events" if "FROM events" in template else "anomalies"
    if needed not in tables:
        raise ArchiveError(f"the archive has no {needed} yet -- fix: wait for the job's next checkpoint")
    columns = {row[0] for row in connection.execute(f"DESCRIBE {needed}").fetchall()}
    sensor = next((c for c in SENSOR_COLUMNS if c in columns), "NULL")
    kind = "anomaly_type" if "anomaly_type" in columns else "anomalyType"
    return template.format(sensor=f'"{sensor}"', type=f'"{kind}"')


def run_query(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import duckdb

    try:
        result = connection.execute(sql)
    except duckdb.Error as error:
        raise ArchiveError(
            f"DuckDB rejected the query: {error} -- fix: query the tables events, readings/telemetry, anomalies"
        ) from error
    columns = [d[0] for d in result.description or []]
    return columns, result.fetchall()


app = typer.Typer(help="The Parquet archive of pipelines on S3.", no_args_is_help=True)


@app.callback()
def archive() -> None:
    """The Parquet archive of pipelines on S3 (docs/sinks.md)."""


@app.command()
def query(
    pipeline: Annotated[str | None, typer.Argument(help="The pipeline's metadata.name (or give -f).")] = None,
    file: Annotated[
        Path | None, typer.Option("-f", "--file", help="GridPipeline YAML: its name, bucket and prefix.")
    ] = None,
    question: Annotated[str | None, typer.Option("--question", "-q", help=f"One of: {', '.join(QUESTIONS)}.")] = None,
    sql: Annotated[
        str | None,
        typer.Option("--sql", help="Free DuckDB SQL over the tables events, readings/telemetry and anomalies."),
    ] = None,
    bucket: Annotated[str, typer.Option(help="spec.sinks.archive.bucket")] = "gridpipe-archive",
    prefix: Annotated[str, typer.Option(help="spec.sinks.archive.prefix")] = "",
    limit: Annotated[int, typer.Option(help="Print at most this many rows.")] = 100,
) -> None:
    """Answer a question about a pipeline's archive with DuckDB: counts per day, anomalies per meter, or free SQL."""
    if (question is None) == (sql is None):
        typer.echo("error: give exactly one of --question and --sql -- fix: e.g. --question counts-per-day", err=True)
        raise typer.Exit(2)
    if question is not None and question not in QUESTIONS:
        typer.echo(f"error: unknown question {question!r} -- fix: use one of {', '.join(QUESTIONS)}", err=True)
        raise typer.Exit(2)
    if file is not None:
        from gridpipe_schemas.pipeline import PipelineInvalid, load_pipeline

        try:
            loaded = load_pipeline(file)
        except PipelineInvalid as invalid:
            typer.echo(f"error: {invalid}", err=True)
            raise typer.Exit(2) from invalid
        pipeline = loaded.metadata.name
        bucket, prefix = loaded.spec.sinks.archive.bucket, loaded.spec.sinks.archive.prefix
    if pipeline is None:
        typer.echo("error: name the pipeline -- fix: give its metadata.name, or -f with its YAML", err=True)
        raise typer.Exit(2)
    try:
        filesystem = S3Access.resolve().filesystem()
        with connect(filesystem, bucket, prefix, pipeline) as connection:
            text = question_sql(question, connection) if question else str(sql)
            columns, rows = run_query(connection, text)
    except (ArchiveError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo("\t".join(columns))
    for row in rows[:limit]:
        typer.echo("\t".join("" if v is None else str(v) for v in row))
    if len(rows) > limit:
        typer.echo(f"… {len(rows) - limit} more rows (--limit)", err=True)
