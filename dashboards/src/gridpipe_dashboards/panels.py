"""Every gridpipe dashboard, panel and query: the one definition that the Grafana renderer, the web console and
the query tests read.

The Pipeline health and Detection dashboards read only the recorded `gridpipe:*` series (RECORDED_SERIES, made by
the Prometheus recording rules), each with a `pipeline` label and, on Kubernetes, `namespace`. The Platform
dashboard reads what each service exports itself.
"""

from __future__ import annotations

from gridpipe_dashboards.model import Dashboard, Panel, Query, Row, Variable

RECORDED_SERIES = (
    "gridpipe:source_records:rate1m",
    "gridpipe:decoded_records:rate1m",
    "gridpipe:consumer_lag_records",
    "gridpipe:consumer_lag_seconds",
    "gridpipe:alerts:rate1m",
    "gridpipe:dead_letters:rate1m",
    "gridpipe:alert_latency_seconds_bucket:rate1m",
    "gridpipe:alert_latency_seconds:p99_1m",
    "gridpipe:alert_latency_seconds:p50_1m",
    "gridpipe:alert_source_latency_seconds_bucket:rate1m",
    "gridpipe:alert_source_latency_seconds:p99_1m",
    "gridpipe:job_running",
    "gridpipe:job_restarts",
    "gridpipe:job_uptime_seconds",
    "gridpipe:checkpoint_duration_seconds",
    "gridpipe:checkpoints_failed",
    "gridpipe:checkpoints_completed",
    "gridpipe:backpressure_ratio",
    "gridpipe:influxdb_points:rate1m",
    "gridpipe:archive_lag_records",
    "gridpipe:archive_files",
    "gridpipe:archive_bytes_committed:rate5m",
    "gridpipe:archive_last_commit_age_seconds",
)

SELECTED = 'pipeline="$pipeline", namespace=~"$namespace"'


def prom(expr: str, legend: str = "") -> Query:
    return Query("prometheus", expr, legend)


def of_pipeline(aggregation: str, series: str, by: str = "") -> str:
    """`sum by (severity) (gridpipe:alerts:rate1m{<the selected pipeline>})`."""
    grouping = f" by ({by}) " if by else ""
    return f"{aggregation}{grouping}({series}{{{SELECTED}}})"


def rate(metric: str) -> str:
    return f"rate({metric}[$__rate_interval])"


def pipeline_quantile(quantile: float, recorded_buckets: str) -> str:
    """A quantile of the selected pipeline's recorded histogram buckets (a `..._bucket:rate1m` series)."""
    return f"histogram_quantile({quantile}, {of_pipeline('sum', recorded_buckets, by='le')})"


def p99(histogram_rate: str, by: str = "le") -> str:
    return f"histogram_quantile(0.99, sum by ({by}) ({histogram_rate}))"


def either(local: str, chart: str) -> str:
    """Kafka's JMX metrics are named by the exporter's rules, which differ: the local stack exports every MBean
    with one catch-all rule, the platform chart (templates/10-kafka-metrics-configmap.yaml) names each one. One of
    the two is present, so `or` reads whichever it is."""
    return f"({local}) or ({chart})"


def kafka_meter(name: str, topic: str) -> str:
    """The per-second rate of a broker's BrokerTopicMetrics meter (MessagesInPerSec, BytesInPerSec, ...); `topic`
    is a matcher on the topic label (`topic=""` for the all-topics total)."""
    return either(
        f'rate(kafka_server_brokertopicmetrics_count{{name="{name}", {topic}}}[$__rate_interval])',
        f"rate(kafka_server_brokertopicmetrics_{name.lower()}_total{{{topic}}}[$__rate_interval])",
    )


def kafka_gauge(domain: str, kind: str, name: str) -> str:
    """A broker gauge MBean `kafka.<domain><type=<kind>, name=<name>>`."""
    return either(
        f'kafka_{domain}_{kind.lower()}_value{{name="{name}"}}',
        f"kafka_{domain}_{kind.lower()}_{name.lower()}",
    )


PIPELINE_VARIABLES = (
    Variable(
        "namespace", "Namespace", "query", "label_values(gridpipe:source_records:rate1m, namespace)", include_all=True
    ),
    Variable("pipeline", "Pipeline", "query", "label_values(gridpipe:source_records:rate1m, pipeline)"),
)

