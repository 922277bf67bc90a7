package io.gridpipe.flink;

import java.time.LocalDate;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code EVENT_YEAR(ts)}, {@code EVENT_MONTH(ts)}, {@code EVENT_DAY(ts)}: the archive partition values of an event
 * time, as the strings {@code YYYY}, {@code MM}, {@code DD} of its UTC date.
 *
 * <p>Every archived event needs them, so they are built for the hot path: events arrive day after day, so the string
 * of the current day is kept and only rebuilt when an event falls outside that day; and the functions take and return
 * Flink's internal types (no {@code Instant} or {@code String} to convert per call). They used to be one function
 * returning a ROW, which the planner converted and copied for every event.
 */
public abstract class EventDatePart extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final long DAY_MS = 86_400_000L;

    private transient long dayStart = Long.MIN_VALUE;
    private transient StringData part;

    public @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData eventTime) {
        if (eventTime == null) {
            return null;
        }
        long millis = eventTime.getMillisecond();
        if (part == null || millis < dayStart || millis >= dayStart + DAY_MS) {
            long day = Math.floorDiv(millis, DAY_MS);
            dayStart = day * DAY_MS;
            part = StringData.fromString(format(LocalDate.ofEpochDay(day)));
        }
        return part;
    }

    abstract String format(LocalDate date);

    /** {@code EVENT_YEAR(ts)}: {@code 2026}. */
    public static class Year extends EventDatePart {
        private static final long serialVersionUID = 1L;

        @Override
        String format(LocalDate date) {
            return String.format("%04d", date.getYear());
        }
    }

    /** {@code EVENT_MONTH(ts)}: {@code 01} to {@code 12}. */
    public static class Month extends EventDatePart {
        private static final long serialVersionUID = 1L;

        @Override
        String format(LocalDate date) {
            return String.format("%02d", date.getMonthValue());
        }
    }

    /** {@code EVENT_DAY(ts)}: {@code 01} to {@code 31}. */
    public static class Day extends EventDatePart {
        private static final long serialVersionUID = 1L;

        @Override
        String format(LocalDate date) {
            return String.format("%02d", date.getDayOfMonth());
        }
    }
}
