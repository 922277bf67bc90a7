"""The local stack's services: how each is configured, started, and judged ready.

``plan_services`` is pure apart from writing config files: it turns a StackConfig and an Installation into the
ordered list of Service definitions that the supervisor runs. A new service is a new ``_<name>`` function here
plus its entry in ``plan_services``.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gridpipe_stack import credentials, probes, storage_setup
from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.java import Java
from gridpipe_stack.provision import Installation
from gridpipe_stack.reporter import FACTORY as LOOPBACK_REPORTER_FACTORY


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    ports: dict[str, int]
    probe: probes.Probe
    ready_timeout: float
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None
    stop_timeout: int = 30
    # Runs each time the service has become ready (first-start setup); must be idempotent.
    after_ready: Callable[[], None] | None = None


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


_LOG4J2_CONSOLE = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.kafka.additivity = true
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


# What the dashboards, the docs and the stack's tests read from the broker (names as the catch-all rule makes them:
# kafka_<domain>_<type>_<attribute>). Reading every MBean made each scrape 12,800 series, 8,000 of them percentiles
# of the request-time histograms of every request type, each one a sort of the histogram's sample: 6 % of a core
# all the time, on the cores the pipeline needs.
_KAFKA_JMX_EXPORTER = """\
lowercaseOutputName: true
includeObjectNames:
  - "kafka.server:type=BrokerTopicMetrics,*"
  - "kafka.server:type=ReplicaManager,*"
  - "kafka.controller:type=KafkaController,*"
  - "kafka.network:type=RequestMetrics,request=Produce,*"
  - "kafka.network:type=RequestMetrics,request=Fetch,*"
  - "kafka.network:type=RequestMetrics,request=FetchConsumer,*"
  - "kafka.log:type=Log,name=LogEndOffset,*"
rules:
  - pattern: '.*'
