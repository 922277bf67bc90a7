package io.gridpipe.flink;

import java.math.BigDecimal;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;

/**
 * A latency histogram in Prometheus' shape, made of Flink counters: one cumulative {@code bucket} counter per upper
 * bound with an {@code le} label (and {@code +Inf}), a {@code count} and a {@code sumSeconds}.
 *
 * <p>Flink's own histograms reach Prometheus as summaries of one subtask, whose quantiles cannot be added up across
 * subtasks or pipelines; buckets can, so {@code histogram_quantile(0.99, sum by (le) (rate(...)))} works.
 */
final class LatencyBuckets {
    static final double[] BOUNDS_SECONDS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

    private final Counter[] buckets = new Counter[BOUNDS_SECONDS.length + 1];
    private final Counter count;
    // Written by the task thread, read by the reporter's: a torn read costs one scrape's precision, nothing more.
    private volatile double sumSeconds;

    LatencyBuckets(MetricGroup group) {
        for (int i = 0; i < BOUNDS_SECONDS.length; i++) {
            buckets[i] = group.addGroup("le", label(BOUNDS_SECONDS[i])).counter("bucket");
        }
        buckets[BOUNDS_SECONDS.length] = group.addGroup("le", "+Inf").counter("bucket");
        count = group.counter("count");
        group.gauge("sumSeconds", (Gauge<Double>) () -> sumSeconds);
    }

    /** One observation; a negative latency (an event stamped ahead of this clock) counts as zero. */
    void observe(long millis) {
        double seconds = Math.max(0L, millis) / 1000.0;
        for (int i = 0; i < BOUNDS_SECONDS.length; i++) {
            if (seconds <= BOUNDS_SECONDS[i]) {
                buckets[i].inc();
            }
        }
        buckets[BOUNDS_SECONDS.length].inc();
        count.inc();
        sumSeconds += seconds;
    }

    long bucket(int index) {
        return buckets[index].getCount();
    }

    static String label(double bound) {
        return BigDecimal.valueOf(bound).stripTrailingZeros().toPlainString();
    }
}