# --- Pipeline health

HEALTH_OVERVIEW = Row(
    "Now",
    (
        Panel(
            "Job running",
            "1 while the pipeline's Flink job runs, 0 otherwise.",
            "none",
            "stat",
            (prom(of_pipeline("max", "gridpipe:job_running")),),
            width=4,
        ),
        Panel(
            "Ingestion rate",
            "Records per second the job reads from its source topic (last minute).",
            "recps",
            "stat",
            (prom(of_pipeline("sum", "gridpipe:source_records:rate1m")),),
            width=4,
        ),
        Panel(
            "Alert latency p99",
            "99th percentile, over the last minute, of the time from an event's timestamp to its alert on the "
            "anomalies topic.",
            "s",
            "stat",
            (prom(of_pipeline("max", "gridpipe:alert_latency_seconds:p99_1m")),),
            width=4,
        ),
        Panel(
            "Consumer lag",
            "How far behind its source topic the job reads, in seconds.",
            "s",
            "stat",
            (prom(of_pipeline("max", "gridpipe:consumer_lag_seconds")),),
            width=4,
        ),
        Panel(
            "Restarts",
            "Restarts of the Flink job since it was submitted.",
            "none",
            "stat",
            (prom(of_pipeline("max", "gridpipe:job_restarts")),),
            width=4,
        ),
        Panel(
            "Uptime",
            "Time since the Flink job last started running.",
            "dtdurations",
            "stat",
            (prom(of_pipeline("max", "gridpipe:job_uptime_seconds")),),
            width=4,
        ),
    ),
)

HEALTH_THROUGHPUT = Row(
    "Throughput",
    (
        Panel(
            "Records read and decoded",
            "Records per second read from the source topic, and those decoded successfully; the difference goes to "
            "the dead-letter topic.",
            "recps",
            "timeseries",
            (
                prom(of_pipeline("sum", "gridpipe:source_records:rate1m"), "read"),
                prom(of_pipeline("sum", "gridpipe:decoded_records:rate1m"), "decoded"),
            ),
        ),
        Panel(
            "Dead letters and errors",
            "Records per second sent to the dead-letter topic, by reason: input that does not decode, and points "
            "the InfluxDB sink could not write (SINK_FAILURE).",
            "recps",
            "timeseries",
            (prom(of_pipeline("sum", "gridpipe:dead_letters:rate1m", by="reason"), "{{reason}}"),),
        ),
        Panel(
            "Alerts by severity",
            "Alerts per second written to the anomalies topic, by severity.",
            "cps",
            "timeseries",
            (prom(of_pipeline("sum", "gridpipe:alerts:rate1m", by="severity"), "{{severity}}"),),
        ),
    ),
)

HEALTH_LATENCY = Row(
    "Latency and lag",
    (
        Panel(
            "Alert latency",
            "Time from an event's timestamp to its alert leaving for the anomalies topic: median, 90th and 99th "
            "percentile over the last minute; and the median and 99th percentile from the source record's Kafka "
            "timestamp.",
            "s",
            "timeseries",
            (
                prom(of_pipeline("max", "gridpipe:alert_latency_seconds:p50_1m"), "p50"),
                prom(pipeline_quantile(0.9, "gridpipe:alert_latency_seconds_bucket:rate1m"), "p90"),
                prom(of_pipeline("max", "gridpipe:alert_latency_seconds:p99_1m"), "p99"),
                prom(pipeline_quantile(0.5, "gridpipe:alert_source_latency_seconds_bucket:rate1m"), "p50 from Kafka"),
                prom(of_pipeline("max", "gridpipe:alert_source_latency_seconds:p99_1m"), "p99 from Kafka"),
            ),
        ),
        Panel(
            "Consumer lag (records)",
            "Records in the source topic that the job has not read yet.",
            "short",
            "timeseries",
            (prom(of_pipeline("sum", "gridpipe:consumer_lag_records"), "records behind"),),
        ),
        Panel(
            "Consumer lag (seconds)",
            "How far behind its source topic the job reads, in seconds.",
            "s",
            "timeseries",
            (prom(of_pipeline("max", "gridpipe:consumer_lag_seconds"), "seconds behind"),),
        ),
    ),
)

