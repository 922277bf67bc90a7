package io.gridpipe.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;

/**
 * Writer schemas by id, from a Confluent-compatible registry, cached for the life of the process.
 *
 * <p>An id the registry does not know is remembered as unknown for a short while, so a flood of bad records does not
 * become a flood of registry calls. A registry that cannot be reached is not the record's fault: that throws, and
 * Flink's restart strategy retries the job with backoff instead of dead-lettering good data.
 *
 * <p>Plain {@link HttpURLConnection}, not {@code java.net.http.HttpClient}: this client lives in a static map of the
 * job's classloader, and an HttpClient's selector thread (whose context classloader is the job's) would keep that
 * classloader, and every class of the job, alive in the TaskManager after the job ends: metaspace ran out after
 * about fifteen jobs.
 */
final class SchemaRegistryClient {
    private static final Map<String, SchemaRegistryClient> BY_URL = new ConcurrentHashMap<>();
    private static final long UNKNOWN_TTL_NANOS = Duration.ofSeconds(10).toNanos();
    private static final int ATTEMPTS = 3;

    private final String baseUrl;
    private static final int CONNECT_TIMEOUT_MS = 5_000;
    private static final int READ_TIMEOUT_MS = 10_000;
    private final ObjectMapper json = new ObjectMapper();
    private final Map<Integer, Schema> known = new ConcurrentHashMap<>();
    private final Map<Integer, Long> unknownUntil = new ConcurrentHashMap<>();

    private SchemaRegistryClient(String baseUrl) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    }

    static SchemaRegistryClient forUrl(String url) {
        return BY_URL.computeIfAbsent(url, SchemaRegistryClient::new);
    }

    Optional<Schema> schema(int id) {
        Schema cached = known.get(id);
        if (cached != null) {
            return Optional.of(cached);
        }
        Long until = unknownUntil.get(id);
        if (until != null && until > System.nanoTime()) {
            return Optional.empty();
        }
        Optional<String> text = fetch(id);
        if (text.isEmpty()) {
            unknownUntil.put(id, System.nanoTime() + UNKNOWN_TTL_NANOS);
            return Optional.empty();
        }
        Schema parsed = new Schema.Parser().parse(text.get());
        known.put(id, parsed);
        return Optional.of(parsed);
    }

    private Optional<String> fetch(int id) {
        URI uri = URI.create(baseUrl + "/schemas/ids/" + id);
        IOException last = null;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
                HttpURLConnection connection = (HttpURLConnection) uri.toURL().openConnection();
                connection.setConnectTimeout(CONNECT_TIMEOUT_MS);
                connection.setReadTimeout(READ_TIMEOUT_MS);
                int status = connection.getResponseCode();
                if (status == 404) {
                    return Optional.empty();
                }
                if (status != 200) {
                    throw new IOException("registry answered HTTP " + status + ": " + body(connection.getErrorStream()));
                }
                JsonNode body = json.readTree(body(connection.getInputStream()));
                return Optional.of(body.get("schema").asText());
            } catch (IOException e) {
                last = e;
            }
            sleep(200L * attempt);
        }
        throw new UncheckedIOException("schema registry at " + baseUrl + " unreachable for schema id " + id, last);
    }

    private static String body(InputStream stream) throws IOException {
        if (stream == null) {
            return "";
        }
        try (stream) {
            return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
