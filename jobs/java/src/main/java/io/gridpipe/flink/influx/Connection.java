package io.gridpipe.flink.influx;

import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Where and how to write: URL, organisation and bucket, batching and retry settings. No token: this object is part
 * of the job graph, which anyone who can read the cluster's jobs can read.
 *
 * <p>URL and organisation come from the table options when the job set them, else from the TaskManager's
 * environment ({@code GRIDPIPE_INFLUXDB_URL}, {@code _ORG}); the token only ever from that environment
 * ({@code GRIDPIPE_INFLUXDB_TOKEN}), read by {@link #resolve} when the writer starts. Never from the pipeline spec.
 */
public record Connection(
        String url, String org, String bucket, int batchSize, Duration flushInterval, Duration requestTimeout,
        Backoff backoff) implements Serializable {
    public static final String URL_ENV = "GRIDPIPE_INFLUXDB_URL";
    public static final String ORG_ENV = "GRIDPIPE_INFLUXDB_ORG";
    public static final String TOKEN_ENV = "GRIDPIPE_INFLUXDB_TOKEN";

    /**
     * What the writer uses on the TaskManager: URL, organisation and token, or {@code problem} naming what is
     * missing and the fix (then nothing can be written and every point is dead-lettered with that reason).
     */
    public record Resolved(String url, String org, String token, String problem) {
        public boolean usable() {
            return problem == null;
        }

        @Override
        public String toString() {
            return "Resolved[url=" + url + ", org=" + org + ", token=<hidden>, problem=" + problem + "]";
        }
    }

    /** URL and organisation from the options or {@code env}; the token from {@code env} only. */
    public Resolved resolve(Map<String, String> env) {
        String resolvedUrl = pick(url, env.get(URL_ENV));
        String resolvedOrg = pick(org, env.get(ORG_ENV));
        String token = pick(null, env.get(TOKEN_ENV));
        List<String> missing = new ArrayList<>();
        if (resolvedUrl == null) {
            missing.add(URL_ENV);
        }
        if (resolvedOrg == null) {
            missing.add(ORG_ENV);
        }
        if (token == null) {
            missing.add(TOKEN_ENV);
        }
        String problem = missing.isEmpty() ? null : "the InfluxDB sink cannot write to bucket " + bucket + ": "
                + String.join(", ", missing) + (missing.size() == 1 ? " is" : " are")
                + " not set in the TaskManager's environment -- fix: set "
                + (missing.size() == 1 ? "it" : "them") + " there (locally `gridctl stack up` does; on Kubernetes "
                + "the connections Secret gridpipe-connections) and restart the job";
        return new Resolved(resolvedUrl, resolvedOrg, token, problem);
    }

    private static String pick(String option, String env) {
        if (option != null && !option.isBlank()) {
            return option;
        }
        return env == null || env.isBlank() ? null : env;
    }
}