HEALTH_JOB = Row(
    "Flink job",
    (
        Panel(
            "Checkpoint duration",
            "How long the last completed checkpoint took. Sinks commit on checkpoints (the Parquet archive) or flush "
            "before them (InfluxDB).",
            "s",
            "timeseries",
            (prom(of_pipeline("max", "gridpipe:checkpoint_duration_seconds"), "last checkpoint"),),
            width=6,
        ),
        Panel(
            "Checkpoints",
            "Checkpoints completed and failed since the job was submitted.",
            "short",
            "timeseries",
            (
                prom(of_pipeline("max", "gridpipe:checkpoints_completed"), "completed"),
                prom(of_pipeline("max", "gridpipe:checkpoints_failed"), "failed"),
            ),
            width=6,
        ),
        Panel(
            "Job restarts",
            "Restarts of the Flink job since it was submitted; a rising line is a job failing and recovering.",
            "short",
            "timeseries",
            (prom(of_pipeline("max", "gridpipe:job_restarts"), "restarts"),),
            width=6,
        ),
        Panel(
            "Back-pressure",
            "Share of time the most back-pressured task of the job waits for its downstream (0 to 100 %).",
            "percentunit",
            "timeseries",
            (prom(of_pipeline("max", "gridpipe:backpressure_ratio"), "most back-pressured task"),),
            width=6,
        ),
    ),
)

HEALTH_SINKS = Row(
    "InfluxDB sink",
    (
        Panel(
            "InfluxDB points",
            "The job's InfluxDB sink, per second by outcome: points written and dead-lettered, and batch writes "
            "retried and failed (a batch fails after its retries; its points then go to the dead-letter topic).",
            "cps",
            "timeseries",
            (prom(of_pipeline("sum", "gridpipe:influxdb_points:rate1m", by="outcome"), "{{outcome}}"),),
            width=24,
        ),
    ),
)

HEALTH_ARCHIVE = Row(
    "Parquet archive",
    (
        Panel(
            "Archive committed",
            "Bytes of Parquet committed to S3 per second, as listed in the archive's bucket (files become objects "
            "when a checkpoint completes).",
            "binBps",
            "timeseries",
            (prom(of_pipeline("sum", "gridpipe:archive_bytes_committed:rate5m"), "committed"),),
            width=6,
        ),
        Panel(
            "Archive files",
            "Committed Parquet files in S3, per dataset.",
            "short",
            "timeseries",
            (prom(of_pipeline("sum", "gridpipe:archive_files", by="dataset"), "{{dataset}}"),),
            width=6,
        ),
        Panel(
            "Last archive commit",
            "Age of the newest committed archive file. While records come in it stays near the checkpoint "
            "interval; GridpipeArchiveStalled fires after 15 minutes.",
            "s",
            "timeseries",
            (prom(of_pipeline("max", "gridpipe:archive_last_commit_age_seconds"), "since the newest file"),),
            width=6,
        ),
        Panel(
            "Archive behind",
            "Records of the source topic the archive has not read yet. It reads the topic itself, so it can fall "
            "behind the alerts (S3 away, slow uploads) without delaying them.",
            "short",
            "timeseries",
            (prom(of_pipeline("sum", "gridpipe:archive_lag_records"), "records behind"),),
            width=6,
        ),
    ),
)

PIPELINE_HEALTH = Dashboard(
    name="pipeline-health",
    title="gridpipe / Pipeline health",
    description="One pipeline: ingestion, latency, lag, dead letters, alerts, the Flink job and its sinks.",
    refresh="5s",
    variables=PIPELINE_VARIABLES,
    rows=(HEALTH_OVERVIEW, HEALTH_THROUGHPUT, HEALTH_LATENCY, HEALTH_JOB, HEALTH_SINKS, HEALTH_ARCHIVE),
)

# --- Platform

PLATFORM_SERVICES = Row(
    "Services",
    (
        Panel(
            "Targets up",
            "Scrape targets answering, by Prometheus job (1 per healthy target).",
            "none",
            "timeseries",
            (prom("sum by (job) (up)", "{{job}}"),),
            width=24,
        ),
    ),
)

