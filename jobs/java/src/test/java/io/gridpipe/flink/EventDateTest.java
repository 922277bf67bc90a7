package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Instant;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

class EventDateTest {
    @Test
    void utcDatePartsAcrossMidnightAndBackwards() {
        EventDate date = new EventDate();
        assertEquals(Row.of("2025", "12", "31"), date.eval(Instant.parse("2025-12-31T23:59:59.999Z")));
        assertEquals(Row.of("2026", "01", "01"), date.eval(Instant.parse("2026-01-01T00:00:00Z")));
        assertEquals(Row.of("2026", "01", "01"), date.eval(Instant.parse("2026-01-01T23:00:00Z")));
        assertEquals(Row.of("2025", "12", "31"), date.eval(Instant.parse("2025-12-31T00:00:00Z")));
        assertEquals(Row.of("1969", "12", "31"), date.eval(Instant.ofEpochMilli(-1)));
        assertNull(date.eval(null));
    }
}
