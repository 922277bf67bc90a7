package io.gridpipe.flink.deadletter;

import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * Logs rejected records, at most one line per reason per interval: a flood of garbage is counted, not written out
 * record by record, so it cannot fill a disk. Each line names the reason, where the record was, why, and how many
 * records of that reason the previous interval kept quiet.
 */
final class RejectionLog {
    static final long INTERVAL_MS = 10_000;

    private final Logger log;
    private final LongSupplier clock;
    private final Map<String, Window> windows = new HashMap<>();

    private static final class Window {
        long openedAt;
        long suppressed;
    }

    RejectionLog(Logger log, LongSupplier clock) {
        this.log = log;
        this.clock = clock;
    }

    /** Whether this rejection was logged (false: counted as suppressed). */
    boolean rejected(String reason, String source, String message) {
        long now = clock.getAsLong();
        Window window = windows.computeIfAbsent(reason, r -> new Window());
        if (window.openedAt != 0 && now - window.openedAt < INTERVAL_MS) {
            window.suppressed++;
            return false;
        }
        log.warn("rejected record ({}) at {}: {}{}", reason, source, message,
                window.suppressed == 0 ? "" : "; " + window.suppressed + " more " + reason
                        + " records were not logged in the previous " + INTERVAL_MS / 1000 + " s");
        window.openedAt = now;
        window.suppressed = 0;
        return true;
    }
}
