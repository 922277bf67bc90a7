package io.gridpipe.flink;

import java.time.Instant;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code ENCODE_ANOMALY(...)}: an AnomalyEvent in the Confluent wire format under the given registered schema.
 *
 * <p>The reading is embedded exactly as it arrived: its original bytes are decoded again here. Anomalies are rare, so
 * carrying the raw bytes is cheaper than carrying every field of every reading through the job.
 */
public class EncodeAnomalyEvent extends ScalarFunction {
    private static final long serialVersionUID = 1L;

    public @DataTypeHint("BYTES") byte[] eval(
            Integer schemaId, String schemaText, String registryUrl, String readingSchemaText,
            String alertId, String pipeline, String anomalyType, String severity, String field, Double observed,
            Double threshold, Double deviation, Double mean, Double stddev, Long samples, Long windowMs,
            byte[] rawReading, @DataTypeHint("TIMESTAMP_LTZ(3)") Instant detectedAt, String description) {
        Schema schema = ConfluentAvro.parse(schemaText);
        ConfluentAvro.Decoded reading = ConfluentAvro.decode(
                rawReading, ConfluentAvro.parse(readingSchemaText), SchemaRegistryClient.forUrl(registryUrl));
        if (reading.record() == null) {
            throw new IllegalStateException("a reading that decoded before no longer does: " + reading.rejection());
        }
        GenericRecord event = new GenericData.Record(schema);
        event.put("alert_id", alertId);
        event.put("pipeline", pipeline);
        event.put("anomaly_type", new GenericData.EnumSymbol(schema.getField("anomaly_type").schema(), anomalyType));
        event.put("severity", new GenericData.EnumSymbol(schema.getField("severity").schema(), severity));
        event.put("field", field);
        event.put("observed_value", observed);
        event.put("threshold_used", threshold);
        event.put("deviation", deviation);
        if (mean != null) {
            Schema windowSchema = schema.getField("window").schema().getTypes().get(1);
            GenericRecord window = new GenericData.Record(windowSchema);
            window.put("mean", mean);
            window.put("stddev", stddev);
            window.put("count", samples);
            window.put("length_ms", windowMs);
            event.put("window", window);
        } else {
            event.put("window", null);
        }
        event.put("original_event", reading.record());
        event.put("detected_at", detectedAt.toEpochMilli());
        event.put("description", description == null ? "" : description);
        return ConfluentAvro.encode(schemaId, schema, event);
    }
}