PLATFORM_KAFKA = Row(
    "Kafka",
    (
        Panel(
            "Messages in by topic",
            "Messages per second the brokers append, by topic.",
            "mps",
            "timeseries",
            (prom("sum by (topic) (" + kafka_meter("MessagesInPerSec", 'topic!=""') + ")", "{{topic}}"),),
        ),
        Panel(
            "Bytes in and out",
            "Bytes per second produced to and fetched from the brokers, all topics.",
            "Bps",
            "timeseries",
            (
                prom("sum(" + kafka_meter("BytesInPerSec", 'topic=""') + ")", "in"),
                prom("sum(" + kafka_meter("BytesOutPerSec", 'topic=""') + ")", "out"),
            ),
        ),
        Panel(
            "Request time p99",
            "99th percentile of the brokers' total time for produce and fetch requests.",
            "ms",
            "timeseries",
            (
                prom(
                    "max by (request) ("
                    + either(
                        'kafka_network_requestmetrics_99thpercentile{name="TotalTimeMs", request=~"Produce|Fetch"}',
                        'kafka_network_requestmetrics_totaltimems{quantile="0.99", request=~"Produce|Fetch"}',
                    )
                    + ")",
                    "{{request}}",
                ),
            ),
        ),
        Panel(
            "Partitions at risk",
            "Under-replicated and offline partitions: both should stay at 0.",
            "short",
            "timeseries",
            (
                prom(
                    "sum(" + kafka_gauge("server", "ReplicaManager", "UnderReplicatedPartitions") + ")",
                    "under-replicated",
                ),
                prom("max(" + kafka_gauge("controller", "KafkaController", "OfflinePartitionsCount") + ")", "offline"),
            ),
            width=12,
        ),
        Panel(
            "Active brokers",
            "Brokers the active KRaft controller counts as registered and not fenced.",
            "short",
            "timeseries",
            (prom("max(" + kafka_gauge("controller", "KafkaController", "ActiveBrokerCount") + ")", "brokers"),),
            width=12,
        ),
    ),
)

PLATFORM_REGISTRY = Row(
    "Apicurio Registry",
    (
        Panel(
            "Registry requests",
            "REST requests per second, by method and status class (2xx, 4xx, 5xx).",
            "reqps",
            "timeseries",
            (
                prom(
                    "sum by (method, status_code_group) (" + rate("rest_requests_count_total") + ")",
                    "{{method}} {{status_code_group}}",
                ),
            ),
        ),
        Panel(
            "Registry request time p99",
            "99th percentile of REST request time, by method.",
            "s",
            "timeseries",
            (prom(p99(rate("rest_requests_seconds_bucket"), by="le, method"), "{{method}}"),),
        ),
        Panel(
            "Registry CPU",
            "CPU used by the registry's process, as a share of the machine's CPUs (Micrometer's process_cpu_usage, "
            "which only the registry exports).",
            "percentunit",
            "timeseries",
            (prom("sum(process_cpu_usage)", "CPU"),),
        ),
    ),
)

PLATFORM_INFLUXDB = Row(
    "InfluxDB",
    (
        Panel(
            "InfluxDB points written",
            "Points per second the storage engine accepted, and those it rejected or dropped.",
            "cps",
            "timeseries",
            (
                prom("sum(" + rate("storage_writer_ok_points_sum") + ")", "written"),
                prom("sum(" + rate("storage_writer_err_points_sum") + ")", "errors"),
                prom("sum(" + rate("storage_writer_dropped_points_sum") + ")", "dropped"),
            ),
        ),
        Panel(
            "InfluxDB API requests",
            "HTTP API requests per second, by path and status class.",
            "reqps",
            "timeseries",
            (
                prom(
                    "sum by (path, status) (" + rate('http_api_requests_total{path=~"/api/v2/.*"}') + ")",
                    "{{path}} {{status}}",
                ),
            ),
        ),
        Panel(
            "InfluxDB disk",
            "Bytes on disk of the storage engine's shards.",
            "bytes",
            "timeseries",
            (prom("sum(storage_shard_disk_size)", "shards"),),
        ),
    ),
)