"""


def _kafka(cfg: StackConfig, inst: Installation, java: Java) -> Service:
    conf = cfg.conf_dir / "kafka"
    data = cfg.data_dir / "kafka"
    p = cfg.ports
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{p.kafka_controller}",
        "listeners": f"PLAINTEXT://{HOST}:{p.kafka},CONTROLLER://{HOST}:{p.kafka_controller}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{p.kafka}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Flink's exactly-once producer asks for 1 h transactions; the broker default caps them at 15 min.
        "transaction.max.timeout.ms": "3600000",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
    }
    server = _write(conf / "server.properties", "".join(f"{k}={v}\n" for k, v in properties.items()))
    log4j = _write(conf / "log4j2.properties", _LOG4J2_CONSOLE)
    jmx = _write(conf / "jmx-exporter.yaml", _KAFKA_JMX_EXPORTER)
    classpath = ":".join(str(j) for j in inst.kafka_classpath)
    jvm = [
        str(java.executable),
        "-Xms1g",
        "-Xmx1g",
        # Kafka's own start scripts' collector settings (kafka-run-class.sh): G1 aiming at 20 ms pauses. With G1's
        # default aim of 200 ms, the broker's young collections took 25-45 ms, and up to 180 ms on two busy cores,
        # during which no produce or fetch was answered (docs/performance.md).
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        f"-Xlog:gc:file={cfg.logs_dir / 'kafka-gc.log'}:time,uptime:filecount=4,filesize=20M",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={cfg.logs_dir}",
        f"-javaagent:{inst.jmx_agent}={HOST}:{p.kafka_metrics}:{jmx}",
        "-cp",
        classpath,
    ]
    # Format the KRaft storage on first start only; the cluster id is kept in the stack's config directory.
    cluster_id_file = conf / "cluster-id"
    if not cluster_id_file.exists():
        cluster_id_file.write_text(uuid.uuid4().hex[:22])
    format_cmd = " ".join(
        [
            *jvm[:1],
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id_file.read_text().strip(),
            "-c",
            str(server),
            "--ignore-formatted",
        ]
    )
    launcher = _write(
        conf / "start-kafka.sh",
        "#!/bin/sh\nset -e\n"
        f"[ -f '{data}/meta.properties' ] || {format_cmd} >/dev/null\n"
        f"exec {' '.join(jvm)} kafka.Kafka {server}\n",
    )
    launcher.chmod(0o755)
    return Service(
        name="kafka",
        command=[str(launcher)],
        ports={"broker": p.kafka, "controller": p.kafka_controller, "metrics": p.kafka_metrics},
        probe=probes.kafka_metadata(cfg.kafka_bootstrap),
        ready_timeout=90,
        url=cfg.kafka_bootstrap,
    )


def _apicurio(cfg: StackConfig, inst: Installation, java: Java) -> Service:
    data = cfg.data_dir / "apicurio"
    data.mkdir(parents=True, exist_ok=True)
    settings = {
        "quarkus.http.host": HOST,
        "quarkus.http.port": str(cfg.ports.apicurio),
        # H2 on disk: schema ids must survive a restart or records already in Kafka stop decoding.
        "apicurio.storage.kind": "sql",
        "apicurio.storage.sql.kind": "h2",
        "apicurio.datasource.url": f"jdbc:h2:file:{data}/registry",
        "apicurio.rest.deletion.artifact.enabled": "true",
        "apicurio.rest.deletion.artifact-version.enabled": "true",
        "apicurio.rest.deletion.group.enabled": "true",
        "quarkus.log.console.format": "%d{HH:mm:ss,SSS} %-5p [%c{2.}] %s%e%n",
    }
    return Service(
        name="apicurio",
        command=[
            str(java.executable),
            "-Xms128m",
            "-Xmx768m",
            *(f"-D{k}={v}" for k, v in settings.items()),
            "-jar",
            str(inst.apicurio_jar),
        ],
        ports={"http": cfg.ports.apicurio},
        probe=probes.apicurio_ready(cfg.apicurio_url),
        ready_timeout=120,
        url=cfg.apicurio_url,
        directory=data,
    )


def _flatten(tree: dict[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def flink_settings(cfg: StackConfig) -> dict[str, object]:
    p = cfg.ports
    low, high = p.flink_metrics
    return {
        "jobmanager.rpc.address": HOST,
        "jobmanager.rpc.port": p.flink_rpc,
        "jobmanager.bind-host": HOST,
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.bind-host": HOST,
        "taskmanager.host": HOST,
        "taskmanager.memory.process.size": "2560m",
        # Each job submitted to this session cluster loads its classes anew, and threads that Hadoop's S3A pools
        # start from a job's task keep that job's classloader until they end: with the default 256 MB the
        # TaskManager died of a metaspace OutOfMemoryError after about fifteen jobs (a dev loop, a test session).
        "taskmanager.memory.jvm-metaspace.size": "768m",
        "taskmanager.numberOfTaskSlots": 4,
        "parallelism.default": 1,
        "rest.address": HOST,
        "rest.bind-address": HOST,
        "rest.port": p.flink_rest,
        "metrics.reporter.prom.factory.class": LOOPBACK_REPORTER_FACTORY,
        "metrics.reporter.prom.host": HOST,
        "metrics.reporter.prom.port": f"{low}-{high}",
        # Label values as they are: `job_name` gridpipe-grid-demo gives the pipeline label (docs/observability.md).
        "metrics.reporter.prom.filterLabelValueCharacters": "false",
        "python.executable": str(cfg.python),
        "python.client.executable": str(cfg.python),
        "execution.checkpointing.dir": (cfg.data_dir / "flink" / "checkpoints").as_uri(),
        "execution.checkpointing.savepoint-dir": (cfg.data_dir / "flink" / "savepoints").as_uri(),
        "web.tmpdir": str(cfg.data_dir / "flink" / "web"),
        "io.tmp.dirs": str(cfg.data_dir / "flink" / "tmp"),
        "restart-strategy.type": "exponential-delay",
        # A lost TaskManager is noticed in seconds, not the default 50 s: recovery time is a product target.
        "heartbeat.interval": 2000,
        "heartbeat.timeout": 15000,
        # The REST API's task metrics (read-records, busy time, ...) are at most this old. Flink's default, 10 s,
        # quantised every benchmark's "source has read everything" to 10 s steps.
        "metrics.fetcher.update-interval": 500,
        **flink_s3_settings(cfg),
    }


def flink_s3_settings(cfg: StackConfig) -> dict[str, object]:
    """``s3://`` paths in jobs go to the stack's SeaweedFS (flink-s3-fs-hadoop reads these keys)."""
    s3 = credentials.s3(cfg)
    return {
        "s3.endpoint": s3.endpoint,
        "s3.path.style.access": True,
        "s3.access-key": s3.access_key,
        "s3.secret-key": s3.secret_key,
        # Hadoop S3A otherwise deletes every parent "directory" marker after each file it writes, and Flink commits
        # archive files in the writer's task thread: those deletes held it for up to a second after checkpoints,
        # back-pressuring the source and delaying alerts (docs/sinks.md).
        "s3.directory.marker.retention": "keep",
        # The endpoint is plain HTTP, so the AWS SDK signs every byte of each uploaded part (SigV4 streaming
        # signatures, checked by the server); its extra client-side MD5 pass over the same bytes guards nothing more
        # and cost the archive a tenth of the TaskManager's CPU (docs/sinks.md).
        "env.java.opts.taskmanager": "-Dcom.amazonaws.services.s3.disablePutObjectMD5Validation=true",
    }


