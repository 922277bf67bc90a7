package io.gridpipe.flink.influx;

/** What one HTTP write of a batch came to. Transient failures are worth retrying; permanent ones are not. */
public record WriteOutcome(Kind kind, String errorClass, String message) {
    public enum Kind { WRITTEN, TRANSIENT, PERMANENT }

    public static final WriteOutcome WRITTEN = new WriteOutcome(Kind.WRITTEN, "", "");

    /** Classifies an HTTP status of /api/v2/write: 5xx and 429 are transient, other 4xx are the request's fault. */
    public static WriteOutcome ofStatus(int status, String body) {
        if (status / 100 == 2) {
            return WRITTEN;
        }
        String message = "InfluxDB answered HTTP " + status + ": " + abbreviate(body);
        boolean transientStatus = status >= 500 || status == 429 || status == 408;
        return new WriteOutcome(transientStatus ? Kind.TRANSIENT : Kind.PERMANENT, "InfluxDBHttp" + status, message);
    }

    public static WriteOutcome ofException(String url, Exception error) {
        Throwable cause = error;
        while (cause.getMessage() == null && cause.getCause() != null) {
            cause = cause.getCause();
        }
        String detail = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        return new WriteOutcome(Kind.TRANSIENT, error.getClass().getName(),
                "InfluxDB at " + url + " unreachable: " + abbreviate(detail));
    }

    /** The writer lacks its URL, organisation or token ({@code problem} says which and the fix): not retried. */
    public static WriteOutcome notConfigured(String problem) {
        return new WriteOutcome(Kind.PERMANENT, "InfluxDBNotConfigured", problem);
    }

    /** The same outcome, its message saying how many attempts it took. */
    public WriteOutcome after(int attempts) {
        return new WriteOutcome(kind, errorClass, message + " (gave up after " + attempts + " attempt"
                + (attempts == 1 ? "" : "s") + ")");
    }

    public boolean written() {
        return kind == Kind.WRITTEN;
    }

    private static String abbreviate(String text) {
        String flat = text == null ? "" : text.replace('\n', ' ').strip();
        return flat.length() > 300 ? flat.substring(0, 300) + "…" : flat;
    }
}
