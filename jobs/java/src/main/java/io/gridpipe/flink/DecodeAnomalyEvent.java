package io.gridpipe.flink;

import java.time.Instant;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code DECODE_ANOMALY(value, registry_url, reader_schema)}: an AnomalyEvent in the Confluent wire format (what
 * {@link EncodeAnomalyEvent} wrote to the anomalies topic) as the archive's anomaly columns, or the reason it cannot
 * be decoded.
 *
 * <p>As {@link DecodeSensorReading}: every row has {@code reason}, null for a good event; nothing is thrown. The meter
 * and the event time come from the embedded reading; the window statistics are null for an alert without a window
 * (an equipment failure).
 */
public class DecodeAnomalyEvent extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    public static final String RESULT = "ROW<reason STRING, error_class STRING, error_message STRING,"
            + " alert_id STRING, pipeline STRING, meter_id STRING, event_time TIMESTAMP_LTZ(3), anomaly_type STRING,"
            + " severity STRING, field STRING, observed_value DOUBLE, threshold_sigma DOUBLE, deviation_sigma DOUBLE,"
            + " window_mean DOUBLE, window_stddev DOUBLE, window_count BIGINT, window_length_ms BIGINT,"
            + " description STRING>";

    /** Non-deterministic for the reason {@link DecodeSensorReading#isDeterministic} gives: decode once per record. */
    @Override
    public boolean isDeterministic() {
        return false;
    }

    public @DataTypeHint(value = RESULT, bridgedTo = RowData.class) RowData eval(
            byte[] value, String registryUrl, String readerSchema) {
        Schema reader = ConfluentAvro.parse(readerSchema);
        ConfluentAvro.Decoded decoded = ConfluentAvro.decode(value, reader, SchemaRegistryClient.forUrl(registryUrl));
        if (decoded.rejection() != null) {
            return rejected(decoded.rejection());
        }
        GenericRecord event = decoded.record();
        GenericRecord reading = (GenericRecord) event.get("original_event");
        GenericRecord window = (GenericRecord) event.get("window");
        Object time = reading.get("timestamp");
        long eventTime = time instanceof Instant i ? i.toEpochMilli() : (Long) time;
        return GenericRowData.of(null, null, null,
                text(event.get("alert_id")), text(event.get("pipeline")), text(reading.get("meter_id")),
                TimestampData.fromEpochMillis(eventTime), text(event.get("anomaly_type")),
                text(event.get("severity")), text(event.get("field")), event.get("observed_value"),
                event.get("threshold_used"), event.get("deviation"),
                window == null ? null : window.get("mean"), window == null ? null : window.get("stddev"),
                window == null ? null : window.get("count"), window == null ? null : window.get("length_ms"),
                text(event.get("description")));
    }

    private static StringData text(Object value) {
        return value == null ? null : StringData.fromString(value.toString());
    }

    private static RowData rejected(Rejection rejection) {
        GenericRowData row = new GenericRowData(18);
        row.setField(0, StringData.fromString(rejection.reason()));
        row.setField(1, StringData.fromString(rejection.errorClass()));
        row.setField(2, StringData.fromString(rejection.message()));
        return row;
    }
}