PLATFORM_S3 = Row(
    "S3 (SeaweedFS)",
    (
        Panel(
            "S3 requests",
            "S3 requests per second, by request type and HTTP status code.",
            "reqps",
            "timeseries",
            (prom("sum by (type, code) (" + rate("SeaweedFS_s3_request_total") + ")", "{{type}} {{code}}"),),
        ),
        Panel(
            "S3 request time p99",
            "99th percentile of S3 request time, by request type.",
            "s",
            "timeseries",
            (prom(p99(rate("SeaweedFS_s3_request_seconds_bucket"), by="le, type"), "{{type}}"),),
        ),
        Panel(
            "S3 bucket size",
            "Bytes stored per bucket (the Parquet archive, Flink's state).",
            "bytes",
            "timeseries",
            (prom("sum by (bucket) (SeaweedFS_s3_bucket_size_bytes)", "{{bucket}}"),),
        ),
    ),
)

PLATFORM_FLINK = Row(
    "Flink cluster",
    (
        Panel(
            "Running jobs",
            "Flink jobs running, summed over JobManagers (on Kubernetes each pipeline has its own).",
            "short",
            "timeseries",
            (prom("sum(flink_jobmanager_numRunningJobs)", "running jobs"),),
            width=6,
        ),
        Panel(
            "Task slots",
            "Task slots of the registered TaskManagers, and those free.",
            "short",
            "timeseries",
            (
                prom("sum(flink_jobmanager_taskSlotsTotal)", "total"),
                prom("sum(flink_jobmanager_taskSlotsAvailable)", "available"),
                prom("sum(flink_jobmanager_numRegisteredTaskManagers)", "TaskManagers"),
            ),
            width=6,
        ),
        Panel(
            "Flink heap",
            "JVM heap in use by JobManagers and TaskManagers.",
            "bytes",
            "timeseries",
            (
                prom("sum(flink_jobmanager_Status_JVM_Memory_Heap_Used)", "JobManager"),
                prom("sum(flink_taskmanager_Status_JVM_Memory_Heap_Used)", "TaskManager"),
            ),
            width=6,
        ),
        Panel(
            "Flink GC time",
            "Milliseconds per second the JVMs spend in garbage collection.",
            "ms",
            "timeseries",
            (
                prom("sum(flink_jobmanager_Status_JVM_GarbageCollector_All_TimeMsPerSecond)", "JobManager"),
                prom("sum(flink_taskmanager_Status_JVM_GarbageCollector_All_TimeMsPerSecond)", "TaskManager"),
            ),
            width=6,
        ),
    ),
)

PLATFORM_OPERATOR = Row(
    "Operator",
    (
        Panel(
            "Reconciles",
            "Reconciles of GridPipelines per second, by what woke them.",
            "ops",
            "timeseries",
            (prom("sum by (trigger) (" + rate("gridpipe_operator_reconciles_total") + ")", "{{trigger}}"),),
            width=6,
        ),
        Panel(
            "Reconcile errors",
            "Reconciles per second that ended in an error, by kind of error.",
            "ops",
            "timeseries",
            (prom("sum by (kind) (" + rate("gridpipe_operator_reconcile_errors_total") + ")", "{{kind}}"),),
            width=6,
        ),
        Panel(
            "Reconcile duration p99",
            "99th percentile of one reconcile, from reading the pipeline to writing its status.",
            "s",
            "timeseries",
            (prom(p99(rate("gridpipe_operator_reconcile_duration_seconds_bucket")), "p99"),),
            width=6,
        ),
        Panel(
            "Pipelines",
            "GridPipelines the operator saw at its last resync.",
            "short",
            "timeseries",
            (prom("max(gridpipe_operator_pipelines)", "pipelines"),),
            width=6,
        ),
    ),
)

