package io.gridpipe.flink.influx;

import java.io.Serializable;
import java.time.Duration;

/** Exponential retry delays: {@code initial * 2^(retry-1)}, capped; after {@code maxRetries} the write gives up. */
public record Backoff(Duration initial, Duration cap, int maxRetries) implements Serializable {
    public static final Backoff DEFAULT = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(30), 3);

    public Backoff {
        if (initial.isNegative() || cap.compareTo(initial) < 0 || maxRetries < 0) {
            throw new IllegalArgumentException(
                    "retry settings need 0 <= initial delay <= max delay and retries >= 0, got " + initial + ", " + cap
                            + ", " + maxRetries);
        }
    }

    /** The wait before retry number {@code retry} (1-based). */
    public Duration delayBefore(int retry) {
        if (retry < 1 || retry > maxRetries) {
            throw new IllegalArgumentException("retry " + retry + " is outside 1.." + maxRetries);
        }
        int doublings = Math.min(retry - 1, 40);
        long millis = initial.toMillis() << doublings;
        return millis < 0 || millis > cap.toMillis() ? cap : Duration.ofMillis(millis);
    }
}
