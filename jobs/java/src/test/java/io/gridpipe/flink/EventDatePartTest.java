package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Instant;
import org.apache.flink.table.data.TimestampData;
import org.junit.jupiter.api.Test;

class EventDatePartTest {
    private static String date(EventDatePart year, EventDatePart month, EventDatePart day, String instant) {
        TimestampData time = TimestampData.fromInstant(Instant.parse(instant));
        return year.eval(time) + "-" + month.eval(time) + "-" + day.eval(time);
    }

    @Test
    void utcDatePartsAcrossMidnightAndBackwards() {
        EventDatePart year = new EventDatePart.Year();
        EventDatePart month = new EventDatePart.Month();
        EventDatePart day = new EventDatePart.Day();
        assertEquals("2025-12-31", date(year, month, day, "2025-12-31T23:59:59.999Z"));
        assertEquals("2026-01-01", date(year, month, day, "2026-01-01T00:00:00Z"));
        assertEquals("2026-01-01", date(year, month, day, "2026-01-01T23:00:00Z"));
        assertEquals("2025-12-31", date(year, month, day, "2025-12-31T00:00:00Z"));
        assertEquals("1969-12-31", date(year, month, day, "1969-12-31T23:59:59.999Z"));
        assertEquals("0999-02-03", date(year, month, day, "0999-02-03T04:05:06Z"));
        assertNull(year.eval(null));
    }
}
