package io.gridpipe.flink;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Base64;
import java.util.Collection;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code READING_JSON(payload, registry_url, reader_schema)}: a SensorReading in the Confluent wire format as one
 * compact JSON object, every field of the reader schema in its order, for the InfluxDB point's {@code original_event}.
 *
 * <p>The shape is Avro's own JSON view of the record: {@code timestamp} stays epoch milliseconds (UTC) as the schema
 * stores it, enums and strings are strings, an absent optional field is {@code null} (every key is present). A
 * non-finite optional double is written as the string {@code "NaN"}/{@code "Infinity"} (Jackson's default), so the
 * text is always valid JSON.
 *
 * <p>A record that does not decode gives {@code null}, never an exception: the alert is still written without its
 * event. A registry that cannot be reached throws, as for {@link DecodeSensorReading} (it is not the record's fault,
 * and the reading decoded moments before, so its writer schema is cached).
 */
public class ReadingJson extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    public @DataTypeHint("STRING") String eval(byte[] payload, String registryUrl, String readerSchema) {
        if (payload == null || registryUrl == null || readerSchema == null) {
            return null;
        }
        try {
            Schema reader = ConfluentAvro.parse(readerSchema);
            ConfluentAvro.Decoded decoded =
                    ConfluentAvro.decode(payload, reader, SchemaRegistryClient.forUrl(registryUrl));
            return decoded.record() == null ? null : json(decoded.record());
        } catch (UncheckedIOException e) {
            throw e; // the registry is unreachable: Flink's restart strategy retries, as for DECODE_READING
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** The record as compact JSON text, or null if a value cannot be written. */
    static String json(GenericRecord record) {
        try {
            return JSON.writeValueAsString(object(record));
        } catch (JsonProcessingException e) {
            return null;
        }
    }

    private static ObjectNode object(GenericRecord record) {
        ObjectNode node = NODES.objectNode();
        for (Schema.Field field : record.getSchema().getFields()) {
            node.set(field.name(), node(record.get(field.pos())));
        }
        return node;
    }

    private static JsonNode node(Object value) {
        if (value == null) {
            return NODES.nullNode();
        } else if (value instanceof Double d) {
            return NODES.numberNode(d);
        } else if (value instanceof Float f) {
            return NODES.numberNode(f);
        } else if (value instanceof Long l) {
            return NODES.numberNode(l);
        } else if (value instanceof Integer i) {
            return NODES.numberNode(i);
        } else if (value instanceof Boolean b) {
            return NODES.booleanNode(b);
        } else if (value instanceof Instant t) {
            return NODES.numberNode(t.toEpochMilli());
        } else if (value instanceof GenericRecord r) {
            return object(r);
        } else if (value instanceof ByteBuffer b) {
            ByteBuffer copy = b.duplicate();
            byte[] bytes = new byte[copy.remaining()];
            copy.get(bytes);
            return NODES.textNode(Base64.getEncoder().encodeToString(bytes));
        } else if (value instanceof GenericFixed f) {
            return NODES.textNode(Base64.getEncoder().encodeToString(f.bytes()));
        } else if (value instanceof Collection<?> items) {
            ArrayNode array = NODES.arrayNode();
            items.forEach(item -> array.add(node(item)));
            return array;
        } else if (value instanceof Map<?, ?> map) {
            ObjectNode object = NODES.objectNode();
            map.forEach((k, v) -> object.set(String.valueOf(k), node(v)));
            return object;
        }
        return NODES.textNode(value.toString()); // a string (Utf8) or an enum symbol
    }
}
