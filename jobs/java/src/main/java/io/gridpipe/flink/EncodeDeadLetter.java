package io.gridpipe.flink;

import java.nio.ByteBuffer;
import java.time.Instant;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/** {@code ENCODE_DEAD_LETTER(...)}: a DeadLetter record (docs/schemas.md) carrying the original bytes untouched. */
public class EncodeDeadLetter extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    public @DataTypeHint("BYTES") byte[] eval(
            Integer schemaId, String schemaText, String pipeline, String reason, String errorClass,
            String errorMessage, String sourceTopic, Integer sourcePartition, Long sourceOffset,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant sourceTimestamp, byte[] originalKey, byte[] originalValue,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant deadLetteredAt) {
        Schema schema = ConfluentAvro.parse(schemaText);
        GenericRecord letter = new GenericData.Record(schema);
        Schema reasons = schema.getField("reason").schema();
        letter.put("pipeline", pipeline);
        letter.put("reason", new GenericData.EnumSymbol(reasons, reasons.hasEnumSymbol(reason) ? reason : "UNKNOWN"));
        letter.put("error_class", errorClass == null ? "" : errorClass);
        letter.put("error_message", errorMessage == null ? "" : errorMessage);
        letter.put("source_topic", sourceTopic);
        letter.put("source_partition", sourcePartition);
        letter.put("source_offset", sourceOffset);
        letter.put("source_timestamp", sourceTimestamp == null ? null : sourceTimestamp.toEpochMilli());
        letter.put("original_key", originalKey == null ? null : ByteBuffer.wrap(originalKey));
        letter.put("original_value", originalValue == null ? null : ByteBuffer.wrap(originalValue));
        letter.put("dead_lettered_at", deadLetteredAt.toEpochMilli());
        return ConfluentAvro.encode(schemaId, schema, letter);
    }
}
