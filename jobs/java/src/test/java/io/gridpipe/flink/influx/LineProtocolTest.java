package io.gridpipe.flink.influx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LineProtocolTest {
    @Test
    void tagsSortedFieldsTypedTimeInMillis() {
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("severity", "HIGH");
        tags.put("anomaly_type", "VOLTAGE_SURGE");
        tags.put("sensor_id", "MTR-000042");
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("value", 262.5);
        fields.put("window_samples", 31L);
        fields.put("alert_id", "grid:abc");
        fields.put("deviation", null);
        assertEquals(
                "grid_anomaly,anomaly_type=VOLTAGE_SURGE,sensor_id=MTR-000042,severity=HIGH"
                        + " value=262.5,window_samples=31i,alert_id=\"grid:abc\" 1700000000123",
                LineProtocol.line("grid_anomaly", tags, fields, 1_700_000_000_123L));
    }

    @Test
    void escapesSpecialCharacters() {
        Map<String, String> tags = Map.of("sensor id", "a,b=c d");
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("description", "say \"hi\" \\ now");
        assertEquals(
                "my\\ measure\\,ment,sensor\\ id=a\\,b\\=c\\ d description=\"say \\\"hi\\\" \\\\ now\" 5",
                LineProtocol.line("my measure,ment", tags, fields, 5));
    }

    @Test
    void emptyTagsAndNonFiniteFieldsAreLeftOut() {
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("severity", "");
        tags.put("sensor_id", null);
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("value", Double.NaN);
        fields.put("ok", true);
        assertEquals("m ok=true 1", LineProtocol.line("m", tags, fields, 1));
    }

    @Test
    void pointWithoutFieldsIsNull() {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("value", null);
        assertNull(LineProtocol.line("m", Map.of("t", "x"), fields, 1));
    }

    @Test
    void sameInputSameLine() {
        Map<String, Object> fields = Map.of("value", 1.0);
        Map<String, String> one = new LinkedHashMap<>();
        one.put("b", "2");
        one.put("a", "1");
        Map<String, String> two = new LinkedHashMap<>();
        two.put("a", "1");
        two.put("b", "2");
        assertEquals(LineProtocol.line("m", one, fields, 9), LineProtocol.line("m", two, fields, 9));
    }
}
