package io.gridpipe.flink;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

/**
 * {@code DECODE_TELEMETRY(value)}: a rocket TelemetryMessage (JSON), checked against its contract, or the reason it
 * is not one. Non-finite numbers (NaN, Infinity), which some senders write though JSON forbids them, are read so they
 * can be named as such rather than as broken JSON.
 */
public class DecodeTelemetry extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    static final String[] NUMBERS = {"missionTime", "engineEfficiency", "burnRate", "sensorNoise", "guidanceError",
        "fuelLeakRate", "engineTemp", "thrust"};
    static final String[] OPTIONAL_NUMBERS = {"altitude", "velocity", "fuelRemaining"};
    public static final String RESULT = "ROW<reason STRING, error_class STRING, error_message STRING,"
            + " rocketId STRING, `timestamp` STRING, missionTime DOUBLE, engineEfficiency DOUBLE, burnRate DOUBLE,"
            + " sensorNoise DOUBLE, guidanceError DOUBLE, fuelLeakRate DOUBLE, engineTemp DOUBLE, thrust DOUBLE,"
            + " activeAnomalies INT, altitude DOUBLE, velocity DOUBLE, fuelRemaining DOUBLE, stage INT>";
    private static final int WIDTH = 18;
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    /**
     * Declared non-deterministic so the planner decodes each record once: for a deterministic function it inlines
     * the call into every field access ({@code r.meter_id}, {@code r.voltage}, ...), decoding a record ten times.
     */
    @Override
    public boolean isDeterministic() {
        return false;
    }


    public @DataTypeHint(RESULT) Row eval(byte[] value) {
        JsonNode root;
        try {
            root = JSON.readTree(value == null ? new byte[0] : value);
        } catch (JsonProcessingException e) {
            return rejected(Rejection.of(Rejection.INVALID_JSON, e.getOriginalMessage()));
        } catch (IOException e) {
            return rejected(Rejection.of(Rejection.INVALID_JSON, e));
        }
        if (root == null || !root.isObject()) {
            return rejected(Rejection.of(Rejection.INVALID_JSON, "expected a JSON object"));
        }
        Row row = Row.withPositions(WIDTH);
        Rejection problem = text(root, "rocketId", row, 3);
        problem = problem != null ? problem : text(root, "timestamp", row, 4);
        for (int i = 0; problem == null && i < NUMBERS.length; i++) {
            problem = number(root, NUMBERS[i], true, row, 5 + i);
        }
        if (problem == null) {
            problem = integer(root, "activeAnomalies", true, row, 13);
        }
        for (int i = 0; problem == null && i < OPTIONAL_NUMBERS.length; i++) {
            problem = number(root, OPTIONAL_NUMBERS[i], false, row, 14 + i);
        }
        if (problem == null) {
            problem = integer(root, "stage", false, row, 17);
        }
        return problem != null ? rejected(problem) : row;
    }

    private static Rejection text(JsonNode root, String name, Row row, int position) {
        JsonNode node = root.get(name);
        if (node == null || node.isNull()) {
            return Rejection.of(Rejection.MISSING_REQUIRED_FIELD, name + " is missing");
        }
        if (!node.isTextual() || node.asText().isEmpty()) {
            return Rejection.of(Rejection.SCHEMA_VIOLATION, name + " must be a non-empty string, got " + node);
        }
        row.setField(position, node.asText());
        return null;
    }

    private static Rejection number(JsonNode root, String name, boolean required, Row row, int position) {
        JsonNode node = root.get(name);
        if (node == null || node.isNull()) {
            return required ? Rejection.of(Rejection.MISSING_REQUIRED_FIELD, name + " is missing") : null;
        }
        if (!node.isNumber()) {
            return Rejection.of(Rejection.SCHEMA_VIOLATION, name + " must be a number, got " + node);
        }
        double x = node.asDouble();
        if (!Double.isFinite(x)) {
            return Rejection.of(Rejection.NON_FINITE_NUMBER, name + " is " + x);
        }
        row.setField(position, x);
        return null;
    }

    private static Rejection integer(JsonNode root, String name, boolean required, Row row, int position) {
        JsonNode node = root.get(name);
        if (node == null || node.isNull()) {
            return required ? Rejection.of(Rejection.MISSING_REQUIRED_FIELD, name + " is missing") : null;
        }
        if (!node.canConvertToInt() || !node.isIntegralNumber()) {
            return Rejection.of(Rejection.SCHEMA_VIOLATION, name + " must be an integer, got " + node);
        }
        row.setField(position, node.asInt());
        return null;
    }

    private Row rejected(Rejection rejection) {
        Row row = Row.withPositions(WIDTH);
        row.setField(0, rejection.reason());
        row.setField(1, rejection.errorClass());
        row.setField(2, rejection.message());
        return row;
    }
}
