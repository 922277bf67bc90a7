package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class EventTimeBucketsTest {
    private static final long WINDOW = 300_000;
    private static final long BUCKET = 10_000;

    @Test
    void judgesAgainstTheWindowBeforeTheEvent() {
        EventTimeBuckets b = new EventTimeBuckets();
        for (int i = 0; i < 60; i++) {
            b.add(1_000_000 + i * 1000L, i % 2 == 0 ? 229.0 : 231.0, WINDOW, BUCKET);
        }
        EventTimeBuckets.Stats stats = b.before(1_060_000, WINDOW, BUCKET);
        assertEquals(60, stats.count());
        assertEquals(230.0, stats.mean(), 1e-9);
        assertEquals(Math.sqrt(60.0 / 59.0), stats.stddev(), 1e-9);
    }

    @Test
    void bucketsOlderThanTheWindowAreNotCounted() {
        EventTimeBuckets b = new EventTimeBuckets();
        b.add(0, 100.0, WINDOW, BUCKET);
        b.add(400_000, 1.0, WINDOW, BUCKET);
        b.add(401_000, 3.0, WINDOW, BUCKET);
        EventTimeBuckets.Stats stats = b.before(410_000, WINDOW, BUCKET);
        assertEquals(2, stats.count());
        assertEquals(2.0, stats.mean(), 1e-9);
    }

    @Test
    void outOfOrderEventsLandInTheirOwnBucket() {
        EventTimeBuckets inOrder = new EventTimeBuckets();
        EventTimeBuckets shuffled = new EventTimeBuckets();
        long[] times = {1000, 2000, 3000, 4000, 5000, 6000};
        long[] order = {3000, 1000, 6000, 2000, 5000, 4000};
        for (long t : times) {
            inOrder.add(t * 10, t / 1000.0, WINDOW, BUCKET);
        }
        for (long t : order) {
            shuffled.add(t * 10, t / 1000.0, WINDOW, BUCKET);
        }
        assertEquals(inOrder.before(70_000, WINDOW, BUCKET), shuffled.before(70_000, WINDOW, BUCKET));
    }

    @Test
    void aLateEventOutsideTheWindowIsDropped() {
        EventTimeBuckets b = new EventTimeBuckets();
        b.add(1_000_000, 1.0, WINDOW, BUCKET);
        b.add(1_000_000 - WINDOW - BUCKET, 999.0, WINDOW, BUCKET);
        EventTimeBuckets.Stats stats = b.before(1_000_001, WINDOW, BUCKET);
        assertEquals(1, stats.count());
        assertTrue(Double.isNaN(stats.stddev()));
    }
}
