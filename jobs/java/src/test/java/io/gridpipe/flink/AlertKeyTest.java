package io.gridpipe.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.flink.table.functions.FunctionContext;
import org.junit.jupiter.api.Test;

class AlertKeyTest {
    @Test
    void theKeyIsItsUtf8BytesWhateverIsMissing() {
        AlertKey key = new AlertKey();
        // Without a runtime context a function's metric group is Flink's unregistered one.
        key.open(new FunctionContext(null));
        Instant now = Instant.now();
        assertArrayEquals("MTR-ü".getBytes(StandardCharsets.UTF_8),
                key.eval("MTR-ü", "VOLTAGE_SURGE", "WARNING", now, now));
        assertArrayEquals("R-1".getBytes(StandardCharsets.UTF_8), key.eval("R-1", null, null, null, null));
        assertNull(key.eval(null, "fuel_leak", "high", now, null));
    }

    @Test
    void itIsNeverFoldedOrReusedByThePlanner() {
        assertFalse(new AlertKey().isDeterministic());
    }
}
