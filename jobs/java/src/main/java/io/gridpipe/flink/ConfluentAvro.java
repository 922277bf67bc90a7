package io.gridpipe.flink;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.AvroTypeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;

/** Avro in the Confluent wire format: magic byte 0, a 4-byte big-endian schema id, the Avro binary body. */
public final class ConfluentAvro {
    static final byte MAGIC = 0;
    private static final Map<String, Schema> PARSED = new ConcurrentHashMap<>();

    private ConfluentAvro() {}

    public static Schema parse(String schemaText) {
        return PARSED.computeIfAbsent(schemaText, text -> new Schema.Parser().parse(text));
    }

    /** A decoded record, or why it could not be decoded. Exactly one of the two is set. */
    record Decoded(GenericRecord record, Rejection rejection) {}

    private static final Map<Schema, Map<Integer, GenericDatumReader<GenericRecord>>> READERS =
            new ConcurrentHashMap<>();
    private static final ThreadLocal<BinaryDecoder> DECODER = new ThreadLocal<>();

    private static GenericDatumReader<GenericRecord> datumReader(Schema reader, int id, Schema writer) {
        return READERS.computeIfAbsent(reader, r -> new ConcurrentHashMap<>())
                .computeIfAbsent(id, i -> new GenericDatumReader<>(writer, reader));
    }

    static Decoded decode(byte[] value, Schema reader, SchemaRegistryClient registry) {
        if (value == null || value.length < 5 || value[0] != MAGIC) {
            String first = value == null || value.length == 0 ? "nothing" : String.format("0x%02x", value[0]);
            return new Decoded(null, Rejection.of(Rejection.BAD_MAGIC_BYTE,
                    "expected the Confluent wire format (magic byte 0x00 and a 4-byte schema id); got " + first
                            + " in " + (value == null ? 0 : value.length) + " bytes"));
        }
        int id = ByteBuffer.wrap(value, 1, 4).getInt();
        Optional<Schema> writer = registry.schema(id);
        if (writer.isEmpty()) {
            return new Decoded(null, Rejection.of(Rejection.UNKNOWN_SCHEMA_ID,
                    "schema id " + id + " is not in the schema registry"));
        }
        try {
            BinaryDecoder decoder = DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, DECODER.get());
            DECODER.set(decoder);
            GenericRecord record = datumReader(reader, id, writer.get()).read(null, decoder);
            if (!decoder.isEnd()) {
                return new Decoded(null, Rejection.of(Rejection.SCHEMA_VIOLATION,
                        "bytes left over after the record: the body does not match schema id " + id));
            }
            return new Decoded(record, null);
        } catch (EOFException | IndexOutOfBoundsException e) {
            return new Decoded(null, Rejection.of(Rejection.TRUNCATED_AVRO, e));
        } catch (AvroTypeException e) {
            String reason = String.valueOf(e.getMessage()).contains("missing required field")
                    ? Rejection.MISSING_REQUIRED_FIELD : Rejection.SCHEMA_VIOLATION;
            return new Decoded(null, Rejection.of(reason, e));
        } catch (AvroRuntimeException | IOException | NegativeArraySizeException e) {
            return new Decoded(null, Rejection.of(Rejection.TRUNCATED_AVRO, e));
        }
    }

    public static byte[] encode(int schemaId, Schema schema, GenericRecord record) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        out.write(MAGIC);
        out.write(ByteBuffer.allocate(4).putInt(schemaId).array(), 0, 4);
        try {
            BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
            new GenericDatumWriter<GenericRecord>(schema).write(record, encoder);
            encoder.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