PLATFORM_CONSOLE = Row(
    "Console",
    (
        Panel(
            "Console alerts",
            "Alerts per second the console reads from Kafka, by pipeline, and messages it pushes to browsers.",
            "cps",
            "timeseries",
            (
                prom("sum by (pipeline) (" + rate("gridpipe_console_alerts_consumed_total") + ")", "read {{pipeline}}"),
                prom("sum(" + rate("gridpipe_console_alerts_pushed_total") + ")", "pushed"),
            ),
            width=6,
        ),
        Panel(
            "Kafka to browser p99",
            "99th percentile of the delay from an alert's Kafka timestamp to its WebSocket send.",
            "s",
            "timeseries",
            (prom(p99(rate("gridpipe_console_kafka_to_websocket_seconds_bucket")), "p99"),),
            width=6,
        ),
        Panel(
            "Browsers",
            "Browsers connected by WebSocket, and messages dropped per second because a browser's queue was full.",
            "short",
            "timeseries",
            (
                prom("sum(gridpipe_console_browsers)", "browsers"),
                prom("sum(" + rate("gridpipe_console_queue_drops_total") + ")", "drops/s"),
            ),
            width=6,
        ),
        Panel(
            "Console lag",
            "Alerts on each pipeline's anomalies topic that the console has not read yet.",
            "short",
            "timeseries",
            (prom("sum by (pipeline) (gridpipe_console_consumer_lag)", "{{pipeline}}"),),
            width=6,
        ),
    ),
)

PLATFORM = Dashboard(
    name="platform",
    title="gridpipe / Platform",
    description="The services under every pipeline: Kafka, Apicurio Registry, InfluxDB, S3, Flink, the operator "
    "and the console.",
    refresh="30s",
    variables=(),
    rows=(
        PLATFORM_SERVICES,
        PLATFORM_KAFKA,
        PLATFORM_REGISTRY,
        PLATFORM_INFLUXDB,
        PLATFORM_S3,
        PLATFORM_FLINK,
        PLATFORM_OPERATOR,
        PLATFORM_CONSOLE,
    ),
)

# --- Detection

ALERTS_IN_INFLUXDB = """from(bucket: "${bucket}")
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "grid_anomaly" or r._measurement == "rocket_anomaly")
  |> filter(fn: (r) => r.pipeline == "${pipeline}" and r._field == "alert_id")"""

TOP_SENSORS = (
    ALERTS_IN_INFLUXDB
    + """
  |> group(columns: ["sensor_id"])
  |> count()
  |> keep(columns: ["sensor_id", "_value"])
  |> group()
  |> sort(columns: ["_value"], desc: true)
  |> limit(n: 10)
  |> rename(columns: {_value: "alerts"})"""
)

ALERTS_OVER_TIME = (
    ALERTS_IN_INFLUXDB
    + """
  |> group(columns: ["anomaly_type"])
  |> aggregateWindow(every: v.windowPeriod, fn: count, createEmpty: false)"""
)

DETECTION = Dashboard(
    name="detection",
    title="gridpipe / Detection",
    description="What one pipeline detects: alerts by anomaly type and severity (Prometheus), and the sensors "
    "raising most of them (the alert history in InfluxDB).",
    refresh="30s",
    variables=(
        *PIPELINE_VARIABLES,
        Variable("bucket", "InfluxDB bucket", "textbox", default="gridpipe"),
    ),
    rows=(
        Row(
            "Alerts",
            (
                Panel(
                    "Alerts by type",
                    "Alerts per second written to the anomalies topic, by anomaly type.",
                    "cps",
                    "timeseries",
                    (prom(of_pipeline("sum", "gridpipe:alerts:rate1m", by="anomaly_type"), "{{anomaly_type}}"),),
                    width=12,
                ),
                Panel(
                    "Alerts by severity",
                    "Alerts per second written to the anomalies topic, by severity.",
                    "cps",
                    "timeseries",
                    (prom(of_pipeline("sum", "gridpipe:alerts:rate1m", by="severity"), "{{severity}}"),),
                    width=12,
                ),
            ),
        ),
        Row(
            "Alert history (InfluxDB)",
            (
                Panel(
                    "Top sensors by alerts",
                    "The ten sensors (meters, rockets) with the most alerts in the time range, from the pipeline's "
                    "InfluxDB bucket; the time is the event's.",
                    "short",
                    "table",
                    (Query("flux", TOP_SENSORS),),
                    width=8,
                ),
                Panel(
                    "Alerts stored by type",
                    "Alerts in the pipeline's InfluxDB bucket per interval, by anomaly type, at the events' time.",
                    "short",
                    "timeseries",
                    (Query("flux", ALERTS_OVER_TIME),),
                    width=16,
                ),
            ),
        ),
    ),
)

DASHBOARDS = (PIPELINE_HEALTH, PLATFORM, DETECTION)
