package io.gridpipe.flink;

/** Why a record cannot be processed: a dead-letter reason (see docs/schemas.md), the rejecting class, a message. */
public record Rejection(String reason, String errorClass, String message) {
    public static final String BAD_MAGIC_BYTE = "BAD_MAGIC_BYTE";
    public static final String UNKNOWN_SCHEMA_ID = "UNKNOWN_SCHEMA_ID";
    public static final String TRUNCATED_AVRO = "TRUNCATED_AVRO";
    public static final String INVALID_JSON = "INVALID_JSON";
    public static final String MISSING_REQUIRED_FIELD = "MISSING_REQUIRED_FIELD";
    public static final String NON_FINITE_NUMBER = "NON_FINITE_NUMBER";
    public static final String SCHEMA_VIOLATION = "SCHEMA_VIOLATION";

    static Rejection of(String reason, Throwable cause) {
        String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        return new Rejection(reason, cause.getClass().getName(), message);
    }

    static Rejection of(String reason, String message) {
        return new Rejection(reason, "io.gridpipe.flink.Validation", message);
    }
}
