package io.gridpipe.flink.deadletter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gridpipe.flink.ConfluentAvro;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.OptionalInt;
import java.util.Random;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.junit.jupiter.api.Test;

class LetterFitTest {
    private static final Path SCHEMA =
            Path.of("../../schemas/src/gridpipe_schemas/avro/DeadLetter.avsc").toAbsolutePath().normalize();
    private static final byte[] KEY = "MTR-000042".getBytes(StandardCharsets.UTF_8);
    private static final int LIMIT = 1_048_576 - LetterFit.KAFKA_RECORD_OVERHEAD;

    private final Schema schema = schema();
    private final LetterFit fit = new LetterFit(7, schema);

    private static Schema schema() {
        try (InputStream in = Files.newInputStream(SCHEMA)) {
            return ConfluentAvro.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private GenericRecord letter(byte[] value) {
        GenericRecord letter = new GenericData.Record(schema);
        Schema reasons = schema.getField("reason").schema();
        letter.put("pipeline", "grid-demo");
        letter.put("reason", new GenericData.EnumSymbol(reasons, "BAD_MAGIC_BYTE"));
        letter.put("error_class", "io.gridpipe.flink.Validation");
        letter.put("error_message", "expected the Confluent wire format; got 0x78");
        letter.put("source_topic", "readings");
        letter.put("source_partition", 1);
        letter.put("source_offset", 81723L);
        letter.put("source_timestamp", 1767225600000L);
        letter.put("original_key", ByteBuffer.wrap(KEY));
        letter.put("dead_lettered_at", 1767225600015L);
        fit.describeOriginal(letter, value);
        return letter;
    }

    private static byte[] payload(int size) {
        byte[] bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        return bytes;
    }

    private GenericRecord decode(Letter letter) throws IOException {
        byte[] wire = letter.value();
        assertEquals(7, ByteBuffer.wrap(wire, 1, 4).getInt());
        return new GenericDatumReader<GenericRecord>(schema)
                .read(null, DecoderFactory.get().binaryDecoder(wire, 5, wire.length - 5, null));
    }

    private static byte[] bytes(Object avroBytes) {
        ByteBuffer buffer = ((ByteBuffer) avroBytes).duplicate();
        byte[] out = new byte[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    /** The largest value kept whole under LIMIT, found by trying, independently of LetterFit's arithmetic. */
    private int largestWhole() {
        int size = LIMIT - fit.fit(letter(new byte[0]), KEY, Integer.MAX_VALUE).size() + 4;
        while (fit.fit(letter(payload(size)), KEY, Integer.MAX_VALUE).size() > LIMIT) {
            size--;
        }
        return size;
    }

    @Test
    void aValueExactlyAtTheLimitIsKeptWholeAndOneByteMoreIsCut() throws IOException {
        int boundary = largestWhole();
        byte[] atLimit = payload(boundary);
        Letter whole = fit.fit(letter(atLimit), KEY, LIMIT);
        assertEquals(LIMIT, whole.size(), "the letter fills the limit exactly");
        GenericRecord kept = decode(whole);
        assertArrayEquals(atLimit, bytes(kept.get("original_value")));
        assertFalse((Boolean) kept.get("original_truncated"));
        assertFalse(LetterFit.truncated(whole));
        assertEquals((long) boundary, kept.get("original_size"));

        byte[] oneMore = payload(boundary + 1);
        Letter cut = fit.fit(letter(oneMore), KEY, LIMIT);
        assertTrue(cut.size() <= LIMIT);
        GenericRecord shortened = decode(cut);
        assertTrue((Boolean) shortened.get("original_truncated"));
        assertTrue(LetterFit.truncated(cut));
        byte[] prefix = bytes(shortened.get("original_value"));
        assertArrayEquals(Arrays.copyOf(oneMore, prefix.length), prefix);
        assertEquals(boundary, prefix.length, "the flag costs no byte: the cut keeps what fitted whole");
        assertEquals((long) boundary + 1, shortened.get("original_size"));
        assertEquals(LetterFit.sha256(oneMore), shortened.get("original_sha256").toString());
        assertArrayEquals(KEY, cut.key());
    }

    @Test
    void theCutIsTheLongestPrefixThatFits() throws IOException {
        for (int limit : new int[] {300, 1000, 16_511, 16_512, 16_513, 70_000}) {
            byte[] value = payload(limit * 2);
            Letter cut = fit.fit(letter(value), KEY, limit);
            assertTrue(cut.size() <= limit, "fits " + limit);
            int kept = bytes(decode(cut).get("original_value")).length;
            GenericRecord longer = letter(value);
            longer.put("original_truncated", true);
            longer.put("original_value", ByteBuffer.wrap(Arrays.copyOf(value, kept + 1)));
            int longerSize = KEY.length + ConfluentAvro.encode(7, schema, longer).length;
            assertTrue(longerSize > limit, "one byte more would not fit " + limit);
        }
    }

    @Test
    void aTwoMegabyteValueIsCutAndDescribed() throws IOException {
        byte[] value = payload(2 * 1024 * 1024);
        GenericRecord got = decode(fit.fit(letter(value), KEY, LIMIT));
        assertEquals((long) value.length, got.get("original_size"));
        assertEquals(LetterFit.sha256(value), got.get("original_sha256").toString());
        assertTrue((Boolean) got.get("original_truncated"));
        assertEquals("readings", got.get("source_topic").toString());
        assertEquals(81723L, got.get("source_offset"));
    }

    @Test
    void refitCutsFurtherAndKeepsTheOriginalsDescription() throws IOException {
        byte[] value = payload(50_000);
        Letter first = fit.fit(letter(value), KEY, 40_000);
        Letter second = fit.refit(first, 30_000);
        assertTrue(second.size() <= 30_000);
        GenericRecord got = decode(second);
        assertEquals(50_000L, got.get("original_size"));
        assertEquals(LetterFit.sha256(value), got.get("original_sha256").toString());
        byte[] prefix = bytes(got.get("original_value"));
        assertArrayEquals(Arrays.copyOf(value, prefix.length), prefix);
    }

    @Test
    void aKeyTooLargeForAnyLetterIsLeftOut() throws IOException {
        byte[] key = payload(5000);
        GenericRecord letter = letter(payload(100));
        letter.put("original_key", ByteBuffer.wrap(key));
        Letter cut = fit.fit(letter, key, 1000);
        assertNull(cut.key());
        GenericRecord got = decode(cut);
        assertNull(got.get("original_key"));
        assertEquals(100L, got.get("original_size"));
        assertTrue(cut.size() <= 1000);
    }

    @Test
    void aTombstoneHasNoSizeOrDigest() throws IOException {
        GenericRecord got = decode(fit.fit(letter(null), KEY, LIMIT));
        assertNull(got.get("original_value"));
        assertEquals(-1L, got.get("original_size"));
        assertEquals("", got.get("original_sha256").toString());
    }

    @Test
    void theLimitIsTheSmallerOfProducerAndTopicLessTheRecordOverhead() {
        assertEquals(1_048_576 - 128, TopicLimit.letterLimit(1_048_576, OptionalInt.of(1_048_588)));
        assertEquals(500_000 - 128, TopicLimit.letterLimit(1_048_576, OptionalInt.of(500_000)));
        assertEquals(1_048_576 - 128, TopicLimit.letterLimit(1_048_576, OptionalInt.empty()));
    }

    @Test
    void anErrorMessageQuotingAHugeValueIsCut() {
        assertEquals("short", LetterFit.errorMessage("short"));
        assertEquals("", LetterFit.errorMessage(null));
        String exactly = "m".repeat(LetterFit.MAX_ERROR_MESSAGE);
        assertEquals(exactly, LetterFit.errorMessage(exactly));
        String cut = LetterFit.errorMessage("rocketId must be a non-empty string, got " + "9".repeat(2_000_000));
        assertEquals(LetterFit.MAX_ERROR_MESSAGE, cut.length());
        assertTrue(cut.startsWith("rocketId must be") && cut.endsWith("…"));
    }

    @Test
    void stateRoundTrips() throws IOException {
        LetterSerializer serializer = new LetterSerializer();
        for (Letter letter : new Letter[] {new Letter(KEY, payload(40)), new Letter(null, payload(3))}) {
            Letter back = serializer.deserialize(serializer.getVersion(), serializer.serialize(letter));
            assertArrayEquals(letter.key(), back.key());
            assertArrayEquals(letter.value(), back.value());
        }
    }
}
