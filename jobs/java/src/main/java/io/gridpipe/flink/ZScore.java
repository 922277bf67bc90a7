package io.gridpipe.flink;

import java.time.Instant;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * Rolling z-score per key, judged on arrival over an event-time window: a process table function.
 *
 * <pre>SELECT * FROM ZSCORE(input => TABLE t PARTITION BY meter_id, k => 2.5, min_samples => 30,
 *                       window_ms => 300000, bucket_ms => 10000)</pre>
 *
 * <p>The input has {@code event_time TIMESTAMP_LTZ(3)}, the judged value {@code x DOUBLE} and the original record
 * {@code payload BYTES}. Each event is judged against the window before it ({@link EventTimeBuckets#before}), then
 * added to it: no wait for the window to close or for a watermark. An event more than {@code k} sample standard
 * deviations from the window mean, with at least {@code min_samples} readings in the window, is emitted. The buckets
 * follow event time, so replaying a backlog yields the same verdicts as live processing.
 */
@FunctionHint(output = @DataTypeHint(ZScore.OUTPUT))
public class ZScore extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    static final String OUTPUT = "ROW<event_time TIMESTAMP_LTZ(3), x DOUBLE, mean DOUBLE, stddev DOUBLE,"
            + " samples BIGINT, deviation DOUBLE, payload BYTES>";

    public void eval(
            // No TTL: state is bounded by the number of meters, and a TTL check costs ~30 % on every call.
            @StateHint(name = "window", ttl = "0 ms") EventTimeBuckets window,
            @ArgumentHint(value = ArgumentTrait.SET_SEMANTIC_TABLE, name = "input") Row in,
            @ArgumentHint(name = "k") Double k,
            @ArgumentHint(name = "min_samples") Integer minSamples,
            @ArgumentHint(name = "window_ms") Long windowMs,
            @ArgumentHint(name = "bucket_ms") Long bucketMs) {
        Instant time = in.getFieldAs("event_time");
        Double x = in.getFieldAs("x");
        if (time == null || x == null) {
            return;
        }
        long t = time.toEpochMilli();
        EventTimeBuckets.Stats stats = window.before(t, windowMs, bucketMs);
        if (stats.count() >= minSamples && stats.stddev() > 0 && Math.abs(x - stats.mean()) > k * stats.stddev()) {
            double deviation = (x - stats.mean()) / stats.stddev();
            collect(Row.of(time, x, stats.mean(), stats.stddev(), stats.count(), deviation, in.getField("payload")));
        }
        window.add(t, x, windowMs, bucketMs);
    }
}
