package io.gridpipe.flink.influx;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

/** Which column of the sink table becomes the time, a tag or a field of the point. */
public final class PointMapping implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Set<LogicalTypeRoot> TIMES = Set.of(
            LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE, LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE);

    /** A pending point: the line to write and the key to dead-letter it under. */
    public record Point(byte[] key, String line) implements Serializable {}

    private final String measurement;
    private final List<String> names;
    private final List<LogicalType> types;
    private final Set<String> tags;
    private final String time;
    private final String key;
    private transient List<RowData.FieldGetter> getters;

    public PointMapping(
            String measurement, List<String> names, List<LogicalType> types, Set<String> tags, String time,
            String key) {
        for (String column : concat(tags, Set.of(time), key == null ? Set.of() : Set.of(key))) {
            if (!names.contains(column)) {
                throw new IllegalArgumentException(
                        "the InfluxDB sink names column '" + column + "' but the table has only " + names);
            }
        }
        if (!TIMES.contains(types.get(names.indexOf(time)).getTypeRoot())) {
            throw new IllegalArgumentException("the InfluxDB time column '" + time + "' must be a TIMESTAMP");
        }
        this.measurement = measurement;
        this.names = List.copyOf(names);
        this.types = List.copyOf(types);
        this.tags = Set.copyOf(tags);
        this.time = time;
        this.key = key;
    }

    private static List<String> concat(Set<String> a, Set<String> b, Set<String> c) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        all.addAll(c);
        return all;
    }

    /** The row as a point, or {@code null} when it has no time or no field. The row itself is not kept. */
    public Point toPoint(RowData row) {
        if (getters == null) {
            getters = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                getters.add(RowData.createFieldGetter(types.get(i), i));
            }
        }
        Map<String, String> tagValues = new LinkedHashMap<>();
        Map<String, Object> fields = new LinkedHashMap<>();
        long millis = -1;
        byte[] keyBytes = null;
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            Object value = getters.get(i).getFieldOrNull(row);
            if (name.equals(time)) {
                if (value == null) {
                    return null;
                }
                millis = ((TimestampData) value).getMillisecond();
            } else if (tags.contains(name)) {
                tagValues.put(name, value == null ? null : value.toString());
            } else {
                fields.put(name, external(value));
            }
            if (name.equals(key) && value != null) {
                keyBytes = value.toString().getBytes(StandardCharsets.UTF_8);
            }
        }
        String line = LineProtocol.line(measurement, tagValues, fields, millis);
        return line == null ? null : new Point(keyBytes, line);
    }

    private static Object external(Object value) {
        if (value == null || value instanceof Number || value instanceof Boolean) {
            return value;
        }
        return value.toString(); // StringData and anything else written as a string field
    }
}
