package io.gridpipe.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
 */
final class SchemaRegistryClient {
    private static final Map<String, SchemaRegistryClient> BY_URL = new ConcurrentHashMap<>();
    private static final long UNKNOWN_TTL_NANOS = Duration.ofSeconds(10).toNanos();
    private static final int ATTEMPTS = 3;

    private final String baseUrl;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
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
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/schemas/ids/" + id))
                .timeout(Duration.ofSeconds(10)).GET().build();
        IOException last = null;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
                HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                if (response.statusCode() == 404) {
                    return Optional.empty();
                }
                if (response.statusCode() != 200) {
                    throw new IOException("registry answered HTTP " + response.statusCode() + ": " + response.body());
                }
                JsonNode body = json.readTree(response.body());
                return Optional.of(body.get("schema").asText());
            } catch (IOException e) {
                last = e;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while asking the schema registry", e);
            }
            sleep(200L * attempt);
        }
        throw new UncheckedIOException("schema registry at " + baseUrl + " unreachable for schema id " + id, last);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
