package io.gridpipe.flink;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/** {@code ENCODE_DEAD_LETTER(...)}: a DeadLetter record (docs/schemas.md) carrying the original bytes untouched. */
public class EncodeDeadLetter extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    private transient MetricGroup metrics;
    private transient Map<String, Counter> byReason;

    /** One counter per reason, shown in Prometheus as {@code flink_..._reason_deadLettered{reason=...}}. */
    @Override
    public void open(FunctionContext context) {
        metrics = context.getMetricGroup();
        byReason = new HashMap<>();
    }

    public @DataTypeHint("BYTES") byte[] eval(
            Integer schemaId, String schemaText, String pipeline, String reason, String errorClass,
            String errorMessage, String sourceTopic, Integer sourcePartition, Long sourceOffset,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant sourceTimestamp, byte[] originalKey, byte[] originalValue,
            @DataTypeHint("TIMESTAMP_LTZ(3)") Instant deadLetteredAt) {
        if (byReason != null) {
            byReason.computeIfAbsent(reason, r -> metrics.addGroup("reason", r).counter("deadLettered")).inc();
        }
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
