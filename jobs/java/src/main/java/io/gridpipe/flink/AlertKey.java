package io.gridpipe.flink;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code ALERT_KEY(key, anomaly_type, severity, event_time, source_time)}: an alert's record key on the anomalies topic
 * (the key's UTF-8 bytes, as {@code CAST(key AS BYTES)} gives), counted and timed as the alert leaves for Kafka.
 *
 * <p>Counts {@code alerts_anomaly_type_severity_emitted} by type and severity, and observes ({@link LatencyBuckets})
 * event time to now in {@code alertLatency} and the source record's Kafka timestamp to now in
 * {@code alertSourceLatency}. Declared not deterministic, so the planner never folds, reuses or repeats the call: it
 * runs once per alert.
 */
public class AlertKey extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final String UNKNOWN = "UNKNOWN";

    private transient MetricGroup alerts;
    private transient Map<String, Counter> emitted;
    private transient LatencyBuckets latency;
    private transient LatencyBuckets sourceLatency;

    @Override
    public void open(FunctionContext context) {
        MetricGroup metrics = context.getMetricGroup();
        alerts = metrics.addGroup("alerts");
        emitted = new HashMap<>();
        latency = new LatencyBuckets(metrics.addGroup("alertLatency"));
        sourceLatency = new LatencyBuckets(metrics.addGroup("alertSourceLatency"));
    }

    public @DataTypeHint("BYTES") byte[] eval(
            String key, String anomalyType, String severity, @DataTypeHint("TIMESTAMP_LTZ(3)") Instant eventTime,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant sourceTime) {
        String type = anomalyType == null ? UNKNOWN : anomalyType;
        String level = severity == null ? UNKNOWN : severity;
        emitted.computeIfAbsent(type + '\n' + level, k -> alerts.addGroup("anomaly_type", type)
                .addGroup("severity", level).counter("emitted")).inc();
        long now = System.currentTimeMillis();
        if (eventTime != null) {
            latency.observe(now - eventTime.toEpochMilli());
        }
        if (sourceTime != null) {
            sourceLatency.observe(now - sourceTime.toEpochMilli());
        }
        return key == null ? null : key.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
