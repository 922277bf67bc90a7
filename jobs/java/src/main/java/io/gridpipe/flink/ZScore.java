package io.gridpipe.flink;

import java.time.Instant;
import org.apache.flink.metrics.Counter;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * Rolling z-score per key, judged on arrival over an event-time window: a process table function.
 *
 * <pre>SELECT * FROM ZSCORE(input => TABLE t PARTITION BY meter_id, k => 2.5, min_samples => 30,
 *                       window_ms => 300000, bucket_ms => 10000, field => 'voltage')</pre>
 *
 * <p>The input has {@code event_time TIMESTAMP_LTZ(3)}, the judged value {@code x DOUBLE}, the original record
 * {@code payload BYTES} and its Kafka timestamp {@code kafka_time TIMESTAMP_LTZ(3)}, passed on to the output.
 * Each event is judged against the window before it ({@link EventTimeWindow#before}), then
 * added to it: no wait for the window to close or for a watermark. An event more than {@code k} sample standard
 * deviations from the window mean, with at least {@code min_samples} readings in the window and a stddev above the
 * floor ({@link EventTimeWindow.Stats#hasSpread}), is emitted. The buckets follow event time, so replaying a backlog
 * yields the same verdicts as live processing. A late event ({@link EventTimeWindow#isLate}) is neither judged nor
 * added, only counted in {@code lateReadings}, in a metric group {@code field} named by the {@code field} argument.
 */
@FunctionHint(output = @DataTypeHint(ZScore.OUTPUT))
public class ZScore extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    static final String OUTPUT = "ROW<event_time TIMESTAMP_LTZ(3), x DOUBLE, mean DOUBLE, stddev DOUBLE,"
            + " samples BIGINT, deviation DOUBLE, payload BYTES, kafka_time TIMESTAMP_LTZ(3)>";

    private transient FunctionContext context;
    private transient Counter lateReadings;

    @Override
    public void open(FunctionContext context) {
        this.context = context;
    }

    public void eval(
            // No TTL: state is bounded by the number of meters, and a TTL check costs ~30 % on every call.
            @StateHint(name = "buckets", ttl = "0 ms") EventTimeWindow window,
            // The window as versions before the packed state kept it (a restored savepoint): moved, then cleared.
            @StateHint(name = "window", ttl = "0 ms") EventTimeBuckets legacy,
            @ArgumentHint(value = ArgumentTrait.SET_SEMANTIC_TABLE, name = "input") Row in,
            @ArgumentHint(name = "k") Double k,
            @ArgumentHint(name = "min_samples") Integer minSamples,
            @ArgumentHint(name = "window_ms") Long windowMs,
            @ArgumentHint(name = "bucket_ms") Long bucketMs,
            @ArgumentHint(name = "field") String field) {
        Instant time = in.getFieldAs("event_time");
        Double x = in.getFieldAs("x");
        if (time == null || x == null) {
            return;
        }
        if (legacy.cells != null) {
            window.adopt(legacy.cells);
            legacy.cells = null;
        }
        long t = time.toEpochMilli();
        if (lateReadings == null) {
            // Registered with the first reading, so the series reads 0 rather than missing until a late one.
            lateReadings = context.getMetricGroup().addGroup("field", field).counter("lateReadings");
        }
        if (window.isLate(t, windowMs)) {
            lateReadings.inc();
            return;
        }
        EventTimeWindow.Stats stats = window.before(t, windowMs, bucketMs);
        if (isAnomalous(stats, x, k, minSamples)) {
            double deviation = (x - stats.mean()) / stats.stddev();
            collect(Row.of(time, x, stats.mean(), stats.stddev(), stats.count(), deviation, in.getField("payload"),
                    in.getField("kafka_time")));
        }
        window.add(t, x, windowMs, bucketMs);
    }

    /** Whether x is over k stddevs from the mean of a window with minSamples readings and a stddev above the floor. */
    static boolean isAnomalous(EventTimeWindow.Stats stats, double x, double k, int minSamples) {
        return stats.count() >= minSamples && stats.hasSpread() && Math.abs(x - stats.mean()) > k * stats.stddev();
    }
}
