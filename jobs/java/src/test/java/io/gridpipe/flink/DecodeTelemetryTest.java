package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

class DecodeTelemetryTest {
    private static final String GOOD = "{\"rocketId\":\"Falcon-9-001\",\"timestamp\":\"2025-01-10T14:30:00.000Z\","
            + "\"missionTime\":45.2,\"engineEfficiency\":92.5,\"burnRate\":2480.0,\"sensorNoise\":0.4,"
            + "\"guidanceError\":0.3,\"fuelLeakRate\":0.0,\"engineTemp\":3150.0,\"thrust\":7607.0,"
            + "\"activeAnomalies\":0,\"stage\":1}";
    private final DecodeTelemetry decode = new DecodeTelemetry();

    private Row run(String json) {
        return decode.eval(json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aGoodMessageDecodes() {
        Row row = run(GOOD);
        assertNull(row.getField(0));
        assertEquals("Falcon-9-001", row.getField(3));
        assertEquals(3150.0, row.getField(11));
        assertEquals(0, row.getField(13));
        assertNull(row.getField(14));
        assertEquals(1, row.getField(17));
    }

    @Test
    void eachMalformedKindGetsItsReason() {
        assertEquals(Rejection.INVALID_JSON, run(GOOD.substring(0, 40)).getField(0));
        assertEquals(Rejection.INVALID_JSON, run("[1,2]").getField(0));
        assertEquals(Rejection.MISSING_REQUIRED_FIELD, run(GOOD.replace("\"thrust\":7607.0,", "")).getField(0));
        assertEquals(Rejection.NON_FINITE_NUMBER, run(GOOD.replace("3150.0", "NaN")).getField(0));
        assertEquals(Rejection.NON_FINITE_NUMBER, run(GOOD.replace("3150.0", "Infinity")).getField(0));
        assertEquals(Rejection.SCHEMA_VIOLATION, run(GOOD.replace("7607.0", "\"nominal\"")).getField(0));
        assertEquals(Rejection.SCHEMA_VIOLATION, run(GOOD.replace("\"activeAnomalies\":0", "\"activeAnomalies\":0.5"))
                .getField(0));
    }
}
