package io.gridpipe.flink.influx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class BackoffTest {
    @Test
    void defaultIs100msDoublingThreeRetries() {
        List<Long> delays = IntStream.rangeClosed(1, 3)
                .mapToObj(r -> Backoff.DEFAULT.delayBefore(r).toMillis()).toList();
        assertEquals(List.of(100L, 200L, 400L), delays);
        assertThrows(IllegalArgumentException.class, () -> Backoff.DEFAULT.delayBefore(4));
    }

    @Test
    void cappedAt30Seconds() {
        Backoff many = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(30), 60);
        assertEquals(25_600, many.delayBefore(9).toMillis());
        assertEquals(30_000, many.delayBefore(10).toMillis());
        assertEquals(30_000, many.delayBefore(60).toMillis());
    }

    @Test
    void rejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1), 3));
        assertThrows(IllegalArgumentException.class, () -> new Backoff(Duration.ZERO, Duration.ZERO, -1));
    }

    @Test
    void statusesClassified() {
        assertEquals(WriteOutcome.Kind.WRITTEN, WriteOutcome.ofStatus(204, "").kind());
        assertEquals(WriteOutcome.Kind.TRANSIENT, WriteOutcome.ofStatus(503, "down").kind());
        assertEquals(WriteOutcome.Kind.TRANSIENT, WriteOutcome.ofStatus(429, "slow down").kind());
        assertEquals(WriteOutcome.Kind.PERMANENT, WriteOutcome.ofStatus(404, "bucket not found").kind());
        assertEquals(WriteOutcome.Kind.PERMANENT, WriteOutcome.ofStatus(401, "unauthorized").kind());
    }

    @Test
    void unreachableNamesTheUrlAndTheAttempts() {
        WriteOutcome outcome = WriteOutcome.ofException("http://127.0.0.1:1", new java.net.ConnectException())
                .after(4);
        assertEquals(WriteOutcome.Kind.TRANSIENT, outcome.kind());
        assertEquals("java.net.ConnectException", outcome.errorClass());
        assertEquals("InfluxDB at http://127.0.0.1:1 unreachable: ConnectException (gave up after 4 attempts)",
                outcome.message());
    }
}
