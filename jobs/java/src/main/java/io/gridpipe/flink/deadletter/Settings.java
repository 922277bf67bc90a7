package io.gridpipe.flink.deadletter;

import java.io.Serializable;
import java.time.Duration;

/**
 * Where dead letters go and how the writer behaves when Kafka will not take them (docs/detection.md, "Bad input").
 *
 * @param maxRequestSize the producer's {@code max.request.size}: one bound of a letter's size
 * @param maxPendingBytes unacknowledged letters beyond this back-pressure the job
 * @param initialDelay the first wait after a failed write; doubled per failure in a row up to {@code maxDelay}
 */
public record Settings(String topic, String bootstrap, int schemaId, String schema, String pipeline,
                       int maxRequestSize, long maxPendingBytes, Duration initialDelay, Duration maxDelay)
        implements Serializable {
    public Settings {
        if (maxRequestSize <= LetterFit.KAFKA_RECORD_OVERHEAD * 2 || maxPendingBytes < maxRequestSize) {
            throw new IllegalArgumentException("dead letters need max-request-size > "
                    + 2 * LetterFit.KAFKA_RECORD_OVERHEAD + " and max-pending-bytes >= max-request-size, got "
                    + maxRequestSize + " and " + maxPendingBytes);
        }
    }
}
