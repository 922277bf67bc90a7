package io.gridpipe.flink;

import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * {@code EVENT_DATE(ts)}: the archive partition values {@code year, month, day} (UTC) of an event time.
 *
 * <p>Every archived event needs them, and events arrive day after day: the strings of the current day are kept and
 * only rebuilt when an event falls outside it, instead of formatting three dates per event.
 */
public class EventDate extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final long DAY_MS = 86_400_000L;

    private transient long dayStart = Long.MIN_VALUE;
    private transient Row parts;

    /** Non-deterministic so the planner calls it once per row, not once per field of the ROW it returns. */
    @Override
    public boolean isDeterministic() {
        return false;
    }

    public @DataTypeHint("ROW<`year` STRING, `month` STRING, `day` STRING>") Row eval(
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant eventTime) {
        if (eventTime == null) {
            return null;
        }
        long millis = eventTime.toEpochMilli();
        if (parts == null || millis < dayStart || millis >= dayStart + DAY_MS) {
            dayStart = Math.floorDiv(millis, DAY_MS) * DAY_MS;
            parts = partsOf(LocalDate.ofInstant(eventTime, ZoneOffset.UTC));
        }
        return parts;
    }

    static Row partsOf(LocalDate date) {
        return Row.of(String.format("%04d", date.getYear()), String.format("%02d", date.getMonthValue()),
                String.format("%02d", date.getDayOfMonth()));
    }
}
