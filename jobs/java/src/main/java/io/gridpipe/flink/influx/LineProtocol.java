package io.gridpipe.flink.influx;

import java.util.Locale;
import java.util.Map;

/**
 * InfluxDB line protocol for one point: {@code measurement,tag=v field=1.5,n=3i,s="x" <millis>}.
 *
 * <p>Tags are written in key order so that the same alert always produces byte-identical lines; InfluxDB keys a point
 * by measurement, tag set and timestamp, so writing an alert twice leaves one point.
 */
public final class LineProtocol {
    private LineProtocol() {}

    /** One line, or {@code null} when there is no field to write (InfluxDB rejects a point without fields). */
    public static String line(String measurement, Map<String, String> tags, Map<String, Object> fields, long millis) {
        StringBuilder out = new StringBuilder(128);
        escape(out, measurement, ", ");
        tags.entrySet().stream()
                .filter(e -> e.getValue() != null && !e.getValue().isEmpty())
                .sorted(Map.Entry.comparingByKey())
                .forEach(e -> {
                    out.append(',');
                    escape(out, e.getKey(), ",= ");
                    out.append('=');
                    escape(out, e.getValue(), ",= ");
                });
        char separator = ' ';
        int written = 0;
        for (Map.Entry<String, Object> field : fields.entrySet()) {
            String value = fieldValue(field.getValue());
            if (value == null) {
                continue;
            }
            out.append(separator);
            escape(out, field.getKey(), ",= ");
            out.append('=').append(value);
            separator = ',';
            written++;
        }
        if (written == 0) {
            return null;
        }
        return out.append(' ').append(millis).toString();
    }

    static String fieldValue(Object value) {
        if (value == null) {
            return null;
        }
        if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            return Double.isFinite(d) ? String.format(Locale.ROOT, "%s", d) : null;
        }
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return value + "i";
        }
        if (value instanceof Boolean) {
            return value.toString();
        }
        String text = value.toString();
        StringBuilder quoted = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                quoted.append('\\');
            }
            quoted.append(c == '\n' ? ' ' : c);
        }
        return quoted.append('"').toString();
    }

    private static void escape(StringBuilder out, String text, String special) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\n' || c == '\r' || c == '\t') {
                c = ' ';
            }
            if (special.indexOf(c) >= 0 || c == '\\') {
                out.append('\\');
            }
            out.append(c);
        }
    }
}