def _flink(cfg: StackConfig, inst: Installation, java: Java) -> list[Service]:
    conf = cfg.conf_dir / "flink"
    defaults = yaml.safe_load((inst.flink_home / "conf" / "config.yaml").read_text()) or {}
    settings = {**_flatten(defaults), **flink_settings(cfg)}
    # The configuration holds the S3 secret: owner-only, like the stack's other secrets.
    credentials.write_private(conf / "config.yaml", yaml.safe_dump(settings, sort_keys=True))
    for name in (
        "log4j-console.properties",
        "log4j-cli.properties",
        "log4j.properties",
        "logback-console.xml",
    ):
        _write(conf / name, (inst.flink_home / "conf" / name).read_text())
    env = {
        "JAVA_HOME": str(java.home),
        "FLINK_CONF_DIR": str(conf),
        "FLINK_LOG_DIR": str(cfg.logs_dir / "flink"),
        "FLINK_PID_DIR": str(cfg.run_dir),
        # The InfluxDB sink's writer reads its token here, on the TaskManager: it never travels in the job graph.
        # (supervisord's config, which then holds it, is written owner-only.)
        **credentials.job_environment(cfg),
    }
    for directory in (cfg.logs_dir / "flink", cfg.data_dir / "flink" / "web", cfg.data_dir / "flink" / "tmp"):
        directory.mkdir(parents=True, exist_ok=True)
    bin_dir = inst.flink_home / "bin"
    jobmanager = Service(
        name="flink-jobmanager",
        command=["bash", str(bin_dir / "jobmanager.sh"), "start-foreground"],
        ports={"rest": cfg.ports.flink_rest, "rpc": cfg.ports.flink_rpc},
        probe=probes.flink_jobmanager(cfg.flink_url),
        ready_timeout=90,
        url=cfg.flink_url,
        env=env,
    )
    taskmanager = Service(
        name="flink-taskmanager",
        command=["bash", str(bin_dir / "taskmanager.sh"), "start-foreground"],
        ports={},
        probe=probes.flink_taskmanager(cfg.flink_url),
        ready_timeout=90,
        env=env,
    )
    return [jobmanager, taskmanager]


# Prometheus's recording and alert rules, read in place (docs/observability.md); the platform chart has a copy.
RULES = Path(__file__).resolve().parents[4] / "dashboards" / "rules"


