package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.junit.jupiter.api.Test;

class LatencyBucketsTest {
    @Test
    void bucketsAreCumulativeWithInfinityLast() {
        LatencyBuckets latency = new LatencyBuckets(new UnregisteredMetricsGroup());
        latency.observe(30);
        latency.observe(250);
        latency.observe(120_000);
        int last = LatencyBuckets.BOUNDS_SECONDS.length;
        assertEquals(0, latency.bucket(2), "<= 0.025 s");
        assertEquals(1, latency.bucket(3), "<= 0.05 s");
        assertEquals(2, latency.bucket(5), "<= 0.25 s: the bound is inclusive");
        assertEquals(2, latency.bucket(last - 1), "<= 60 s");
        assertEquals(3, latency.bucket(last), "+Inf");
    }

    @Test
    void aNegativeLatencyCountsAsZero() {
        LatencyBuckets latency = new LatencyBuckets(new UnregisteredMetricsGroup());
        latency.observe(-5_000);
        assertEquals(1, latency.bucket(0));
    }

    @Test
    void boundsAreLabelledAsPrometheusReadsThem() {
        assertEquals("0.005", LatencyBuckets.label(0.005));
        assertEquals("1", LatencyBuckets.label(1));
        assertEquals("2.5", LatencyBuckets.label(2.5));
        assertEquals("60", LatencyBuckets.label(60));
    }
}
