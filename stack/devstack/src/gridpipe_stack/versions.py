"""Every pinned version of a real component, in one place.

Changing a Maven pin means regenerating ``artifacts.lock.json`` with ``gridctl stack lock``; the lock holds the
resolved closure of each component with the SHA-256 of every file, and provisioning verifies against it.
PyFlink itself is pinned in ``stack/devstack/pyproject.toml`` (``apache-flink==FLINK``) and locked by uv.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"

KAFKA = "4.2.2"
LOG4J = "2.25.5"
JMX_EXPORTER = "1.0.1"
# 3.1 and later are compiled for Java 21; 3.0.x runs on the Java 17 that Kafka and Flink use.
APICURIO = "3.0.9"
FLINK = "2.2.1"
FLINK_KAFKA_CONNECTOR = "5.0.0-2.2"
# Flink publishes its format and filesystem jars per minor release; 2.2.0 is the newest of the 2.2 line.
FLINK_FORMATS = "2.2.0"
HADOOP_CLIENT = "3.3.6"
JAVA_MIN = 17
# Kubernetes test cluster. The operator API jar carries the Flink operator's CRDs; 1.10.0 is the newest version
# Maven Central serves (1.11 and later are not published there). FlinkDeployment is flink.apache.org/v1beta1 in all.
FLINK_KUBERNETES_OPERATOR = "1.10.0"
# Strimzi 1.x serves KafkaTopic as kafka.strimzi.io/v1 only; its CRD YAMLs are generated from the API classes by its
# crd-generator (a shaded jar), which is compiled for Java 21.
STRIMZI = "1.2.0"
STRIMZI_GENERATOR_JAVA_MIN = 21
# The Prometheus operator's CRDs (PodMonitor, ServiceMonitor, PrometheusRule) for the platform chart's tests: their
# YAML ships in its Go module, fetched as the module zip from the Go module proxy, pinned by SHA-256 and size.
PROMETHEUS_OPERATOR = "v0.85.0"
PROMETHEUS_OPERATOR_ZIP_SHA256 = "0bdb88ed823d0f2e86cf909638439b6ad1da744a228172c7411d9987527dc5d1"
PROMETHEUS_OPERATOR_ZIP_SIZE = 4083849


@dataclass(frozen=True)
class MavenComponent:
    """A set of Maven artifacts provisioned together.

    ``roots`` are coordinates ``group:artifact[:type[:classifier]]:version``. When ``transitive`` is set the lock
    generator resolves their runtime closure, minus any ``group:artifact`` listed in ``exclude``.
    """

    name: str
    roots: tuple[str, ...]
    transitive: bool = False
    exclude: tuple[str, ...] = field(default_factory=tuple)


COMPONENTS: tuple[MavenComponent, ...] = (
    MavenComponent(
        "kafka",
        (
            f"org.apache.kafka:kafka_2.13:{KAFKA}",
            # Kafka's pom leaves the slf4j binding to the distribution; without it the broker logs nothing.
            f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J}",
        ),
        transitive=True,
    ),
    MavenComponent("jmx-exporter", (f"io.prometheus.jmx:jmx_prometheus_javaagent:{JMX_EXPORTER}",)),
    MavenComponent("apicurio", (f"io.apicurio:apicurio-registry-app:tar.gz:all:{APICURIO}",)),
    MavenComponent(
        "flink-lib",
        (
            f"org.apache.flink:flink-sql-connector-kafka:{FLINK_KAFKA_CONNECTOR}",
            f"org.apache.flink:flink-sql-avro-confluent-registry:{FLINK_FORMATS}",
            # flink-sql-parquet (the shaded bundle) is not published for 2.2, so the plain format and its closure.
            f"org.apache.flink:flink-parquet:{FLINK_FORMATS}",
            f"org.apache.hadoop:hadoop-client-api:{HADOOP_CLIENT}",
            f"org.apache.hadoop:hadoop-client-runtime:{HADOOP_CLIENT}",
        ),
        transitive=True,
        # Flink's own lib/ already provides logging; the rest are annotations with no runtime role.
        exclude=(
            "org.slf4j:slf4j-api",
            "com.google.code.findbugs:jsr305",
            "javax.annotation:javax.annotation-api",
            "org.apache.flink:flink-core",
            "org.apache.flink:flink-annotations",
        ),
    ),
    MavenComponent("flink-s3-plugin", (f"org.apache.flink:flink-s3-fs-hadoop:{FLINK_FORMATS}",)),
    MavenComponent(
        "flink-operator-api", (f"org.apache.flink:flink-kubernetes-operator-api:{FLINK_KUBERNETES_OPERATOR}",)
    ),
    # The generator jar is shaded (Jackson, fabric8 model, log4j inside); with the API jar it needs nothing else.
    MavenComponent("strimzi-crd-generator", (f"io.strimzi:crd-generator:{STRIMZI}", f"io.strimzi:api:{STRIMZI}")),
)

# Native servers built from the Go module proxy (gobuild.py); each module's whole graph is pinned by the wrapper
# module under stack/devstack/go/<name>/, whose go.mod must require exactly these versions (a unit test checks).
INFLUXDB = "v2.8.0"
INFLUXDB_PKG_CONFIG = "v0.2.14"  # influxdata's pkg-config, which builds flux's Rust core through cargo
SEAWEEDFS = "v0.0.0-20261109003541-7506e5f91cd6"  # SeaweedFS 4.53; the module publishes pseudo-versions only
KUBERNETES = "v1.37.2"
ETCD = "v3.6.16"
HELM = "v3.22.0"
# helm-unittest (the chart tests' per-template suites), run as a standalone binary rather than a helm plugin.
HELM_UNITTEST = "v1.1.2"
# The OCI runtime the image smoke tests give podman: Debian's crun refuses this machine's hybrid cgroup layout.
RUNC = "v1.5.3"