def prometheus_config(cfg: StackConfig) -> dict[str, object]:
    p = cfg.ports

    def job(name: str, targets: list[int], path: str = "/metrics") -> dict[str, object]:
        return {
            "job_name": name,
            "metrics_path": path,
            "static_configs": [{"targets": [f"{HOST}:{port}" for port in targets]}],
        }

    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        # Edited rules take effect on a reload (POST /-/reload) or a restart of Prometheus.
        "rule_files": [str(RULES / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{HOST}:{p.alertmanager}"]}]}]},
        "scrape_configs": [
            job("prometheus", [p.prometheus]),
            job("alertmanager", [p.alertmanager]),
            job("kafka", [p.kafka_metrics]),
            job("flink", list(p.flink_metrics)),
            job("apicurio", [p.apicurio]),
            job("influxdb", [p.influxdb]),
            job("seaweedfs", [p.seaweedfs["metrics"]]),
            job("console", [p.console]),
            job("archive-exporter", [p.archive_exporter]),
        ],
    }


def _prometheus(cfg: StackConfig, inst: Installation) -> Service:
    config = _write(cfg.conf_dir / "prometheus" / "prometheus.yml", yaml.safe_dump(prometheus_config(cfg)))
    return Service(
        name="prometheus",
        command=[
            str(inst.prometheus),
            f"--config.file={config}",
            f"--storage.tsdb.path={cfg.data_dir / 'prometheus'}",
            f"--web.listen-address={HOST}:{cfg.ports.prometheus}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=2d",
        ],
        ports={"http": cfg.ports.prometheus},
        probe=probes.prometheus_ready(cfg.prometheus_url),
        ready_timeout=30,
        url=cfg.prometheus_url,
    )


def alertmanager_config() -> dict[str, object]:
    """One receiver without integrations: alerts are read at /api/v2/alerts or with amtool (Debian's package has no
    web UI)."""
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "namespace", "pipeline"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "default"}],
    }


def _alertmanager(cfg: StackConfig, inst: Installation) -> Service:
    config = _write(cfg.conf_dir / "alertmanager" / "alertmanager.yml", yaml.safe_dump(alertmanager_config()))
    return Service(
        name="alertmanager",
        command=[
            str(inst.alertmanager),
            f"--config.file={config}",
            f"--storage.path={cfg.data_dir / 'alertmanager'}",
            f"--web.listen-address={HOST}:{cfg.ports.alertmanager}",
            f"--web.external-url={cfg.alertmanager_url}",
            # Empty: no gossip port at all (the default listens on every interface at 9094).
            "--cluster.listen-address=",
        ],
        ports={"http": cfg.ports.alertmanager},
        probe=probes.alertmanager_ready(cfg.alertmanager_url),
        ready_timeout=30,
        url=cfg.alertmanager_url,
    )


def _influxdb(cfg: StackConfig, inst: Installation) -> Service:
    data = cfg.data_dir / "influxdb"
    conf = cfg.conf_dir / "influxdb"
    for directory in (data, conf):
        directory.mkdir(parents=True, exist_ok=True)
    return Service(
        name="influxdb",
        command=[
            str(inst.influxd),
            "run",
            f"--bolt-path={data / 'influxd.bolt'}",
            f"--engine-path={data / 'engine'}",
            f"--sqlite-path={data / 'influxd.sqlite'}",
            f"--http-bind-address={HOST}:{cfg.ports.influxdb}",
            "--reporting-disabled",
            "--pprof-disabled",
            "--ui-disabled",
        ],
        ports={"http": cfg.ports.influxdb},
        probe=probes.influxdb_ready(cfg.influxdb_url),
        ready_timeout=60,
        url=cfg.influxdb_url,
        # influxd also reads a config file from its working directory or INFLUXD_CONFIG_PATH: an empty one of ours.
        env={"INFLUXD_CONFIG_PATH": str(conf)},
        directory=data,
        after_ready=lambda: storage_setup.ensure_influxdb_setup(cfg),
    )


