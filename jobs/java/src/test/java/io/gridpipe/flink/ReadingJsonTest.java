package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** READING_JSON against a registry stub on loopback that knows one schema id: the SensorReading's. */
class ReadingJsonTest {
    private static final Path SCHEMA =
            Path.of("../../schemas/src/gridpipe_schemas/avro/SensorReading.avsc").toAbsolutePath().normalize();
    private static final int ID = 7;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static String schemaText;
    private static Schema schema;
    private static HttpServer registry;
    private static String registryUrl;

    private final ReadingJson readingJson = new ReadingJson();

    @BeforeAll
    static void startRegistry() throws IOException {
        schemaText = Files.readString(SCHEMA);
        schema = ConfluentAvro.parse(schemaText);
        byte[] body = JSON.writeValueAsBytes(Map.of("schema", schemaText));
        registry = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        registry.createContext("/schemas/ids/", exchange -> {
            boolean known = exchange.getRequestURI().getPath().equals("/schemas/ids/" + ID);
            byte[] answer = known ? body : "{}".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(known ? 200 : 404, answer.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(answer);
            }
        });
        registry.start();
        registryUrl = "http://127.0.0.1:" + registry.getAddress().getPort();
    }

    @AfterAll
    static void stopRegistry() {
        registry.stop(0);
    }

    private static GenericRecord reading() {
        GenericRecord r = new GenericData.Record(schema);
        r.put("meter_id", "MTR-000042");
        r.put("timestamp", 1_767_225_600_000L);
        r.put("voltage", 231.4);
        r.put("current", 12.7);
        r.put("temperature", 31.2);
        r.put("status", new GenericData.EnumSymbol(schema.getField("status").schema(), "EQUIPMENT_FAILURE"));
        r.put("sequence", 1042L);
        r.put("frequency", 50.01);
        r.put("power_factor", null);
        r.put("feeder_id", "FDR-07 \"north\"");
        r.put("firmware", null);
        return r;
    }

    private String run(byte[] payload) {
        return readingJson.eval(payload, registryUrl, schemaText);
    }

    @Test
    void aReadingIsOneCompactObjectWithEveryFieldInSchemaOrder() throws IOException {
        String text = run(ConfluentAvro.encode(ID, schema, reading()));
        assertFalse(text.contains(" \"") || text.contains("\n"), "compact: " + text);
        JsonNode event = JSON.readTree(text);
        List<String> names = schema.getFields().stream().map(Schema.Field::name).toList();
        List<String> keys = new ArrayList<>();
        event.fieldNames().forEachRemaining(keys::add);
        assertEquals(names, keys, "every field, in the schema's order");
        assertEquals("MTR-000042", event.get("meter_id").asText());
        assertTrue(event.get("timestamp").isIntegralNumber(), "epoch millis, as the schema stores it");
        assertEquals(1_767_225_600_000L, event.get("timestamp").asLong());
        assertEquals(231.4, event.get("voltage").asDouble());
        assertEquals("EQUIPMENT_FAILURE", event.get("status").asText());
        assertEquals(1042L, event.get("sequence").asLong());
        assertEquals("FDR-07 \"north\"", event.get("feeder_id").asText());
        assertTrue(event.get("power_factor").isNull() && event.get("firmware").isNull(), "absent fields are null");
    }

    @Test
    void aBadRecordGivesNullNeverAnException() {
        byte[] good = ConfluentAvro.encode(ID, schema, reading());
        assertNull(run("{\"not\": \"avro\"}".getBytes(StandardCharsets.UTF_8)));
        assertNull(run(new byte[0]));
        assertNull(run(null));
        assertNull(run(Arrays.copyOf(good, good.length - 4)), "truncated");
        byte[] unknownId = good.clone();
        unknownId[4] = 99;
        assertNull(run(unknownId), "schema id the registry does not know");
        assertNull(readingJson.eval(good, registryUrl, "not a schema"));
    }
}
