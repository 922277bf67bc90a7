package io.gridpipe.flink.influx;

import java.io.Serializable;
import java.time.Duration;
import java.util.Map;

/**
 * Where and how to write: URL, organisation, token and bucket, batching and retry settings.
 *
 * <p>URL, organisation and token come from the table options when the job set them, else from the TaskManager's
 * environment ({@code GRIDPIPE_INFLUXDB_URL}, {@code _ORG}, {@code _TOKEN}); never from the pipeline spec.
 */
public record Connection(
        String url, String org, String token, String bucket, int batchSize, Duration flushInterval,
        Duration requestTimeout, Backoff backoff) implements Serializable {
    public static final String URL_ENV = "GRIDPIPE_INFLUXDB_URL";
    public static final String ORG_ENV = "GRIDPIPE_INFLUXDB_ORG";
    public static final String TOKEN_ENV = "GRIDPIPE_INFLUXDB_TOKEN";

    /** This connection with unset URL, organisation or token taken from {@code env}; fails naming what is missing. */
    public Connection resolved(Map<String, String> env) {
        Connection done = new Connection(
                pick(url, env.get(URL_ENV)), pick(org, env.get(ORG_ENV)), pick(token, env.get(TOKEN_ENV)), bucket,
                batchSize, flushInterval, requestTimeout, backoff);
        for (String[] required : new String[][] {
                {done.url, "url", URL_ENV}, {done.org, "org", ORG_ENV}, {done.token, "token", TOKEN_ENV}}) {
            if (required[0] == null) {
                throw new IllegalStateException("the InfluxDB sink has no " + required[1] + " -- fix: set "
                        + required[2] + " in the environment of the job (or the table option '" + required[1] + "')");
            }
        }
        return done;
    }

    private static String pick(String option, String env) {
        if (option != null && !option.isBlank()) {
            return option;
        }
        return env == null || env.isBlank() ? null : env;
    }

    @Override
    public String toString() {
        return "Connection[url=" + url + ", org=" + org + ", bucket=" + bucket + ", token=<hidden>]";
    }
}
