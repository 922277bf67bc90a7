package io.gridpipe.flink.deadletter;

import io.gridpipe.flink.ConfluentAvro;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;

/**
 * Encodes a DeadLetter (docs/schemas.md) so that the Kafka record (key + value) is at most {@code limit} bytes.
 *
 * <p>A letter that fits is kept whole. One that does not keeps the longest prefix of the original value for which it
 * fits, with {@code original_truncated} set; {@code original_size} and {@code original_sha256} always describe the
 * whole original value. If even an empty value does not fit (a key of about the limit), the key is left out too.
 */
public final class LetterFit {
    /** Kafka's record batch header (61 bytes) and a record's own varints, with room to spare. */
    public static final int KAFKA_RECORD_OVERHEAD = 128;
    /** Characters of error_message kept: a decoder may quote the offending value, which can be megabytes. */
    public static final int MAX_ERROR_MESSAGE = 1000;

    private final int schemaId;
    private final Schema schema;

    public LetterFit(int schemaId, Schema schema) {
        this.schemaId = schemaId;
        this.schema = schema;
    }

    /** Sets original_value/size/sha256 from the whole value; the letter's other fields must be set already. */
    public void describeOriginal(GenericRecord letter, byte[] value) {
        letter.put("original_value", value == null ? null : ByteBuffer.wrap(value));
        letter.put("original_size", value == null ? -1L : (long) value.length);
        letter.put("original_sha256", value == null ? "" : sha256(value));
        letter.put("original_truncated", false);
    }

    /** The letter as a Kafka record of at most {@code limit} bytes of key and value. */
    public Letter fit(GenericRecord letter, byte[] key, int limit) {
        byte[] whole = encode(letter);
        if (size(key) + whole.length <= limit) {
            return new Letter(key, whole);
        }
        byte[] value = bytes(letter.get("original_value"));
        letter.put("original_truncated", true);
        letter.put("original_value", ByteBuffer.wrap(new byte[0]));
        byte[] empty = encode(letter);
        if (size(key) + empty.length > limit) {
            key = null;
            letter.put("original_key", null);
            empty = encode(letter);
        }
        if (value == null) {
            letter.put("original_value", null);
            return new Letter(key, encode(letter));
        }
        // The empty value took one byte of length prefix: the rest of `empty` is what any cut letter carries.
        int room = longestValue(limit - size(key) - (empty.length - 1), value.length);
        letter.put("original_value", ByteBuffer.wrap(Arrays.copyOf(value, room)));
        return new Letter(key, encode(letter));
    }

    /** Cuts an already encoded letter (perhaps cut before) further, to fit a smaller {@code limit}. */
    public Letter refit(Letter letter, int limit) {
        GenericRecord decoded = decode(letter.value());
        byte[] value = bytes(decoded.get("original_value"));
        decoded.put("original_value", value == null ? null : ByteBuffer.wrap(value));
        return fit(decoded, letter.key(), limit);
    }

    /** The message, cut to {@link #MAX_ERROR_MESSAGE} characters (the last of them an ellipsis) if longer. */
    public static String errorMessage(String message) {
        if (message == null) {
            return "";
        }
        return message.length() <= MAX_ERROR_MESSAGE ? message : message.substring(0, MAX_ERROR_MESSAGE - 1) + "…";
    }

    /** Whether the letter's value was cut: original_truncated, a boolean, is the schema's last field and byte. */
    public static boolean truncated(Letter letter) {
        return letter.value()[letter.value().length - 1] == 1;
    }

    public GenericRecord newLetter() {
        return new GenericData.Record(schema);
    }

    public Schema schema() {
        return schema;
    }

    /** The longest n <= max for which n bytes with their Avro length prefix take at most {@code room} bytes. */
    static int longestValue(int room, int max) {
        int n = Math.max(0, Math.min(max, room - 1));
        while (n > 0 && n + varintSize(n) > room) {
            n--;
        }
        return n;
    }

    /** Bytes of the zig-zag varint Avro writes before {@code n} bytes. */
    static int varintSize(long n) {
        long zigzag = n << 1;
        int size = 1;
        while ((zigzag >>>= 7) != 0) {
            size++;
        }
        return size;
    }

    private byte[] encode(GenericRecord letter) {
        return ConfluentAvro.encode(schemaId, schema, letter);
    }

    private GenericRecord decode(byte[] wire) {
        try {
            return new GenericDatumReader<GenericRecord>(schema)
                    .read(null, DecoderFactory.get().binaryDecoder(wire, 5, wire.length - 5, null));
        } catch (IOException e) {
            throw new UncheckedIOException("a dead letter this job encoded does not decode", e);
        }
    }

    private static int size(byte[] key) {
        return key == null ? 0 : key.length;
    }

    private static byte[] bytes(Object avroBytes) {
        if (avroBytes == null) {
            return null;
        }
        ByteBuffer buffer = ((ByteBuffer) avroBytes).duplicate();
        byte[] out = new byte[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    static String sha256(byte[] value) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(value));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }
}
