package io.gridpipe.flink.deadletter;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class RejectionLogTest {
    private final AtomicLong now = new AtomicLong(1_000);
    private final RejectionLog log = new RejectionLog(LoggerFactory.getLogger(RejectionLogTest.class), now::get);

    @Test
    void aFloodOfOneReasonLogsOneLinePerInterval() {
        assertTrue(log.rejected("INVALID_AVRO", "sensor-readings/0@1", "bad magic byte"));
        for (int i = 0; i < 1_000; i++) {
            assertFalse(log.rejected("INVALID_AVRO", "sensor-readings/0@2", "bad magic byte"));
        }
        now.addAndGet(RejectionLog.INTERVAL_MS);
        assertTrue(log.rejected("INVALID_AVRO", "sensor-readings/0@3", "bad magic byte"));
    }

    @Test
    void eachReasonHasItsOwnInterval() {
        assertTrue(log.rejected("INVALID_AVRO", "t/0@1", "m"));
        assertTrue(log.rejected("SCHEMA_VALIDATION", "t/0@2", "m"));
        assertFalse(log.rejected("SCHEMA_VALIDATION", "t/0@3", "m"));
    }
}