def seaweedfs_s3_identities(cfg: StackConfig) -> dict[str, object]:
    s3 = credentials.s3(cfg)
    return {
        "identities": [
            {
                "name": "gridpipe",
                "credentials": [{"accessKey": s3.access_key, "secretKey": s3.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def seaweedfs_command(cfg: StackConfig, weed: Path) -> list[str]:
    """``weed mini`` (master, volume, filer and S3 in one process) with every port explicit and loopback-only."""
    data = cfg.data_dir / "seaweedfs"
    ports = cfg.ports.seaweedfs
    identities = credentials.write_private(
        credentials.secrets_dir(cfg) / "seaweedfs-s3.json", json.dumps(seaweedfs_s3_identities(cfg), indent=2)
    )
    return [
        str(weed),
        "mini",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        # Every S3 bucket is a collection with volumes of its own. A fixed volume count capped the whole store (it
        # was 32 x 64 MB: the archive stopped taking writes at 2 GB); 0 sizes it by the disk's free space instead.
        "-master.volumeSizeLimitMB=256",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        "-volume.max=0",
        "-volume.preStopSeconds=1",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        f"-filer.localSocket={data / 'filer.sock'}",
        f"-s3.port={cfg.ports.s3}",
        f"-s3.port.grpc={ports['s3.grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={data / 's3.sock'}",
        f"-s3.config={identities}",
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={ports['admin.grpc']}",
        "-admin.port.legacy=0",
        f"-metricsIp={HOST}",
        f"-metricsPort={ports['metrics']}",
    ]


def _seaweedfs(cfg: StackConfig, inst: Installation) -> Service:
    data = cfg.data_dir / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    ports = cfg.ports.seaweedfs
    return Service(
        name="seaweedfs",
        command=seaweedfs_command(cfg, inst.weed),
        ports={"s3": cfg.ports.s3, **ports},
        probe=probes.seaweedfs_ready(cfg.s3_endpoint, f"http://{HOST}:{ports['master']}", f"{HOST}:{ports['volume']}"),
        ready_timeout=60,
        url=cfg.s3_endpoint,
        directory=data,
        stop_timeout=20,
        after_ready=lambda: storage_setup.ensure_s3_buckets(cfg),
    )


EXAMPLES = Path(__file__).resolve().parents[4] / "examples"


def _python_module(
    cfg: StackConfig, name: str, *, module: str, args: list[str], port: int, probe_path: str, url_path: str
) -> Service:
    """A service that is one of the workspace's Python modules, run by this interpreter; it reaches the stack through
    the environment that names it."""
    base = f"http://{HOST}:{port}"
    return Service(
        name=name,
        command=[sys.executable, "-m", module, *args],
        ports={"http": port},
        probe=probes.http_ok(f"{base}{probe_path}"),
        ready_timeout=60,
        url=f"{base}{url_path}",
        env=cfg.environment(),
    )


def _console(cfg: StackConfig) -> Service:
    """The web console for the example pipelines (docs/console.md)."""
    port = cfg.ports.console
    examples = ["-f", str(EXAMPLES / "grid.yaml"), "-f", str(EXAMPLES / "rocket.yaml")]
    args = [*examples, "--host", HOST, "--port", str(port)]
    return _python_module(
        cfg, "console", module="gridpipe_console", args=args, port=port, probe_path="/healthz", url_path="/"
    )


def _archive_exporter(cfg: StackConfig) -> Service:
    """Committed archive files and bytes of every pipeline in the stack's archive bucket, observed in S3 for
    Prometheus (docs/observability.md): Flink's filesystem sink exports no such metric."""
    port = cfg.ports.archive_exporter
    args = ["--port", str(port), "--interval", "15"]
    return _python_module(
        cfg,
        "archive-exporter",
        module="gridpipe_stack.archive_exporter",
        args=args,
        port=port,
        probe_path="/metrics",
        url_path="/metrics",
    )


def service_urls(cfg: StackConfig) -> dict[str, str]:
    """Where each service answers, for ``gridctl stack status``."""
    return {
        "kafka": cfg.kafka_bootstrap,
        "apicurio": cfg.registry_url,
        "influxdb": cfg.influxdb_url,
        "seaweedfs": f"{cfg.s3_endpoint} (S3)",
        "flink-jobmanager": cfg.flink_url,
        "prometheus": cfg.prometheus_url,
        "alertmanager": cfg.alertmanager_url,
        "console": f"http://{HOST}:{cfg.ports.console}/",
        "archive-exporter": f"http://{HOST}:{cfg.ports.archive_exporter}/metrics",
    }


def plan_services(cfg: StackConfig, inst: Installation, java: Java) -> list[Service]:
    """All services in start order: each starts after those before it are ready."""
    for directory in (cfg.conf_dir, cfg.logs_dir, cfg.data_dir):
        directory.mkdir(parents=True, exist_ok=True)
    return [
        _kafka(cfg, inst, java),
        _apicurio(cfg, inst, java),
        _influxdb(cfg, inst),
        _seaweedfs(cfg, inst),
        *_flink(cfg, inst, java),
        _prometheus(cfg, inst),
        _alertmanager(cfg, inst),
        _console(cfg),
        _archive_exporter(cfg),
    ]
