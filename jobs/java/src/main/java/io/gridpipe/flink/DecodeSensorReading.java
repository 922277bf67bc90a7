package io.gridpipe.flink;

import java.time.Instant;
import java.util.Arrays;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code DECODE_READING(value, registry_url, reader_schema)}: a SensorReading in the Confluent wire format, decoded
 * with its writer schema and resolved to the reader schema, or the reason it cannot be.
 *
 * <p>Every row has {@code reason}: null for a good reading, else a dead-letter reason with {@code error_class} and
 * {@code error_message}. Nothing is thrown for a bad record, so no record can stop the job. Rejections are counted
 * where they are written: {@link io.gridpipe.flink.deadletter.DeadLetterWriter}.
 *
 * <p>The row is built in Flink's internal data structures ({@code bridgedTo = RowData.class}): Avro's UTF-8 strings
 * become Flink's without a round trip through {@code java.lang.String}, and the planner does not convert the row
 * field by field, as it does an external {@code Row} (docs/performance.md).
 */
public class DecodeSensorReading extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    public static final String RESULT = "ROW<reason STRING, error_class STRING, error_message STRING, meter_id STRING,"
            + " event_time TIMESTAMP_LTZ(3), voltage DOUBLE, current DOUBLE, temperature DOUBLE, status STRING,"
            + " sequence BIGINT, frequency DOUBLE, power_factor DOUBLE, feeder_id STRING, firmware STRING>";
    private static final String[] MEASURED = {"voltage", "current", "temperature"};

    /**
     * Declared non-deterministic so the planner decodes each record once: for a deterministic function it inlines
     * the call into every field access ({@code r.meter_id}, {@code r.voltage}, ...), decoding a record ten times.
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }


    /** The last record decoded on this thread: the dead-letter and detection branches both ask for it. */
    private static final ThreadLocal<Object[]> LAST = ThreadLocal.withInitial(() -> new Object[2]);

    public @DataTypeHint(value = RESULT, bridgedTo = RowData.class) RowData eval(
            byte[] value, String registryUrl, String readerSchema) {
        Object[] last = LAST.get();
        if (last[0] != null && Arrays.equals((byte[]) last[0], value)) {
            return (RowData) last[1];
        }
        RowData decoded = decode(value, registryUrl, readerSchema);
        last[0] = value;
        last[1] = decoded;
        return decoded;
    }

    private RowData decode(byte[] value, String registryUrl, String readerSchema) {
        Schema reader = ConfluentAvro.parse(readerSchema);
        ConfluentAvro.Decoded decoded = ConfluentAvro.decode(value, reader, SchemaRegistryClient.forUrl(registryUrl));
        if (decoded.rejection() != null) {
            return rejected(decoded.rejection());
        }
        GenericRecord r = decoded.record();
        for (String field : MEASURED) {
            double x = (Double) r.get(field);
            if (!Double.isFinite(x)) {
                return rejected(Rejection.of(Rejection.NON_FINITE_NUMBER, field + " is " + x));
            }
        }
        Object meterId = r.get("meter_id");
        if (meterId instanceof Utf8 utf8 ? utf8.getByteLength() == 0 : meterId.toString().isEmpty()) {
            return rejected(Rejection.of(Rejection.SCHEMA_VIOLATION, "meter_id is empty"));
        }
        Object time = r.get("timestamp");
        long eventTime = time instanceof Instant i ? i.toEpochMilli() : (Long) time;
        return GenericRowData.of(null, null, null, text(meterId), TimestampData.fromEpochMillis(eventTime),
                r.get("voltage"), r.get("current"), r.get("temperature"), text(r.get("status")), r.get("sequence"),
                r.get("frequency"), r.get("power_factor"), text(r.get("feeder_id")), text(r.get("firmware")));
    }

    /** Avro text (a Utf8, or an enum symbol) as Flink's string, from its UTF-8 bytes when Avro has them. */
    private static StringData text(Object value) {
        if (value == null) {
            return null;
        }
        if (value instanceof Utf8 utf8) {
            return StringData.fromBytes(utf8.getBytes(), 0, utf8.getByteLength());
        }
        return StringData.fromString(value.toString());
    }

    private RowData rejected(Rejection rejection) {
        return GenericRowData.of(StringData.fromString(rejection.reason()),
                StringData.fromString(rejection.errorClass()), StringData.fromString(rejection.message()), null, null,
                null, null, null, null, null, null, null, null, null);
    }
}
